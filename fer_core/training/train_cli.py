"""CLI: ``python -m fer_core.train --data CSV_OR_FOLDER --arch NAME --out models/runs/ID [...]``."""
from __future__ import annotations

import argparse
import logging
import sys

from .augmentation import AUGMENTATIONS
from ..labels import parse_label_list
from .architectures import list_models
from .trainer import TrainConfig, train


def parse_remap(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise argparse.ArgumentTypeError(f"--remap takes OLD=NEW. Received: {item!r}")
        old, new = item.split("=", 1)
        out[old] = new
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fer_core.train", description=__doc__)
    p.add_argument("--data", required=True, help="FER2013 CSV (.csv/.csv.gz) or a folder of class folders")
    p.add_argument("--arch", required=True, choices=list_models())
    p.add_argument("--out", required=True, help="run folder (resumed if it holds a checkpoint)")
    p.add_argument("--classes", help="comma-separated classes to keep, in output order, e.g. angry,happy,sad,surprise")
    p.add_argument("--remap", nargs="*", default=[], help="rename classes, OLD=NEW (several may merge)")
    p.add_argument("--train-usage", default="Training")
    p.add_argument("--val-usage", default="PublicTest", help="FER2013 Usage used to select the model and report")
    p.add_argument("--val-fraction", type=float, default=0.2, help="folder datasets: validation share")
    p.add_argument("--split-by-subject", action="store_true", help="folder datasets: keep each subject on one side")
    p.add_argument("--input-size", type=int, help="square input side (default: the architecture's)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--augment", choices=AUGMENTATIONS)
    p.add_argument("--optimizer", choices=("sgd", "adam", "adamw"))
    p.add_argument("--lr", type=float)
    p.add_argument("--schedule", choices=("cosine", "plateau", "constant"))
    p.add_argument("--warmup-epochs", type=int)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--label-smoothing", type=float)
    p.add_argument("--patience", type=int, help="early stopping after this many epochs without val_accuracy gain")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-tta", action="store_true", help="do not report/use flip test-time augmentation")
    p.add_argument("--init-from", help="start from the weights of this run folder (or .keras file): fine-tuning")
    p.add_argument("--max-train", type=int, help="use at most this many training images (quick trials)")
    p.add_argument("--ema", type=float, metavar="DECAY",
                   help="also keep an exponential moving average of the weights (decay per step, e.g. 0.999), "
                        "evaluated every epoch; the better of the two is selected")
    p.add_argument("--ferplus", metavar="VOTES_CSV",
                   help="FER+ votes in the --data CSV's row order (python -m fer_core.ferplus --images ... --out): "
                        "train on soft targets mixing them with the original labels")
    p.add_argument("--ferplus-weight", type=float, default=0.5, help="share of the FER+ votes in a target (0-1)")
    p.add_argument("--teacher", help="a run or ensemble run folder to distil: its flip-TTA predictions on the training "
                                     "images are mixed into the targets")
    p.add_argument("--teacher-weight", type=float, default=0.5, help="share of the teacher's output in a target (0-1)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    cfg = TrainConfig(
        data=args.data, arch=args.arch, out=args.out, classes=parse_label_list(args.classes), remap=parse_remap(args.remap),
        train_usage=args.train_usage, val_usage=args.val_usage, val_fraction=args.val_fraction,
        split_by_subject=args.split_by_subject, input_size=args.input_size, epochs=args.epochs, batch_size=args.batch_size,
        augment=args.augment, optimizer=args.optimizer, lr=args.lr, schedule=args.schedule, warmup_epochs=args.warmup_epochs,
        weight_decay=args.weight_decay, label_smoothing=args.label_smoothing, patience=args.patience, seed=args.seed,
        tta=not args.no_tta, max_train=args.max_train, init_from=args.init_from, ema=args.ema,
        ferplus=args.ferplus, ferplus_weight=args.ferplus_weight, teacher=args.teacher, teacher_weight=args.teacher_weight,
    )
    run_dir = train(cfg, verbose=1 if sys.stdout.isatty() else 2)
    from .. import runs
    from .evaluation import format_table

    print(format_table(runs.read_json(run_dir / runs.METRICS)))
    print(f"Run written to {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
