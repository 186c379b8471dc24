"""``python -m fer_core.finish_run RUN --data DATA``: what a run trained off TensorFlow (JAX, PyTorch) still needs
for the app, done in a TensorFlow process: model.onnx and model.int8.onnx exported from its model.keras (int8
calibrated on training images) and metrics.json / confusion_matrix.csv measured on its test split (on its
validation split when it has none), with the run's own test-time augmentation."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .. import runs


def finish_run(run_dir: str | Path, data: str | None = None, test_usage: str | None = None) -> dict:
    """Export and evaluate ``run_dir`` (see the module docstring); returns the metrics written. ``data`` defaults to
    the dataset path config.json records; ``test_usage`` names a test split for a run trained without one (e.g. on a
    machine that was sent the training rows alone), recorded in config.json."""
    import dataclasses

    from ..inference.classifier import Classifier, load_classifier
    from .data import fer2013_training_copies
    from .evaluation import evaluate, write_evaluation
    from ..inference.onnx_backend import calibration_inputs
    from .trainer import TrainConfig, load_train_val_test, write_onnx

    run_dir = Path(run_dir)
    config = runs.read_json(run_dir / runs.CONFIG)
    hp = config.get("hyperparameters", {})
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(data=str(data or config["dataset"]["path"]), arch=config["architecture"], out=str(run_dir),
                      **{k: (tuple(v) if k == "classes" and v else v) for k, v in hp.items()
                         if k in fields and k not in ("data", "arch", "out")})
    if test_usage:
        cfg = dataclasses.replace(cfg, test_usage=test_usage)
        hp["test_usage"] = test_usage
    train_ds, val_ds, test_ds = load_train_val_test(cfg)
    if test_ds is not None:
        config["dataset"]["test"] = test_ds.describe()
    ref = load_classifier(run_dir, backend="keras")
    write_onnx(ref.model, run_dir, calibration_inputs(ref, train_ds.images))
    clf = Classifier(ref.model, ref.labels, name=run_dir.name, config=config, onnx_path=run_dir / runs.ONNX_MODEL)
    scored, usage = (test_ds, cfg.test_usage) if test_ds is not None else (val_ds, cfg.val_usage)
    metrics, cm = evaluate(clf, scored, tta=bool(hp.get("tta", True)),
                           copies=fer2013_training_copies(cfg.data, scored, usage))
    metrics["model_epoch"] = config.get("best_epoch")
    metrics["split"] = scored.split
    write_evaluation(run_dir, metrics, cm)
    config["finished"] = True
    runs.write_json(run_dir / runs.CONFIG, config)
    for leftover in ("checkpoint.npz", runs.STATE):
        (run_dir / leftover).unlink(missing_ok=True)
    return metrics


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fer_core.finish_run", description=__doc__.splitlines()[0])
    ap.add_argument("run", help="run folder with model.keras and config.json")
    ap.add_argument("--data", help="the dataset (default: the path config.json records)")
    ap.add_argument("--test-usage", help="the test split to report, for a run trained without one (e.g. PublicTest)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from .evaluation import format_table

    print(format_table(finish_run(args.run, args.data, args.test_usage)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
