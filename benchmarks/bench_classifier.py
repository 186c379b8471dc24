"""Per-face inference time of a classifier, batched, on ONE CPU thread (the issue's bar: <= 3 ms per face).

Usage: python benchmarks/bench_classifier.py [--model RUN_OR_FILE] [--batch 64] [--repeats 20] [--threads 1]
       [--tta none flip crops] [--backend auto|onnx|keras]

``--threads`` caps both TensorFlow's and ONNX Runtime's threads; the backend line says which one ran.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fer_core.inference.onnx_backend import BACKENDS  # noqa: E402  (numpy only: TensorFlow loads after the thread caps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default=None)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tta", nargs="+", default=["none", "flip", "crops"], help="test-time augmentation modes to time")
    ap.add_argument("--backend", default="auto", choices=BACKENDS)
    args = ap.parse_args()
    os.environ["FER_ONNX_THREADS"] = str(args.threads)

    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from fer_core import load_classifier

    clf = load_classifier(args.model, backend=args.backend)
    faces = np.random.default_rng(0).integers(0, 255, (args.batch, 64, 64), dtype=np.uint8)
    print(f"model={clf.name} params={clf.n_params} backend={clf.backend} threads={args.threads} batch={args.batch}")
    for tta in args.tta:
        clf.predict_proba(faces, tta=tta)  # warm-up (trace)
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            clf.predict_proba(faces, tta=tta)
            times.append((time.perf_counter() - t) / args.batch * 1000)
        print(f"tta={tta:<5} per face: median {statistics.median(times):.3f} ms, "
              f"min {min(times):.3f} ms (incl. resize of 64x64 crops)")


if __name__ == "__main__":
    main()
