"""CLI: ``python -m fer_core.export_onnx RUN [RUN ...] [--int8 --calib-data CSV_OR_FOLDER]``: write each run's
model.onnx from its model.keras unless the one there already matches it (and with ``--int8`` its model.int8.onnx,
calibrated on training images), and check that ONNX Runtime then runs them (the same probabilities as Keras on a
probe batch, within each file's tolerance)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .. import runs


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m fer_core.export_onnx", description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run folders holding model.keras")
    ap.add_argument("--int8", action="store_true", help="also write model.int8.onnx (needs --calib-data)")
    ap.add_argument("--calib-data", help="images to calibrate int8 on: FER2013 CSV or a folder of class folders "
                                         "(use training images, never the split you report on)")
    ap.add_argument("--calib-usage", default="Training", help="FER2013 rows to calibrate on (default Training)")
    ap.add_argument("--calib-n", type=int, default=512, help="calibration images (default 512)")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.int8 and not args.calib_data:
        ap.error("--int8 needs --calib-data (training images to calibrate the int8 ranges on)")
    from ..inference.classifier import Classifier, ModelLoadError, load_classifier
    from .data import DatasetError, load_dataset
    from ..inference.onnx_backend import OnnxExportError, calibration_inputs, export_onnx, quantize_int8

    failed, calib_images = 0, {}
    for run in map(Path, args.runs):
        t0 = time.perf_counter()
        try:
            ref = load_classifier(run, backend="keras")
            if ref.config.get("cascade") is not None:
                raise ModelLoadError(f"{run} is a cascade: it runs its members' own ONNX files one by one, so it has "
                                     f"no single network to export. Received: cascade={ref.config['cascade']}")
            fp32 = run / runs.ONNX_MODEL
            current = fp32.is_file() and Classifier(ref.model, ref.labels, onnx_path=fp32, backend="onnx").backend != "tensorflow"
            paths = [fp32 if current else export_onnx(ref.model, fp32)]
            if args.int8:
                side = ref.input_shape[0]
                if side not in calib_images:
                    calib_images[side] = load_dataset(args.calib_data, usage=args.calib_usage, size=side).images
                calib = calibration_inputs(ref, calib_images[side], n=args.calib_n)
                paths.append(quantize_int8(paths[0], run / runs.ONNX_INT8_MODEL, calib))
        except (ModelLoadError, OnnxExportError, runs.RunError, DatasetError, FileNotFoundError) as e:
            print(f"{run}: {e}", file=sys.stderr)
            failed += 1
            continue
        for path, backend, expected in zip(paths, ("onnx", "int8"), ("onnxruntime", "onnxruntime-int8")):
            clf = Classifier(ref.model, ref.labels, name=ref.name, config=ref.config, tta=ref.tta,
                             onnx_path=paths[0], backend=backend)
            if clf.backend != expected:
                print(f"{run}: {path} was written but ONNX Runtime does not run it (see the warning above)",
                      file=sys.stderr)
                failed += 1
                continue
            kept = " (kept: it already matched)" if path == fp32 and current else ""
            print(f"{path}: {path.stat().st_size / 1e6:.1f} MB{kept}, checked against model.keras, "
                  f"{time.perf_counter() - t0:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
