"""FER+ votes (Microsoft's re-annotation of FER2013 by 10 annotators) as 7-class label distributions, with a check
that the votes file lines up with the FER2013 CSV it is used with.

FER+ has 10 columns: our 7 emotions, plus contempt, unknown and NF (not a face). Contempt has no class of ours and
unknown/NF say nothing about the expression, so those votes are dropped; an image left with no vote has no FER+
distribution (``valid`` is False) and keeps its original label.

``python -m fer_core.ferplus --fer FER2013_CSV --ferplus fer2013new.csv`` prints the alignment check.
"""
from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import DatasetError, FaceDataset, load_fer2013
from .labels import EMOTIONS

FERPLUS_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
_TO_OURS = {"neutral": "neutral", "happiness": "happy", "surprise": "surprise", "sadness": "sad", "anger": "angry",
            "disgust": "disgust", "fear": "fear"}
MIN_AGREEMENT = 0.5  # FER+ majority vs original label; aligned files agree on ~2/3 or more, shuffled ones at chance


class FerPlusAlignmentError(DatasetError):
    """The FER+ votes do not line up with the FER2013 rows they are paired with; the message gives the evidence."""


@dataclass
class FerPlusVotes:
    usage: np.ndarray  # (N,) str, FER2013 Usage of each row
    votes: np.ndarray  # (N, 10) int, in FERPLUS_COLUMNS order
    names: np.ndarray  # (N,) str, FER+ image name ("" where FER+ dropped the image)

    def __len__(self) -> int:
        return len(self.votes)

    def distributions(self, labels: tuple[str, ...] = EMOTIONS) -> tuple[np.ndarray, np.ndarray]:
        """``(N, len(labels))`` vote shares over ``labels`` and a mask of rows with at least one such vote."""
        counts = np.zeros((len(self), len(labels)), np.float64)
        for j, col in enumerate(FERPLUS_COLUMNS):
            ours = _TO_OURS.get(col)
            if ours in labels:
                counts[:, labels.index(ours)] += self.votes[:, j]
        totals = counts.sum(axis=1)
        valid = totals > 0
        counts[valid] /= totals[valid, None]
        return counts.astype(np.float32), valid


def load_ferplus(path: str | Path, usage: str | None = None) -> FerPlusVotes:
    """Read ``fer2013new.csv`` (``Usage,Image name,<10 vote columns>``), optionally keeping one Usage."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"FER+ votes file not found. Received: path={str(path)!r}")
    usages, names, votes = [], [], []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        if header[:2] != ["Usage", "Image name"] or tuple(header[2:]) != FERPLUS_COLUMNS:
            raise DatasetError(f"{path}: expected the header Usage,Image name,{','.join(FERPLUS_COLUMNS)}. "
                               f"Received: header={header}")
        for row_no, row in enumerate(reader, start=2):
            if not row:
                continue
            if usage and row[0] != usage:
                continue
            try:
                v = [int(x) for x in row[2:]]
            except ValueError:
                raise DatasetError(f"{path}, row {row_no}: votes must be integers. Received: {row[2:]}") from None
            if len(v) != len(FERPLUS_COLUMNS) or min(v) < 0:
                raise DatasetError(f"{path}, row {row_no}: expected {len(FERPLUS_COLUMNS)} non-negative vote counts. "
                                   f"Received: {row[2:]}")
            usages.append(row[0])
            names.append(row[1].strip())
            votes.append(v)
    return FerPlusVotes(np.asarray(usages), np.asarray(votes, np.int64).reshape(-1, len(FERPLUS_COLUMNS)),
                        np.asarray(names))


def alignment_report(dataset: FaceDataset, votes: FerPlusVotes) -> dict:
    """How well the FER+ majority agrees with the dataset's labels, row for row, against chance (the agreement two
    unrelated orderings with the same class frequencies would give), and what FER+ says of the blank images."""
    if len(dataset) != len(votes):
        raise FerPlusAlignmentError(f"FER+ and FER2013 differ in length. Received: {len(votes)} vs {len(dataset)} rows")
    dist, valid = votes.distributions(dataset.label_names)
    majority = dist.argmax(axis=1)
    labels = dataset.labels
    agreement = float(np.mean(majority[valid] == labels[valid]))
    k = len(dataset.label_names)
    p_orig = np.bincount(labels[valid], minlength=k) / valid.sum()
    p_plus = np.bincount(majority[valid], minlength=k) / valid.sum()
    blank = np.flatnonzero(dataset.images.reshape(len(dataset), -1).std(axis=1) < 3)
    dropped = votes.names[blank] == ""
    return {"rows": len(dataset), "rows_with_votes": int(valid.sum()), "agreement": agreement,
            "chance_agreement": float(p_orig @ p_plus), "blank_images": int(len(blank)),
            "blank_images_dropped_by_ferplus": int(dropped.sum())}


def check_alignment(dataset: FaceDataset, votes: FerPlusVotes, min_agreement: float = MIN_AGREEMENT) -> dict:
    """The alignment report, or ``FerPlusAlignmentError`` when the files do not line up (agreement below
    ``min_agreement``): training on shuffled soft labels would be training on noise."""
    report = alignment_report(dataset, votes)
    if report["agreement"] < min_agreement:
        raise FerPlusAlignmentError(
            f"The FER+ votes do not line up with {dataset.source} ({dataset.split}): the FER+ majority agrees with the "
            f"original label on {100 * report['agreement']:.1f}% of rows, chance level is "
            f"{100 * report['chance_agreement']:.1f}%; expected at least {100 * min_agreement:.0f}%. "
            f"Of its {report['blank_images']} blank images FER+ dropped {report['blank_images_dropped_by_ferplus']} as not "
            f"faces. The two files are not in the same row order.")
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fer_core.ferplus", description=__doc__.splitlines()[0])
    p.add_argument("--fer", required=True, help="FER2013 CSV (.csv/.csv.gz)")
    p.add_argument("--ferplus", required=True, help="FER+ fer2013new.csv")
    args = p.parse_args(argv)
    ok = True
    for usage in ("Training", "PublicTest"):
        ds, votes = load_fer2013(args.fer, usage), load_ferplus(args.ferplus, usage)
        r = alignment_report(ds, votes)
        ok &= r["agreement"] >= MIN_AGREEMENT
        print(f"{usage}: {r['rows']} rows, FER+ majority = original label on {100 * r['agreement']:.1f}% "
              f"(chance {100 * r['chance_agreement']:.1f}%); blank images {r['blank_images']}, "
              f"of them dropped by FER+ {r['blank_images_dropped_by_ferplus']}")
    print("aligned" if ok else "NOT aligned: the rows of the two files do not correspond")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
