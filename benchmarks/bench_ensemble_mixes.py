"""Which mix of runs makes the best ensemble? Every mix of one to ``--max-members`` runs, their softmax outputs
averaged without TTA (as the shipped ensembles run), scored on FER2013's holdout (the split that picks models), on
PublicTest (the test figure) and, with ``--photos``, on real photos through the app's photo path.

    python benchmarks/bench_ensemble_mixes.py --fer CSV --runs RUN RUN ... [--photos DIR ...] [--max-members 3]
        [--baseline RUN_ID+RUN_ID+...]

Each run is loaded once (int8 where it ships one) and predicts each set once; the mixes are then averages of those
outputs, so 4 runs cost 4 passes, not 14. Prints a markdown table, best holdout first: top-1 on each set, and
macro-F1 over the classes present on the photos. Pick on the holdout; the other columns check the pick. With
``--baseline`` (e.g. the current default's members), the best mix is compared with it face by face on each set: how
many faces only one of the two gets right, and McNemar's exact two-sided p for that split, so a gain of a few faces is
not read as more than it is.
"""
from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
from pathlib import Path
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

import bench_photo_pipeline as photo  # noqa: E402
from fer_core.inference.classifier import load_classifier  # noqa: E402
from fer_core.training.data import load_fer2013  # noqa: E402
from fer_core.training.evaluation import align_labels, confusion_matrix, metrics_from_confusion  # noqa: E402
from fer_core.training.trainer import load_holdout  # noqa: E402


def score_mixes(probs: dict[str, dict[str, np.ndarray]], truth: dict[str, np.ndarray], labels: list[str],
                max_members: int) -> list[dict]:
    """Accuracy and macro-F1 of every mix of 1..max_members runs on every set: ``probs[run][set]`` are (n, classes)."""
    rows = []
    runs = list(probs)
    for k in range(1, min(max_members, len(runs)) + 1):
        for mix in itertools.combinations(runs, k):
            row = {"mix": mix}
            for name, y in truth.items():
                pred = np.mean([probs[r][name] for r in mix], axis=0).argmax(1)
                m = metrics_from_confusion(confusion_matrix(y, pred, len(labels)), labels)
                row[name] = (m["accuracy"], m["macro_f1"])
            rows.append(row)
    first = next(iter(truth))
    return sorted(rows, key=lambda r: -r[first][0])


def with_threshold(first: np.ndarray, combined: np.ndarray, threshold: float | None) -> np.ndarray:
    """A cascade's outputs: ``first`` where its top probability reaches ``threshold``, ``combined`` elsewhere (no
    threshold: ``combined`` everywhere)."""
    if threshold is None:
        return combined
    return np.where((first.max(axis=1) < threshold)[:, None], combined, first)


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p: the chance of a split at least this uneven of the discordant faces if both models
    were equally good (a fair coin per face that exactly one of them gets right)."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def compare(probs: dict[str, dict[str, np.ndarray]], truth: dict[str, np.ndarray], mix: tuple[str, ...],
            baseline: tuple[str, ...]) -> dict[str, tuple[int, int, float]]:
    """Per set: (faces only ``mix`` gets right, faces only ``baseline`` gets right, McNemar's exact p)."""
    out = {}
    for name, y in truth.items():
        right = [np.mean([probs[r][name] for r in m], axis=0).argmax(1) == y for m in (mix, baseline)]
        only_a, only_b = int(np.sum(right[0] & ~right[1])), int(np.sum(right[1] & ~right[0]))
        out[name] = (only_a, only_b, mcnemar_exact(only_a, only_b))
    return out


def member_outputs(fer: str, runs: list[str], photos: list[Path],
                   each: Callable[[str, object, dict], None] | None = None) -> tuple[dict, dict, list[str]]:
    """Each run's softmax outputs, without TTA (int8 where it ships one), on the holdout, PublicTest and, with
    ``photos``, the real photos through the app's photo path: ``(probs[run][set], truth[set], labels)``. ``each(name,
    classifier, sets)`` is called once a run has predicted, while its classifier is loaded (e.g. to time it)."""
    hold = load_holdout(fer)
    test = load_fer2013(fer, usage="PublicTest")
    sets = {"holdout": list(hold.images), "PublicTest": list(test.images)}
    faces = []
    if photos:
        faces, _ = photo.load_faces(photos)
        sets["real photos"] = photo.crops_for(faces, photo.FACE_MARGIN, False, "run")

    probs, labels = {}, None
    for run in runs:
        clf = load_classifier(run, tta="none")
        if labels is not None and list(clf.labels) != labels:
            raise SystemExit(f"every run needs the same labels. Received: {run} has {list(clf.labels)}, not {labels}")
        labels = list(clf.labels)
        name = Path(run).name
        probs[name] = {s: clf.predict_proba(x, tta="none", photo=(s == "real photos")) for s, x in sets.items()}
        print(f"{name}: {clf.backend}", flush=True)
        if each is not None:
            each(name, clf, sets)
    truth = {"holdout": align_labels(hold, tuple(labels))[1], "PublicTest": align_labels(test, tuple(labels))[1]}
    if faces:
        truth["real photos"] = np.array([labels.index(f.label) for f in faces])
    return probs, truth, labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fer", required=True, help="FER2013 CSV: its holdout and PublicTest rows are scored")
    ap.add_argument("--runs", nargs="+", required=True, help="run folders (two or more)")
    ap.add_argument("--photos", nargs="*", default=[], type=Path, help="folders of <class>/<photo> (real photos)")
    ap.add_argument("--max-members", type=int, default=3)
    ap.add_argument("--baseline", help="a mix to compare the best one with, run ids joined by '+' (folder names)")
    args = ap.parse_args()
    if len(args.runs) < 2 or args.max_members < 1:
        ap.error(f"needs two or more runs and --max-members >= 1. Received: runs={args.runs}, "
                 f"max_members={args.max_members}")

    baseline = tuple(args.baseline.split("+")) if args.baseline else ()
    unknown = set(baseline) - {Path(r).name for r in args.runs}
    if unknown:
        ap.error(f"--baseline names runs that --runs does not hold. Received: {sorted(unknown)}")

    probs, truth, labels = member_outputs(args.fer, args.runs, args.photos)

    heads = [f"{s} (n={len(y)})" for s, y in truth.items()]
    print("\n| mix | " + " | ".join(heads) + " |\n|---|" + "---|" * len(heads))
    rows = score_mixes(probs, truth, labels, args.max_members)
    for row in rows:
        cells = [f"{100 * row[s][0]:.1f}%" + (f" / {row[s][1]:.3f}" if s == "real photos" else "") for s in truth]
        print(f"| {' + '.join(row['mix'])} | " + " | ".join(cells) + " |")
    if baseline and rows[0]["mix"] != baseline:
        print(f"\n{' + '.join(rows[0]['mix'])} (best holdout) against {' + '.join(baseline)}, face by face:")
        for name, (only_a, only_b, p) in compare(probs, truth, rows[0]["mix"], baseline).items():
            print(f"- {name}: {only_a} faces right only with the best mix, {only_b} only with the baseline; "
                  f"McNemar exact p = {p:.3g}")


if __name__ == "__main__":
    main()
