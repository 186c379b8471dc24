"""analyze() against the `fer` package on the same 640x480 one-face frame, timed side by side in one run.

    python -m venv --system-site-packages /tmp/fervenv && /tmp/fervenv/bin/pip install --no-deps fer
    /tmp/fervenv/bin/python benchmarks/bench_vs_fer.py [--repeats 40]   # with nothing else running

`fer` (FER(): OpenCV's default Haar cascade at scale 1.1, 5 neighbours, 50 px faces, then its quantized mini-Xception
on TensorFlow Lite) is installed without its dependencies (facenet-pytorch, torch, moviepy), which only its MTCNN and
video paths use, into a venv that sees this project's packages, so nothing in the project's environment changes.
Frame: bench_analyze.py's (the astronaut letterboxed in 640x480). Each round times a block of calls of fer, then of
analyze() with each detector, on the same frame; medians of wall and process CPU time in ms. Blocks, not single calls
in turn: TensorFlow Lite's and ONNX Runtime's thread pools keep spinning for a while after a call, and with calls
alternating one by one each pipeline was timed while the other's idle threads held the two cores (analyze() with
YuNet read 22 ms that way against 12.5 ms on its own, the same machine and minute).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_analyze import make_frame  # noqa: E402

from fer_core.inference.analysis import analyze, default_classifier  # noqa: E402
from fer_core.inference.detection import list_detectors  # noqa: E402
from fer_core.inference.yunet import YuNetDetector  # noqa: E402
from fer_core.live.processor import LIVE_DETECT_WIDTH, LiveProcessor, LiveSettings  # noqa: E402

BLOCK = 5  # calls timed in a row per pipeline and round


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=40)
    args = ap.parse_args()
    try:
        import fer
        from fer.fer import FER
    except ImportError:
        sys.exit("The fer package is not importable here; see this script's docstring for the venv it runs in.")
    frame = make_frame(1)
    theirs = FER()
    clf = default_classifier()
    runs = {f"fer {fer.__version__} (Haar + mini-Xception TFLite)": lambda: theirs.detect_emotions(frame)}
    for name in list_detectors():
        runs[f"analyze(), {name}, {clf.name} ({clf.backend}, tta {clf.tta})"] = (lambda n=name: analyze(frame, clf, n))
    # live video (issue 24): YuNet searching the frame at a longest side of 320, as the Webcam page does
    yunet_320 = YuNetDetector(max_side=LIVE_DETECT_WIDTH["yunet"])
    runs["analyze(), yunet at 320 (live video's search)"] = lambda: analyze(frame, clf, yunet_320)
    live = LiveProcessor(clf, LiveSettings(detect_every=1, mirror=False, annotate=False))
    runs["LiveProcessor.process, detection every frame (yunet 320 + eyes + tracking + record)"] = \
        lambda: live.snapshot().faces if live.process(frame) is not None else ()
    found = {k: (f(), len(f()))[1] for k, f in runs.items()}  # warm-up (model loads; the tracker confirms a face on its 2nd frame)
    wall = {k: [] for k in runs}
    cpu = {k: [] for k in runs}
    for _ in range(max(1, args.repeats // BLOCK)):
        for k, f in runs.items():
            f()  # the first call after another pipeline pays for that one's idle thread pools (see the docstring)
            for _ in range(BLOCK):
                t0, c0 = time.perf_counter(), time.process_time()
                f()
                wall[k].append(1000 * (time.perf_counter() - t0))
                cpu[k].append(1000 * (time.process_time() - c0))
    print(f"640x480 frame, one face; {args.repeats} calls each, in interleaved blocks of {BLOCK}; median ms")
    print("| pipeline | faces found | wall ms | CPU ms |")
    print("|---|---|---|---|")
    for k in runs:
        print(f"| {k} | {found[k]} | {statistics.median(wall[k]):.1f} | {statistics.median(cpu[k]):.1f} |")


if __name__ == "__main__":
    main()
