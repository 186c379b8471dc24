"""CLI: ``python -m fer_core.evaluate --model RUN_OR_FILE --data CSV_OR_FOLDER [--usage PublicTest] [--tta none|flip|crops] [--backend auto|int8|onnx|keras] --out DIR [--keep-copies]``."""
from __future__ import annotations

import argparse
import logging
import sys

from ..inference.classifier import TTA_MODES, ModelLoadError, load_classifier
from .data import HOLDOUT, DatasetError, copies_of, fer2013_training_copies, load_dataset
from ..inference.onnx_backend import BACKENDS
from .evaluation import evaluate, format_table, write_evaluation


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fer_core.evaluate", description=__doc__)
    p.add_argument("--model", help="run folder or .keras file (default: the shipped model)")
    p.add_argument("--data", required=True, help="FER2013 CSV (.csv/.csv.gz) or a folder of class folders")
    p.add_argument("--usage", default=None,
                   help="FER2013 rows to use (Training, PublicTest, PrivateTest, or 'holdout': the fixed 10%% of "
                        "Training that training holds out to pick models); default all")
    p.add_argument("--tta", choices=TTA_MODES, default="none",
                   help="also report test-time augmentation: flip (crop + mirror image) or crops (flip x 5 shifted "
                        "views); metrics.json's \"tta\" entry records the mode")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="what runs the model (default $FER_BACKEND or auto); metrics.json records it")
    p.add_argument("--out", help="folder for metrics.json and confusion_matrix.csv")
    p.add_argument("--keep-copies", action="store_true",
                   help="skip the check for test rows that repeat a training image pixel for pixel (by default, "
                        "for PublicTest, PrivateTest and holdout rows, the figures are also reported without them, "
                        "in metrics.json's \"unseen\" entry)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        clf = load_classifier(args.model, tta=False, backend=args.backend)
        copies, compared_with = None, "Training"
        if args.usage == HOLDOUT:
            from .trainer import load_holdout_and_rest

            ds, rest = load_holdout_and_rest(args.data)
            if not args.keep_copies:
                copies, compared_with = copies_of(ds, rest), "Training outside the holdout"
        else:
            ds = load_dataset(args.data, usage=args.usage, size=clf.input_shape[0])
            if not args.keep_copies:
                copies = fer2013_training_copies(args.data, ds, args.usage)
    except (ModelLoadError, DatasetError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    metrics, cm = evaluate(clf, ds, tta=args.tta, copies=copies, compared_with=compared_with)
    metrics["model"] = args.model or "default"
    print(format_table(metrics))
    if args.out:
        print(f"Wrote {write_evaluation(args.out, metrics, cm)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
