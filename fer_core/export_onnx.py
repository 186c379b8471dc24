"""CLI: ``python -m fer_core.export_onnx RUN [RUN ...]``: write each run's model.onnx from its model.keras and check
that ONNX Runtime then runs it (same probabilities as Keras on a probe batch)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import runs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fer_core.export_onnx", description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run folders holding model.keras")
    args = ap.parse_args(argv)
    from .classifier import Classifier, ModelLoadError, load_classifier
    from .onnx_backend import OnnxExportError, export_onnx

    failed = 0
    for run in map(Path, args.runs):
        t0 = time.perf_counter()
        try:
            ref = load_classifier(run, backend="keras")
            path = export_onnx(ref.model, run / runs.ONNX_MODEL)
            clf = Classifier(ref.model, ref.labels, name=ref.name, config=ref.config, tta=ref.tta, onnx_path=path,
                             backend="onnx")
        except (ModelLoadError, OnnxExportError, runs.RunError) as e:
            print(f"{run}: {e}", file=sys.stderr)
            failed += 1
            continue
        if clf.backend != "onnxruntime":
            print(f"{run}: {path} was written but ONNX Runtime does not run it (see the warning above)", file=sys.stderr)
            failed += 1
            continue
        print(f"{path}: {path.stat().st_size / 1e6:.1f} MB, checked against model.keras, {time.perf_counter() - t0:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
