"""Speed of the Video analysis pipeline (fer_core.live.video.analyze_video) on a clip made from a real face.

    python benchmarks/bench_video.py [--seconds 10] [--fps 25] [--size 640x480] [--model RUN] [--clip-model RUN]
                                     [--every 1] [--detect-every 1]

Builds an H.264 mp4 of the astronaut's face sliding then still (the tests' clip on a ``--size`` canvas, at least 240x280), then times
``analyze_video`` end to end (decode, detect, track, classify, annotate, encode the annotated copy) with the shipped
default model, optionally with a clip model on sliding windows. Prints frames analysed per second of wall time and
how that compares with the video's own rate.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--model", default=None, help="run folder or .keras (default: the shipped default run)")
    ap.add_argument("--clip-model", default=None, help="a clip run folder, e.g. models/runs/ck_convlstm_5class")
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--detect-every", type=int, default=1)
    args = ap.parse_args(argv)

    from fer_core.inference.classifier import load_classifier
    from fer_core.device import describe_device
    from fer_core.live.video import VideoSettings, analyze_video
    from factories import encode, face_frames

    w, h = (int(v) for v in args.size.split("x"))
    n = int(args.seconds * args.fps)
    patch_w = 210  # the tests' face patch is 210 px wide; it slides across the frame in the first half, then stays
    frames = face_frames(n // 2, n - n // 2, size=(h, w), step=(w - patch_w - 21) / max(n // 2, 1))
    data = encode(frames, fps=args.fps)
    clf = load_classifier(args.model)
    clip = None
    if args.clip_model:
        from fer_core.live.clips import load_clip_classifier

        clip = load_clip_classifier(args.clip_model)
    settings = VideoSettings(every=args.every, detect_every=args.detect_every)
    analyze_video(encode(frames[:10], fps=args.fps), clf, settings, clip)  # warm up (model tracing)
    t0, c0 = time.perf_counter(), time.process_time()
    result = analyze_video(data, clf, settings, clip)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    analysed = result.frames_analysed
    print(f"device: {describe_device()}  load average: {tuple(round(v, 2) for v in os.getloadavg())}")
    print(f"video: {n} frames {w}x{h} at {args.fps} fps ({args.seconds:g} s, {len(data) / 1e3:.0f} kB); model "
          f"{clf.name} (tta {clf.tta})" + (f"; clip model {clip.name}" if clip else ""))
    print(f"analysed {analysed} frames in {wall:.1f} s: {analysed / wall:.1f} frames/s "
          f"({wall / args.seconds:.2f} s of work per second of video); CPU {1000 * cpu / max(analysed, 1):.1f} ms/frame")
    print(f"faces: {result.faces}; annotated video {len(result.video or b'') / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
