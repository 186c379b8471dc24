"""Processed frames per second of the live pipeline (fer_core.live.processor.LiveProcessor) on 640x480 frames with one face.

    python benchmarks/bench_live.py [--model RUN_DIR_OR_KERAS] [--frames 300] [--detect-every 3]

Feeds the astronaut face (moving a few pixels per frame, as in the browser test's clip) through ``process`` as fast as
it goes and reports the processed fps (wall clock), the CPU time per frame (which other jobs on the machine do not
inflate) and per-stage wall times. The model defaults to the shipped default run.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="run folder or .keras file (default: the shipped default run)")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--detect-every", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args(argv)

    import cv2

    from browser_harness import clip_frame
    from fer_core.inference.classifier import load_classifier
    from fer_core.device import describe_device
    from fer_core.live.processor import LiveProcessor, LiveSettings

    clf = load_classifier(args.model)
    frames = [clip_frame(i) for i in range(120)]
    proc = LiveProcessor(clf, LiveSettings(detect_every=args.detect_every))
    for i in range(args.warmup):
        proc.process(frames[i % len(frames)])

    # per-stage costs on one frame
    gray = cv2.cvtColor(frames[0], cv2.COLOR_BGR2GRAY)
    stage = {}
    t = time.perf_counter()
    for _ in range(20):
        clf.predict_proba([gray[100:250, 250:400]])
    stage["model, 1 face (ms)"] = (time.perf_counter() - t) / 20 * 1000
    det = proc._detector_factory(proc.settings)
    t = time.perf_counter()
    for _ in range(20):
        det(gray)  # FaceDetector searches it downscaled
    stage["face detection (ms)"] = (time.perf_counter() - t) / 20 * 1000
    # (the eye-cascade stage is gone: the head pose comes from the detector's landmarks, benchmarks/bench_head_pose.py)

    times = []
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(args.frames):
        s = time.perf_counter()
        proc.process(frames[i % len(frames)])
        times.append(time.perf_counter() - s)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    snap = proc.snapshot()
    ms = np.array(times) * 1000
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"device: {describe_device()}  python {platform.python_version()}  load average: {load}")
    print(f"model: {clf.name}  frames: {args.frames} at 640x480  detect every {args.detect_every}  faces tracked: "
          f"{[f.name for f in snap.faces]}  facing: {[f.facing for f in snap.faces]}")
    print(f"processed fps: {args.frames / wall:.1f}   per frame ms: mean {ms.mean():.1f}  median {np.median(ms):.1f}  "
          f"p90 {np.percentile(ms, 90):.1f}  max {ms.max():.1f}")
    print(f"CPU time (all threads of this process) per frame: {cpu / args.frames * 1000:.1f} ms "
          f"-> {args.frames / cpu:.1f} fps if this process had one core to itself")
    for k, v in stage.items():
        print(f"  {k}: {v:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
