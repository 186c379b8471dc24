"""Do an ensemble's members combine better than by an equal average? Every weighting of the members on a grid
(weights summing to 1), as a weighted arithmetic mean of their softmax outputs and as a weighted geometric mean
(the average of log-probabilities, renormalised), picked on FER2013's holdout and checked on PublicTest and the real
photos, against the equal average that the shipped ensembles and cascades use.

    python benchmarks/bench_ensemble_weights.py --fer CSV --members RUN RUN ... [--threshold T] [--step 0.1]
        [--photos DIR ...] [--top 10]

With ``--threshold``, the first member answers alone where its top probability reaches T and the weighting applies
to the other faces only, as in a cascade (``bench_cascade.py``); the cost per face is then that cascade's whatever the
weights. Each member predicts each set once, so the grid costs no more passes. Prints the best ``--top`` weightings
by holdout, then the pick against the equal average face by face (McNemar's exact p), so that a gain of a few faces on
2,872 is not read as more than it is.
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from bench_ensemble_mixes import mcnemar_exact, member_outputs, with_threshold  # noqa: E402

COMBINATIONS = ("mean", "geometric")


def simplex_grid(n: int, step: float) -> list[tuple[float, ...]]:
    """Every weighting of ``n`` members in multiples of ``step`` that sums to 1 (weights of 0 drop a member)."""
    k = round(1 / step)
    if n < 1 or k < 1 or abs(k * step - 1) > 1e-9:
        raise ValueError(f"needs n >= 1 and a step that divides 1. Received: n={n}, step={step}")
    return [tuple(c / k for c in w) for w in itertools.product(range(k + 1), repeat=n) if sum(w) == k]


def combine(probs: list[np.ndarray], weights: tuple[float, ...], how: str) -> np.ndarray:
    """The members' (n, classes) outputs combined with ``weights``: ``mean`` (arithmetic) or ``geometric``."""
    if how not in COMBINATIONS or len(weights) != len(probs):
        raise ValueError(f"expected one of {COMBINATIONS} and one weight per member. Received: how={how!r}, "
                         f"{len(weights)} weights for {len(probs)} members")
    if how == "mean":
        return np.average(probs, axis=0, weights=weights)
    logs = np.average(np.log(np.clip(probs, 1e-8, 1.0)), axis=0, weights=weights)
    out = np.exp(logs - logs.max(axis=1, keepdims=True))
    return out / out.sum(axis=1, keepdims=True)


def score(probs: dict[str, list[np.ndarray]], truth: dict[str, np.ndarray], step: float,
          threshold: float | None) -> list[dict]:
    """Which faces each weighting and combination gets right on every set (``row["right"][set]``, booleans), best
    accuracy on the first set first; ties put the equal average, then the arithmetic mean, first. ``probs[set]``
    lists the members' outputs, the first member first."""
    n = len(next(iter(probs.values())))
    equal = tuple([1 / n] * n)
    rows = []
    for how in COMBINATIONS:
        for w in dict.fromkeys([equal, *simplex_grid(n, step)]):  # the equal split once, where the grid holds it too
            row = {"how": how, "weights": w, "right": {}}
            for s, y in truth.items():
                out = with_threshold(probs[s][0], combine(probs[s], w, how), threshold)
                row["right"][s] = out.argmax(axis=1) == y
            rows.append(row)
    first = next(iter(truth))
    return sorted(rows, key=lambda r: (-r["right"][first].mean(), r["weights"] != equal, r["how"] != "mean"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fer", required=True, help="FER2013 CSV: its holdout and PublicTest rows are scored")
    ap.add_argument("--members", nargs="+", required=True, help="run folders, the first one first in a cascade")
    ap.add_argument("--threshold", type=float, help="the cascade threshold (none: every face gets the combination)")
    ap.add_argument("--step", type=float, default=0.1, help="the grid's step between weights (it must divide 1)")
    ap.add_argument("--photos", nargs="*", default=[], type=Path, help="folders of <class>/<photo> (real photos)")
    ap.add_argument("--top", type=int, default=10, help="how many weightings to print")
    args = ap.parse_args()
    if len(args.members) < 2 or (args.threshold is not None and not 0 <= args.threshold <= 1):
        ap.error(f"needs two or more members and a threshold in [0, 1]. Received: members={args.members}, "
                 f"threshold={args.threshold}")
    try:
        simplex_grid(len(args.members), args.step)
    except ValueError as e:
        ap.error(str(e))

    outputs, truth, _ = member_outputs(args.fer, args.members, args.photos)
    probs = {s: [outputs[Path(m).name][s] for m in args.members] for s in truth}
    rows = score(probs, truth, args.step, args.threshold)
    names = [Path(m).name for m in args.members]
    n = len(names)
    equal = next(r for r in rows if r["how"] == "mean" and r["weights"] == tuple([1 / n] * n))

    setting = f"cascade threshold {args.threshold:g}" if args.threshold is not None else "every face combined"
    print(f"\nweights in the order {', '.join(names)}; {setting}; grid step {args.step:g}")
    heads = [f"{s} (n={len(y)})" for s, y in truth.items()]
    print("\n| combination | weights | " + " | ".join(heads) + " |\n|---|---|" + "---|" * len(heads))
    shown = rows[:args.top]
    for row in [*shown, *([] if any(r is equal for r in shown) else [equal])]:
        cells = [f"{100 * row['right'][s].mean():.1f}%" for s in truth]
        label = " (equal: as shipped)" if row is equal else ""
        print(f"| {row['how']}{label} | {' / '.join(f'{w:.2f}' for w in row['weights'])} | " + " | ".join(cells) + " |")

    best = rows[0]
    if best is equal:
        print("\npick: the equal average, as shipped")
        return
    print(f"\npick: {best['how']}, weights {' / '.join(f'{w:.2f}' for w in best['weights'])}, against the equal "
          "average, face by face:")
    for s in truth:
        a, b = best["right"][s], equal["right"][s]
        only_a, only_b = int(np.sum(a & ~b)), int(np.sum(b & ~a))
        print(f"- {s}: {only_a} faces right only with the pick, {only_b} only with the equal average; "
              f"McNemar exact p = {mcnemar_exact(only_a, only_b):.3g}")


if __name__ == "__main__":
    main()
