"""``python -m fer_core.prune RUN --arch fer_vgg_wide_slim --data CSV --out FILE.keras``: a trained run's weights cut
to a narrower architecture of the registry (``pruning.prune_channels``), its BatchNorm statistics re-estimated on the
Training rows outside the holdout, saved as a ``.keras`` file that ``python -m fer_core.train --init-from FILE``
fine-tunes; prints the cut model's accuracy on the FER2013 holdout before and after recalibration."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fer_core.prune", description=__doc__)
    ap.add_argument("run", help="run folder with model.keras (e.g. models/runs/accel_wide_f2)")
    ap.add_argument("--arch", required=True, help="the narrower architecture, e.g. fer_vgg_wide_slim")
    ap.add_argument("--data", required=True, help="FER2013 CSV: Training rows outside the holdout recalibrate, the holdout scores")
    ap.add_argument("--out", required=True, type=Path, help="the .keras file to write")
    args = ap.parse_args(argv)
    if args.out.suffix != ".keras":
        ap.error(f"--out must end in .keras. Received: {args.out}")

    import numpy as np

    from ..inference.classifier import ModelLoadError, load_classifier
    from .. import runs
    from .architectures import create_model
    from .data import HOLDOUT
    from .evaluation import align_labels
    from .pruning import prune_channels, recalibrate_batchnorm
    from .trainer import TrainConfig, load_splits

    try:
        src = load_classifier(args.run, backend="keras")
    except (ModelLoadError, runs.RunError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    target = create_model(args.arch, len(src.labels), tuple(src.model.input_shape[1:]))
    try:
        prune_channels(src.model, target)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    # one read of the CSV: the Training rows outside the holdout recalibrate, the holdout scores
    train, holdout = load_splits(TrainConfig(data=args.data, arch=args.arch, out="", val_usage=HOLDOUT))
    x, y = src.preprocess(holdout.images), align_labels(holdout, tuple(src.labels))[1]

    def holdout_accuracy(model) -> float:
        return float(np.mean(model.predict(x, batch_size=256, verbose=0).argmax(1) == y))

    print(f"{args.run}: holdout {holdout_accuracy(src.model):.2%}; cut to {args.arch} "
          f"({target.count_params():,} parameters): {holdout_accuracy(target):.2%}")
    recalibrate_batchnorm(target, src.preprocess(train.images))
    print(f"after BatchNorm recalibration: {holdout_accuracy(target):.2%}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    target.save(args.out)
    print(f"Wrote {args.out}: fine-tune it with python -m fer_core.train --arch {args.arch} --init-from {args.out}")
    return 0
