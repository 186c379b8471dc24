"""Soak test of the Webcam page's live pipeline: is memory flat, the processed fps steady, the engagement record bounded?

    python benchmarks/soak_live.py [--minutes 10] [--fps 30] [--sample-every 10] [--model RUN] [--json OUT.json]

Runs ``fer_core.live.processor.LiveProcessor`` as the Webcam page does, for ``--minutes`` of wall time:
  * a camera thread of one: the browser test's face clip (``browser_harness.clip_frame``, the astronaut drifting on a
    loop of 120 frames) arrives at ``--fps``; each frame is a fresh ``av.VideoFrame`` given to ``processor.callback``
    (the page's ``video_frame_callback``). Like streamlit-webrtc's ``async_processing``, the worker takes only the
    newest frame that arrived while it was busy; the others are dropped (counted).
  * a poller thread, as the page's ``poll_while_playing``: the snapshot every 0.5 s, and every 3 s the engagement
    recorder's summary, timeline, summary table and the timeline figure (``ui.charts.timeline_figure``, serialised
    to JSON as ``st.plotly_chart`` does).
Every ``--sample-every`` seconds (the poller paused meanwhile) it records the process's resident memory
(``VmRSS`` of /proc/self/status), the frames processed and dropped in the interval, and the engagement recorder's
size: seconds recorded, timeline rows kept and bytes (``pympler.asizeof``). It prints the table, then start / max /
end RSS, the RSS trend after the first minute (MB per minute, least squares), the spread of the per-interval fps and
the recorder's bytes per recorded second. CI never runs it (minutes, not seconds).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def rss_mb() -> float:
    """Resident memory of this process (MB) from /proc/self/status (Linux)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found in /proc/self/status (this needs Linux)")


def recorder_size(recorder) -> dict:
    """What the engagement recorder holds: recorded seconds, timeline rows and its deep size in bytes."""
    from pympler import asizeof

    return {"seconds": recorder.summary()["recorded_seconds"], "rows": len(recorder.rows()),
            "faces": len(recorder.summary()["faces"]), "bytes": int(asizeof.asizeof(recorder))}


