"""CLI: ``python -m fer_core.train_clips --data ../shared/data/CK+48 --classes 5 --folds 5 --out models/runs/ID``.

Add ``--pretrain ../shared/data/fer2013/fer2013.csv.gz`` to pre-train the per-frame CNN on FER2013 first (how the
shipped ``ck_convlstm_5class`` run was made).

Subject-wise k-fold cross-validation of a clip architecture; prints each fold's accuracy and the mean +- std, and
writes one run folder (see ``fer_core.training.clip_training``).
"""
from __future__ import annotations

import argparse
import logging
import sys

from .clip_training import ClipTrainConfig, train_clips
from .architectures import get_spec, list_models


def build_parser() -> argparse.ArgumentParser:
    clip_archs = [n for n in list_models() if get_spec(n).recipe.get("kind") == "clip"]
    p = argparse.ArgumentParser(prog="python -m fer_core.train_clips", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder of class folders of S<subject>_<sequence>_<frame>.png frames")
    p.add_argument("--out", required=True, help="run folder to write (overwritten)")
    p.add_argument("--arch", default="ck_convlstm", choices=clip_archs)
    p.add_argument("--classes", default="5", help="5 (the article's), 7 (all CK+48 folders) or comma-separated names")
    p.add_argument("--folds", type=int, default=5, help="k of the subject-wise k-fold")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--label-smoothing", type=float)
    p.add_argument("--no-augment", action="store_true", help="train without flip/shift/rotation/zoom/brightness")
    p.add_argument("--class-weight", action="store_true", help="weight the loss by inverse class frequency")
    p.add_argument("--pretrain", help="FER2013 CSV: pre-train the per-frame CNN on its Training images first")
    p.add_argument("--pretrain-epochs", type=int)
    p.add_argument("--final-model", choices=("all", "none"), default="all",
                   help="all: ship a model retrained on every subject; none: ship the best fold's model")
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    cfg = ClipTrainConfig(data=args.data, out=args.out, arch=args.arch, classes=args.classes, folds=args.folds,
                          epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, label_smoothing=args.label_smoothing,
                          augment=not args.no_augment, class_weight=args.class_weight, final_model=args.final_model,
                          pretrain=args.pretrain, pretrain_epochs=args.pretrain_epochs, seed=args.seed)
    run_dir = train_clips(cfg, verbose=0)
    from .. import runs
    from .evaluation import format_table

    metrics = runs.read_json(run_dir / runs.METRICS)
    k = metrics["kfold"]
    print(format_table(metrics))
    print("fold accuracies: " + ", ".join(f"{a:.4f}" for a in k["fold_accuracies"]))
    print(f"{k['k']}-fold by subject: mean accuracy {k['mean']:.4f} +- {k['std']:.4f}")
    print(f"Run written to {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
