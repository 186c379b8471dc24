"""FER+ votes (Microsoft's re-annotation of FER2013 by 10 annotators) as 7-class label distributions, with a check
that the votes file lines up with the FER2013 CSV it is used with.

FER+ has 10 columns: our 7 emotions, plus contempt, unknown and NF (not a face). Contempt has no class of ours and
unknown/NF say nothing about the expression, so those votes are dropped; an image left with no vote has no FER+
distribution (``valid`` is False) and keeps its original label.

``python -m fer_core.ferplus --fer FER2013_CSV --ferplus fer2013new.csv`` prints the alignment check. When the two
files are in different row orders, ``--images DIR --out aligned.csv`` rebuilds the pairing from the FER+ images
(``DIR/FER2013Train/fer0000000.png`` ..., as FER+'s ``generate_training_data.py`` writes them, named by their row in
the original CSV): each FER2013 row is matched to the image that is the same picture up to a monotone change of
intensity (rank correlation of the pixels), and the votes are written in the FER2013 CSV's row order.
"""
from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .data import FER_SIDE, DatasetError, FaceDataset, load_fer2013
from ..labels import EMOTIONS

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

    def take(self, rows: np.ndarray) -> "FerPlusVotes":
        """The votes of these rows, in this order."""
        return FerPlusVotes(self.usage[rows], self.votes[rows], self.names[rows])

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


FERPLUS_IMAGE_FOLDERS = {"Training": "FER2013Train", "PublicTest": "FER2013Valid"}  # PrivateTest is never read
MIN_RANK_CORRELATION = 0.9  # same picture: ~0.98-1.0 here; different faces rarely pass 0.8


def _rank_signatures(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image, its pixels' mid-ranks standardised to zero mean and unit norm (so a dot product is Spearman's rho),
    and a mask of images with enough contrast to match (near-blank ones have no usable ranks)."""
    flat = images.reshape(len(images), -1)
    out = np.empty(flat.shape, np.float32)
    for i, row in enumerate(flat):
        counts = np.bincount(row, minlength=256)
        below = np.concatenate([[0], np.cumsum(counts)[:-1]])
        out[i] = (below + (counts + 1) / 2.0)[row]
    out -= out.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    usable = (flat.std(axis=1) >= 3) & (norms[:, 0] > 0)
    out /= np.maximum(norms, 1e-6)
    return out, usable


def match_images(queries: np.ndarray, references: np.ndarray, min_correlation: float = MIN_RANK_CORRELATION,
                 top_k: int = 5, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """For each query image, the index of the reference image that shows the same picture (-1 when none reaches
    ``min_correlation``), one query per reference (the best-correlated claim wins), and that correlation."""
    q, q_ok = _rank_signatures(queries)
    r, r_ok = _rank_signatures(references)
    r[~r_ok] = 0.0
    k = min(top_k, len(references))
    cand = np.zeros((len(q), k), np.int64)
    score = np.full((len(q), k), -1.0, np.float32)
    for start in range(0, len(q), chunk):
        s = q[start:start + chunk] @ r.T
        idx = np.argpartition(-s, k - 1, axis=1)[:, :k] if k < s.shape[1] else np.tile(np.arange(k), (len(s), 1))
        cand[start:start + chunk] = idx
        score[start:start + chunk] = np.take_along_axis(s, idx, axis=1)
    score[~q_ok] = -1.0
    match = np.full(len(q), -1, np.int64)
    best = np.full(len(q), np.nan, np.float32)
    taken = np.zeros(len(references), bool)
    for flat in np.argsort(-score, axis=None, kind="stable"):
        i, j = divmod(int(flat), k)
        if score[i, j] < min_correlation:
            break
        if match[i] < 0 and not taken[cand[i, j]]:
            match[i], best[i], taken[cand[i, j]] = cand[i, j], score[i, j], True
    return match, best


def _read_ferplus_images(root: Path, votes: FerPlusVotes, usage: str) -> tuple[np.ndarray, np.ndarray]:
    folder = root / FERPLUS_IMAGE_FOLDERS[usage]
    if not folder.is_dir():
        raise FileNotFoundError(f"FER+ image folder not found. Expected {folder} (FER+ generate_training_data.py "
                                f"layout). Received: images={str(root)!r}")
    rows, images = [], []
    for row, name in enumerate(votes.names):
        im = cv2.imread(str(folder / name), cv2.IMREAD_GRAYSCALE) if name else None
        if im is not None and im.shape == (FER_SIDE, FER_SIDE):
            rows.append(row)
            images.append(im)
    if not images:
        raise DatasetError(f"No {FER_SIDE}x{FER_SIDE} FER+ images named in the votes file were found in {folder}")
    return np.asarray(rows, np.int64), np.stack(images)


def align_votes(dataset: FaceDataset, votes: FerPlusVotes, images_root: str | Path, usage: str
                ) -> tuple[FerPlusVotes, dict]:
    """FER+ votes re-ordered to follow ``dataset``'s rows (one ``usage``), by matching its images with the FER+
    images; rows without a match get no name and no votes (they keep their original label in training)."""
    if usage not in FERPLUS_IMAGE_FOLDERS:
        raise ValueError(f"usage must be one of {sorted(FERPLUS_IMAGE_FOLDERS)}. Received: usage={usage!r}")
    ref_rows, ref_images = _read_ferplus_images(Path(images_root), votes, usage)
    match, corr = match_images(dataset.images, ref_images)
    ok = match >= 0
    src = ref_rows[match[ok]]
    out = FerPlusVotes(np.full(len(dataset), usage), np.zeros((len(dataset), len(FERPLUS_COLUMNS)), np.int64),
                       np.full(len(dataset), "", dtype=votes.names.dtype))
    out.votes[ok] = votes.votes[src]
    out.names[ok] = votes.names[src]
    report = {"usage": usage, "rows": len(dataset), "ferplus_images": len(ref_rows), "matched": int(ok.sum()),
              "median_correlation": float(np.nanmedian(corr)) if ok.any() else None,
              "min_correlation": float(np.nanmin(corr)) if ok.any() else None}
    return out, report


def write_ferplus(path: str | Path, parts: list[FerPlusVotes]) -> Path:
    """Write votes in ``fer2013new.csv``'s format, the parts one after another."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Usage", "Image name", *FERPLUS_COLUMNS])
        for part in parts:
            for u, n, v in zip(part.usage, part.names, part.votes):
                w.writerow([u, n, *map(int, v)])
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fer_core.ferplus", description=__doc__.splitlines()[0])
    p.add_argument("--fer", required=True, help="FER2013 CSV (.csv/.csv.gz)")
    p.add_argument("--ferplus", required=True, help="FER+ fer2013new.csv")
    p.add_argument("--images", help="FER+ image folder (FER2013Train/, FER2013Valid/): re-pair the votes by image")
    p.add_argument("--out", help="with --images: where to write the votes in the FER2013 CSV's row order")
    args = p.parse_args(argv)
    if bool(args.images) != bool(args.out):
        p.error("--images and --out go together")
    if args.images:
        parts = []
        for usage in ("Training", "PublicTest"):
            aligned, r = align_votes(load_fer2013(args.fer, usage), load_ferplus(args.ferplus, usage), args.images, usage)
            parts.append(aligned)
            print(f"{usage}: matched {r['matched']} of {r['rows']} rows to {r['ferplus_images']} FER+ images "
                  f"(rank correlation median {r['median_correlation']}, min {r['min_correlation']})")
        print(f"written {write_ferplus(args.out, parts)}")
        args.ferplus = args.out
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
