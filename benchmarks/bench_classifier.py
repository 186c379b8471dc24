"""Per-face inference time of a classifier, batched, on ONE CPU thread (the issue's bar: <= 3 ms per face).

Usage: python benchmarks/bench_classifier.py [--model RUN_OR_FILE] [--batch 64] [--repeats 20] [--threads 1]
       [--tta none flip crops] [--backend auto|onnx|keras] [--faces FER2013_CSV | --random-faces]

``--threads`` caps both TensorFlow's and ONNX Runtime's threads; the backend line says which one ran, the CPU line
whether it has 8-bit dot products (int8 runs about twice as fast with them). The faces are real: FER2013 PublicTest
rows (``--faces``, by default ``../shared/data/fer2013/fer2013.csv.gz`` beside the checkout), a new batch each
repeat, since a cascade ensemble's cost depends on how many faces its first member is unsure of (the share sent on is
printed); random pixels (``--random-faces``, or when no CSV is found) only time a plain model fairly.
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

DEFAULT_FACES = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "fer2013" / "fer2013.csv.gz"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default=None)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tta", nargs="+", default=["none", "flip", "crops"], help="test-time augmentation modes to time")
    ap.add_argument("--backend", default="auto", choices=BACKENDS)
    ap.add_argument("--faces", type=Path, default=DEFAULT_FACES, help="FER2013 CSV whose PublicTest rows are timed")
    ap.add_argument("--random-faces", action="store_true", help="time random 64x64 pixels instead of real faces")
    args = ap.parse_args()
    os.environ["FER_ONNX_THREADS"] = str(args.threads)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from fer_core import load_classifier
    from fer_core.device import cpu_features, cpu_text

    clf = load_classifier(args.model, backend=args.backend)
    batches, what = face_batches(args)
    print(f"model={clf.name} params={clf.n_params} backend={clf.backend} threads={args.threads} batch={args.batch}")
    print(f"{cpu_text()}; {cpu_features()}")
    print(f"faces: {what}")
    counts = getattr(clf, "cascade_counts", None)
    for tta in args.tta:
        clf.predict_proba(batches[0], tta=tta)  # warm-up (trace)
        if counts:
            counts.update(rows=0, escalated=0)
        times = []
        for i in range(args.repeats):
            faces = batches[i % len(batches)]
            t = time.perf_counter()
            clf.predict_proba(faces, tta=tta)
            times.append((time.perf_counter() - t) / len(faces) * 1000)
        sent = f"; cascade: {100 * counts['escalated'] / max(counts['rows'], 1):.0f}% of inputs sent on" if counts else ""
        print(f"tta={tta:<5} per face: median {statistics.median(times):.3f} ms, "
              f"min {min(times):.3f} ms (incl. resize of the crops{sent})")


def face_batches(args) -> tuple[list, str]:
    """``args.repeats`` batches of ``args.batch`` faces (cycled when the set is short) and what they are, in words."""
    if not args.random_faces and args.faces.is_file():
        from fer_core.training.data import load_fer2013

        images = load_fer2013(str(args.faces), usage="PublicTest").images
        n = len(images) // args.batch
        batches = [images[i * args.batch:(i + 1) * args.batch] for i in range(min(n, args.repeats))]
        return batches, f"{len(batches) * args.batch} FER2013 PublicTest rows from {args.faces}, 48x48"
    import numpy as np

    rng = np.random.default_rng(0)
    why = "--random-faces" if args.random_faces else f"no {args.faces}"
    return [rng.integers(0, 255, (args.batch, 64, 64), dtype=np.uint8)], f"random 64x64 pixels ({why})"


if __name__ == "__main__":
    main()
