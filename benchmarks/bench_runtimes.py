"""One run's int8 net on ONNX Runtime (its shipped ``model.int8.onnx``) against TensorFlow Lite, which TensorFlow
already ships, converted to full int8 from its ``model.keras``: accuracy and top-1 agreement on FER2013 PublicTest,
then per-face time on one thread, batch 64, in rounds that alternate the runtimes (the VMs' speed drifts).

Why: on the AVX2 VMs without 8-bit dot products seen since session 20 the app's cascade takes over 3 ms; this checks
whether a runtime already installed runs the same net faster. Session 23: it does not (README). TensorFlow marks
``tf.lite.Interpreter`` deprecated in favour of LiteRT (``ai-edge-litert``): its 2.3.0 interpreter ran the same file at
the same speed as TensorFlow's (session 23, a scratch script), so this bench keeps to what TensorFlow ships.

    python benchmarks/bench_runtimes.py --run models/runs/accel_wide_f2 --fer ../shared/data/fer2013/fer2013.csv.gz
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

Forward = Callable[[np.ndarray], np.ndarray]
RUNTIMES = ("onnx", "tflite", "tflite-builtin")


def tflite_int8(model, calibration: np.ndarray, path: Path, batch: int = 16) -> Path:
    """Write ``model`` (Keras, softmax output) to ``path`` as full-int8 TFLite (int8 weights and activations, float
    input and output), activation ranges calibrated on ``calibration``: model inputs ``(N, H, W, C)`` float32."""
    import tensorflow as tf

    calibration = np.asarray(calibration, np.float32)
    if calibration.ndim != 4 or len(calibration) == 0:
        raise ValueError(f"calibration must be a non-empty (N, H, W, C) batch. Received: shape={calibration.shape}")

    def representative() -> Iterator[list[np.ndarray]]:
        for i in range(0, len(calibration), batch):
            yield [calibration[i:i + batch]]

    with tempfile.TemporaryDirectory() as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        path.write_bytes(converter.convert())
    return path


def tflite_forward(path: Path, batch: int, threads: int = 1, xnnpack: bool = True) -> Forward:
    """A forward function on TFLite's interpreter for batches of exactly ``batch`` rows; ``xnnpack=False`` runs
    TFLite's built-in kernels instead of its default XNNPACK delegate."""
    import tensorflow as tf

    resolver = tf.lite.experimental.OpResolverType
    interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=threads, experimental_op_resolver_type=(
        resolver.AUTO if xnnpack else resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.resize_tensor_input(inp["index"], [batch, *inp["shape"][1:]])
    interpreter.allocate_tensors()

    def forward(x: np.ndarray) -> np.ndarray:
        if len(x) != batch:
            raise ValueError(f"this interpreter was sized for batches of {batch} rows. Received: rows={len(x)}")
        interpreter.set_tensor(inp["index"], np.ascontiguousarray(x, np.float32))
        interpreter.invoke()
        return interpreter.get_tensor(out["index"]).copy()

    return forward


def predict_all(forward: Forward, x: np.ndarray, batch: int) -> np.ndarray:
    """``forward`` over ``x`` in batches of ``batch`` rows (``len(x)`` must be a multiple of it)."""
    if len(x) % batch:
        raise ValueError(f"rows must be a multiple of the batch ({batch}). Received: rows={len(x)}")
    return np.concatenate([forward(x[i:i + batch]) for i in range(0, len(x), batch)])


def alternate(forwards: dict[str, Forward], batches: list[np.ndarray], rounds: int,
              clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Per runtime, the median ms per face of each round; each round times every runtime on all ``batches`` in turn."""
    medians: dict[str, list[float]] = {name: [] for name in forwards}
    for _ in range(rounds):
        for name, forward in forwards.items():
            times = []
            for b in batches:
                t = clock()
                forward(b)
                times.append((clock() - t) / len(b) * 1000)
            medians[name].append(statistics.median(times))
    return medians


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True, help="a run folder with model.keras and model.int8.onnx")
    ap.add_argument("--fer", type=Path, required=True, help="FER2013 CSV: Training calibrates, PublicTest is timed")
    ap.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=RUNTIMES)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--batches", type=int, default=40, help="batches per runtime per round")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tflite", type=Path, default=None, help="where to keep the converted file (default: temporary)")
    args = ap.parse_args()
    os.environ["FER_ONNX_THREADS"] = str(args.threads)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from fer_core import load_classifier
    from fer_core.device import cpu_features, cpu_text
    from fer_core.inference.onnx_backend import calibration_inputs
    from fer_core.training.data import load_fer2013

    clf = load_classifier(str(args.run), backend="int8")
    if "onnx" in args.runtimes and clf.backend != "onnxruntime-int8":
        sys.exit(f"{args.run}: expected a model.int8.onnx that loads and matches model.keras (python -m "
                 f"fer_core.export_onnx --int8 {args.run}). Received: backend={clf.backend}")
    test = load_fer2013(str(args.fer), usage="PublicTest")
    n = len(test.images) // args.batch * args.batch
    x, y = clf.preprocess(test.images[:n]).astype(np.float32), np.asarray(test.labels[:n])
    print(f"run={args.run} threads={args.threads} batch={args.batch}; {cpu_text()}; {cpu_features()}")
    forwards: dict[str, Forward] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if "onnx" in args.runtimes:
            forwards["onnx"] = clf._forward  # the app's own int8 forward pass, after preprocessing
        if any(r.startswith("tflite") for r in args.runtimes):
            tfl = args.tflite or Path(tmp) / "model.int8.tflite"
            if not tfl.is_file():
                calibration = calibration_inputs(clf, load_fer2013(str(args.fer), usage="Training").images)
                t = time.perf_counter()
                tflite_int8(clf.model, calibration, tfl)
                print(f"converted to full-int8 TFLite in {time.perf_counter() - t:.1f} s: {tfl.stat().st_size} bytes")
            if "tflite" in args.runtimes:
                forwards["tflite"] = tflite_forward(tfl, args.batch, args.threads, xnnpack=True)
            if "tflite-builtin" in args.runtimes:
                forwards["tflite-builtin"] = tflite_forward(tfl, args.batch, args.threads, xnnpack=False)
        probs = {name: predict_all(f, x, args.batch) for name, f in forwards.items()}
        first = next(iter(probs))
        for name, p in probs.items():
            agree = np.mean(p.argmax(1) == probs[first].argmax(1))
            print(f"{name:<15} PublicTest {np.mean(p.argmax(1) == y):.2%} on {n} faces; top-1 agreement with {first} "
                  f"{agree:.2%}")
        batches = [x[(i * args.batch) % n:(i * args.batch) % n + args.batch] for i in range(args.batches)]
        for name, medians in alternate(forwards, batches, args.rounds).items():
            print(f"{name:<15} per face, median of each round: {', '.join(f'{m:.2f}' for m in medians)} ms")


if __name__ == "__main__":
    main()
