"""Per-stage time of photo analysis (decode, detect, crop, classify, and analyze() end to end) for 1, 5 and 25 faces.

    python benchmarks/bench_analyze.py [--repeats 20] [--model RUN_OR_KERAS | --untrained] [--threads N]
                                       [--method haar|yunet] [--detector min_size=80,scale_factor=1.2]
                                       [--backend auto|onnx|keras]

Frames are built from scikit-image's astronaut portrait: one face in a 640x480 frame (the analyze() bar: median
<= 15 ms), 5 and 25 faces as a gallery grid of 384 px tiles. Times are wall-clock medians in ms; the CPU column
is analyze()'s process CPU time, which a busy machine inflates less than wall time.
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

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from fer_core.inference.analysis import analyze  # noqa: E402
from fer_core.inference.detection import list_detectors, make_detector  # noqa: E402
from fer_core.inference.preprocessing import crop_faces, decode_image  # noqa: E402
from fer_core.inference.onnx_backend import BACKENDS  # noqa: E402


def astronaut_bgr() -> np.ndarray:
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def make_frame(n_faces: int) -> np.ndarray:
    """1 face: the portrait letterboxed in 640x480; more: a grid of 384 px portrait tiles (blank cells grey)."""
    portrait = astronaut_bgr()
    if n_faces == 1:
        frame = np.full((480, 640, 3), 127, np.uint8)
        frame[:, 80:560] = cv2.resize(portrait, (480, 480), interpolation=cv2.INTER_AREA)
        return frame
    cols = int(np.ceil(np.sqrt(n_faces)))
    rows = int(np.ceil(n_faces / cols))
    tile = cv2.resize(portrait, (384, 384), interpolation=cv2.INTER_AREA)
    frame = np.full((rows * 384, cols * 384, 3), 127, np.uint8)
    for i in range(n_faces):
        r, c = divmod(i, cols)
        frame[r * 384:(r + 1) * 384, c * 384:(c + 1) * 384] = tile
    return frame


def timed(fn, repeats: int) -> tuple[float, float, object]:
    """Median wall ms, median CPU ms, last result (after one warm-up call)."""
    out = fn()
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(1000 * (time.perf_counter() - t0))
        cpus.append(1000 * (time.process_time() - c0))
    return statistics.median(walls), statistics.median(cpus), out


def load_model(args):
    if args.untrained:
        from fer_core.inference.classifier import Classifier
        from fer_core.labels import EMOTIONS
        from fer_core.training.architectures import create_model

        return Classifier(create_model("fer_vgg", len(EMOTIONS)), EMOTIONS, name="fer_vgg (untrained)")
    from fer_core.inference.classifier import load_classifier

    return load_classifier(args.model, backend=args.backend)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--model", default=None, help="run folder or .keras (default: the shipped model)")
    ap.add_argument("--untrained", action="store_true", help="time an untrained fer_vgg (same cost, no model file needed)")
    ap.add_argument("--threads", type=int, default=None, help="OpenCV threads (default: OpenCV's choice)")
    ap.add_argument("--faces", default="1,5,25")
    ap.add_argument("--backend", default="auto", choices=BACKENDS, help="classifier forward pass")
    ap.add_argument("--method", default=None, choices=list_detectors(), help="face detector (default: the default)")
    ap.add_argument("--detector", default="", help="detector settings, e.g. min_size=80,scale_factor=1.2")
    args = ap.parse_args()
    if args.threads:
        cv2.setNumThreads(args.threads)

    clf = load_model(args)
    settings = {}
    for item in filter(None, args.detector.split(",")):
        key, value = item.split("=")
        settings[key] = float(value) if "." in value else int(value) if value.isdigit() else value
    if isinstance(settings.get("cascades"), str):
        settings["cascades"] = tuple(settings["cascades"].split("+"))  # e.g. cascades=default+alt2
    det = make_detector(args.method, **settings)
    print(f"model {clf.name} ({clf.n_params:,} parameters, {clf.backend}, tta {clf.tta}), "
          f"detector {det}")
    print(f"{'faces':>5} {'frame':>9} {'found':>5} {'decode':>7} {'detect':>7} {'crop':>6} {'classify':>8} "
          f"{'analyze':>8} {'(cpu)':>7}")
    for n in (int(v) for v in args.faces.split(",")):
        frame = make_frame(n)
        jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
        t_dec, _, image = timed(lambda: decode_image(jpeg), args.repeats)
        t_det, _, boxes = timed(lambda: det.detect(image), args.repeats)
        t_crop, _, crops = timed(lambda: crop_faces(image, boxes), args.repeats)
        t_cls, _, _ = timed(lambda: clf.predict_proba(crops), args.repeats)
        t_all, c_all, results = timed(lambda: analyze(image, clf, det), args.repeats)
        h, w = frame.shape[:2]
        print(f"{n:>5} {w:>4}x{h:<4} {len(results):>5} {t_dec:>7.1f} {t_det:>7.1f} {t_crop:>6.2f} {t_cls:>8.1f} "
              f"{t_all:>8.1f} {c_all:>7.1f}")
    print("times: median ms over", args.repeats, "repeats; analyze() = detect + crop + classify on the decoded frame")


if __name__ == "__main__":
    main()
