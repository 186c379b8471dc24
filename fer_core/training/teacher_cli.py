"""CLI: ``python -m fer_core.teacher --teacher RUN --data DATA --out T.teacher.npz``: a teacher's (a run's or an
ensemble run's) flip-TTA probabilities on the training rows a run would train on (the holdout split applied), for
distilling it on a machine without TensorFlow (``python -m fer_core.train --backend jax --teacher T.teacher.npz``)."""
from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fer_core.teacher", description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", required=True, help="run or ensemble run folder")
    ap.add_argument("--data", required=True, help="the dataset the student trains on")
    ap.add_argument("--out", required=True, help="output file, ending in .teacher.npz")
    ap.add_argument("--train-usage", default="Training")
    ap.add_argument("--val-usage", default="holdout", help="as the student's --val-usage (default holdout)")
    ap.add_argument("--tta", default="flip", choices=("none", "flip", "crops"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from .soft_targets import save_teacher_targets
    from .trainer import TrainConfig, load_train_val_test

    cfg = TrainConfig(data=args.data, arch="fer_vgg", out="", train_usage=args.train_usage, val_usage=args.val_usage)
    train_ds = load_train_val_test(cfg)[0]
    print(save_teacher_targets(args.teacher, train_ds, args.out, args.tta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