class PagePoller(threading.Thread):
    """What the Webcam page's script thread does while the stream plays (``ui.webcam.poll_while_playing``)."""

    def __init__(self, processor, live_every: float = 0.5, monitor_every: float = 3.0):
        super().__init__(daemon=True)
        self.processor, self.live_every, self.monitor_every = processor, live_every, monitor_every
        self.pause = threading.Lock()  # held by the sampler while it measures the recorder
        self.stop = threading.Event()
        self.renders = 0

    def run(self) -> None:
        from ui.charts import timeline_figure

        ticks, every = 0, max(1, round(self.monitor_every / self.live_every))
        while not self.stop.wait(self.live_every):
            with self.pause:
                self.processor.snapshot()
                ticks += 1
                if ticks % every == 0:
                    rec = self.processor.recorder
                    summary = rec.summary()
                    rec.summary_table(summary)
                    if not rec.empty:
                        timeline_figure(rec.timeline(), rec.labels).to_json()
                    self.renders += 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--fps", type=float, default=30.0, help="camera frame rate")
    ap.add_argument("--sample-every", type=float, default=10.0, help="seconds between memory samples")
    ap.add_argument("--model", default=None, help="run folder or .keras file (default: the shipped default run)")
    ap.add_argument("--json", default=None, help="also write the samples and the summary to this JSON file")
    args = ap.parse_args(argv)

    import pylibsrtp  # noqa: F401  (the app loads aiortc's libsrtp before TensorFlow; so does this, to match)
    import av

    from browser_harness import clip_frame
    from fer_core.inference.classifier import load_classifier
    from fer_core.device import describe_device
    from fer_core.live.processor import LiveProcessor

    clf = load_classifier(args.model)
    frames = [clip_frame(i) for i in range(120)]
    proc = LiveProcessor(clf)  # as ui.webcam.session_processor, with the page's default sidebar settings
    proc.update_settings(sensitivity=0.5, smoothing=0.6, detect_every=3, mirror=True)
    gc.collect()
    gc.freeze()  # as ui.webcam.freeze_long_lived_objects does once the session's processor exists
    poller = PagePoller(proc)

    samples: list[dict] = []
    period, duration = 1.0 / args.fps, args.minutes * 60.0

    def sample(t: float, processed: int, dropped: int, cpu: float) -> None:
        with poller.pause:
            size = recorder_size(proc.recorder)
        snap = proc.snapshot()
        samples.append({"t": round(t, 1), "rss_mb": round(rss_mb(), 1), "processed": processed, "dropped": dropped,
                        "cpu_s": round(cpu, 2), "processing_ms": round(snap.processing_ms, 1),
                        "faces_now": len(snap.faces), "error": snap.error, **size})

    print(f"device: {describe_device()}  model: {clf.name} ({clf.backend})  camera {args.fps:g} fps for "
          f"{args.minutes:g} min  load average: {tuple(round(v, 2) for v in os.getloadavg())}", flush=True)
    t0 = time.monotonic()
    sample(0.0, 0, 0, 0.0)
    poller.start()
    next_sample, last_index = args.sample_every, -1
    processed = dropped = 0
    c_mark = time.process_time()
    while True:
        now = time.monotonic() - t0
        if now >= next_sample:
            c = time.process_time()
            sample(next_sample, processed, dropped, c - c_mark)
            s = samples[-1]
            print(f"t={s['t']:6.0f}s  RSS {s['rss_mb']:7.1f} MB  fps {processed / args.sample_every:5.1f}  "
                  f"dropped {dropped:4d}  {s['processing_ms']:5.1f} ms/frame  recorder {s['seconds']} s, "
                  f"{s['rows']} rows, {s['bytes'] / 1024:.0f} KiB", flush=True)
            processed = dropped = 0
            c_mark = c
            next_sample += args.sample_every
            if now >= duration:
                break
            continue
        index = int(now * args.fps)  # the newest frame the camera has delivered
        if index == last_index:
            time.sleep(max(0.0, (index + 1) * period - now))
            continue
        dropped += max(0, index - last_index - 1)
        frame = av.VideoFrame.from_ndarray(frames[index % len(frames)], format="bgr24")
        frame.pts, frame.time_base = index, Fraction(1, int(round(args.fps)))
        proc.callback(frame)
        processed += 1
        last_index = index
    poller.stop.set()
    poller.join()

    rss = np.array([s["rss_mb"] for s in samples])
    t = np.array([s["t"] for s in samples])
    fps = np.array([s["processed"] / args.sample_every for s in samples[1:]])
    late = t >= min(60.0, t[-1] / 2)
    slope = float(np.polyfit(t[late] / 60.0, rss[late], 1)[0]) if late.sum() >= 3 else float("nan")
    last = samples[-1]
    summary = {
        "minutes": args.minutes, "camera_fps": args.fps, "model": clf.name, "backend": clf.backend,
        "rss_start_mb": float(rss[0]), "rss_after_1min_mb": float(rss[t >= 60][0]) if (t >= 60).any() else None,
        "rss_max_mb": float(rss.max()), "rss_end_mb": float(rss[-1]), "rss_trend_mb_per_min_after_1min": slope,
        "fps_mean": float(fps.mean()), "fps_min": float(fps.min()), "fps_max": float(fps.max()),
        "fps_std": float(fps.std()), "dropped_share": sum(s["dropped"] for s in samples) /
        max(1, sum(s["processed"] + s["dropped"] for s in samples)),
        "recorder_seconds": last["seconds"], "recorder_rows": last["rows"], "recorder_faces": last["faces"],
        "recorder_bytes": last["bytes"], "recorder_bytes_per_second": last["bytes"] / max(1, last["seconds"]),
        "frames_processed": int(sum(s["processed"] for s in samples)), "poller_renders": poller.renders,
        "errors": sorted({s["error"] for s in samples if s["error"]}),
    }
    print(f"RSS: start {summary['rss_start_mb']:.1f} MB, after 1 min {summary['rss_after_1min_mb'] or float('nan'):.1f}, "
          f"max {summary['rss_max_mb']:.1f}, end {summary['rss_end_mb']:.1f}; trend after the first minute "
          f"{slope:+.2f} MB/min")
    print(f"processed fps per {args.sample_every:g} s: mean {summary['fps_mean']:.1f}, min {summary['fps_min']:.1f}, "
          f"max {summary['fps_max']:.1f}, std {summary['fps_std']:.2f}; {summary['frames_processed']} frames, "
          f"{summary['dropped_share']:.1%} of camera frames dropped")
    print(f"engagement recorder: {last['seconds']} s recorded, {last['rows']} rows ({last['faces']} face ids), "
          f"{last['bytes'] / 1024:.0f} KiB = {summary['recorder_bytes_per_second']:.0f} bytes per recorded second; "
          f"page refreshes {poller.renders}; errors: {summary['errors'] or 'none'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "samples": samples}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
