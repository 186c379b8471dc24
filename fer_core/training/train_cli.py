"""CLI: ``python -m fer_core.train --data CSV_OR_FOLDER --arch NAME --out models/runs/ID [...]``."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from ..labels import parse_label_list

BACKENDS = ("tensorflow", "jax", "torch")
PRECISIONS = ("float32", "bfloat16")  # trainer.dtype_policy maps each to a Keras dtype policy


def select_backend(argv: list[str]) -> str:
    """Set ``KERAS_BACKEND`` from ``--backend`` before Keras is imported (Keras reads it once, at import)."""
    backend = None
    for i, arg in enumerate(argv):
        if arg == "--backend" and i + 1 < len(argv):
            backend = argv[i + 1]
        elif arg.startswith("--backend="):
            backend = arg.split("=", 1)[1]
    if backend is None:
        return os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend not in BACKENDS:
        raise SystemExit(f"--backend must be one of {BACKENDS}. Received: backend={backend!r}")
    keras_mod = sys.modules.get("keras")
    if keras_mod is not None and keras_mod.backend.backend() != backend:
        raise SystemExit(f"Keras is already loaded with the {keras_mod.backend.backend()} backend in this process. "
                         f"Expected a fresh process for --backend. Received: backend={backend!r}")
    os.environ["KERAS_BACKEND"] = backend
    return backend


def parse_remap(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise argparse.ArgumentTypeError(f"--remap takes OLD=NEW. Received: {item!r}")
        old, new = item.split("=", 1)
        out[old] = new
    return out


def build_parser() -> argparse.ArgumentParser:
    from .augmentation import AUGMENTATIONS
    from .architectures import list_models

    p = argparse.ArgumentParser(prog="python -m fer_core.train", description=__doc__)
    p.add_argument("--data", required=True, help="FER2013 CSV (.csv/.csv.gz) or a folder of class folders")
    p.add_argument("--arch", required=True, choices=list_models())
    p.add_argument("--out", required=True, help="run folder (resumed if it holds a checkpoint)")
    p.add_argument("--classes", help="comma-separated classes to keep, in output order, e.g. angry,happy,sad,surprise")
    p.add_argument("--remap", nargs="*", default=[], help="rename classes, OLD=NEW (several may merge)")
    p.add_argument("--train-usage", default="Training")
    p.add_argument("--val-usage", default="holdout",
                   help="FER2013 split that picks the epoch and the model: 'holdout' (default: a fixed stratified 10%% "
                        "of --train-usage, the same rows for every run) or a Usage such as PublicTest")
    p.add_argument("--test-usage", default="PublicTest",
                   help="FER2013 Usage reported every epoch and at the end, never used to pick anything ('' for none)")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="Keras backend to train on (default: $KERAS_BACKEND, else tensorflow). jax and torch train "
                        "without tf.data, with the augmentation compiled into the training step; the .keras file "
                        "loads on TensorFlow, which then exports ONNX and evaluates (python -m fer_core.finish_run)")
    p.add_argument("--time-budget", type=float, metavar="SECONDS",
                   help="jax/torch: fit the schedule into this wall-clock time (the epoch count is set after the "
                        "warm-up epochs from their measured time)")
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
    p.add_argument("--mix", metavar="FOLDER",
                   help="a folder of class folders (e.g. CK+48) added to the training images only (classes the data "
                        "lacks are dropped; equalised like the data; with --ferplus they keep their own labels, having no "
                        "votes); validation and test stay as they are")
    p.add_argument("--precision", choices=PRECISIONS, default="float32",
                   help="bfloat16: Keras's mixed_bfloat16 policy (float32 weights, bfloat16 compute), faster on CPUs with "
                        "AVX-512 BF16 and on GPUs; a resume may switch it. The saved model is float32 either way")
    return p


def main(argv: list[str] | None = None) -> int:
    backend = select_backend(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    from .trainer import TrainConfig, train

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    cfg = TrainConfig(
        data=args.data, arch=args.arch, out=args.out, classes=parse_label_list(args.classes), remap=parse_remap(args.remap),
        train_usage=args.train_usage, val_usage=args.val_usage, test_usage=args.test_usage or None, val_fraction=args.val_fraction,
        split_by_subject=args.split_by_subject, input_size=args.input_size, epochs=args.epochs, batch_size=args.batch_size,
        augment=args.augment, optimizer=args.optimizer, lr=args.lr, schedule=args.schedule, warmup_epochs=args.warmup_epochs,
        weight_decay=args.weight_decay, label_smoothing=args.label_smoothing, patience=args.patience, seed=args.seed,
        tta=not args.no_tta, max_train=args.max_train, init_from=args.init_from, ema=args.ema,
        ferplus=args.ferplus, ferplus_weight=args.ferplus_weight, teacher=args.teacher, teacher_weight=args.teacher_weight,
        mix=args.mix, precision=args.precision,
    )
    verbose = 1 if sys.stdout.isatty() else 2
    if backend == "tensorflow":
        run_dir = train(cfg, verbose=verbose)
    else:
        from .portable import train_portable

        run_dir = train_portable(cfg, time_budget=args.time_budget, verbose=verbose)
    from .. import runs
    from .evaluation import format_table

    if (run_dir / runs.METRICS).exists():
        print(format_table(runs.read_json(run_dir / runs.METRICS)))
    print(f"Run written to {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
