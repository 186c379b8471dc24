"""End-to-end delay of the Webcam page in headless Chromium: camera frame shown locally -> same frame shown processed.

    python benchmarks/bench_webcam_delay.py [--seconds 20] [--entry streamlit_app.py]

Starts the app, feeds Chromium's fake camera with the browser test's clip (each frame carries its index as a code
strip), presses START and then, in the page, samples side by side a local preview of the camera stream and the
processed video coming back over WebRTC. For each processed frame it finds when that frame index was shown
locally: the difference is the delay added by the round trip (encode, network, server decode + processing +
encode, decode, jitter buffer), on top of what a local preview already has. It also reads the processing fps the
page shows. Needs Debian's chromium and the playwright package.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))


FPS_RE = re.compile(r"Processing\s*([\d.]+) fps")  # the processing rate as the Webcam page shows it


def delays_ms(samples: list[list[float]], n_frames: int) -> tuple[np.ndarray, float, float]:
    """Delays (ms) of the processed video behind the local preview, the local preview's frame rate and the rate of
    new processed frames shown (processed fps as the viewer sees it)."""
    t = np.array([s[0] for s in samples])
    local = np.array([int(s[1]) for s in samples])
    remote = np.array([int(s[2]) for s in samples])
    steps = np.diff(local) % n_frames
    unwrapped = np.concatenate([[local[0]], local[0] + np.cumsum(steps)])
    first_time: dict[int, float] = {}
    for ti, u in zip(t, unwrapped):
        first_time.setdefault(int(u), ti)
    out = []
    for ti, u_now, r in zip(t, unwrapped, remote):
        back = (u_now - r) % n_frames
        u = int(u_now - back)
        if u in first_time:
            out.append(ti - first_time[u])
    seconds = max((t[-1] - t[0]) / 1000, 1e-6)
    fps = (unwrapped[-1] - unwrapped[0]) / seconds
    shown_fps = np.count_nonzero(np.diff(remote)) / seconds
    return np.array(out), fps, shown_fps


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="how long to sample after the first annotated frame")
    ap.add_argument("--entry", default=str(REPO / "streamlit_app.py"), help="the app's main script")
    ap.add_argument("--settle", type=float, default=10.0, help="seconds to let the stream settle before sampling")
    ap.add_argument("--fps-only", action="store_true",
                    help="no delay sampling and no extra local preview (both cost CPU): read the page's processing fps "
                         "once a second for --seconds, as a viewer's browser would load the machine")
    args = ap.parse_args(argv)

    import tempfile

    from playwright.sync_api import sync_playwright

    import browser_harness as bh

    n_frames = 240  # an 8 s loop: delays up to 8 s read unambiguously
    with tempfile.TemporaryDirectory() as tmp:
        clip = bh.write_clip(Path(tmp) / "face.y4m", n_frames)
        with bh.app_server(Path(args.entry)) as url, sync_playwright() as p:
            browser = bh.launch(p, clip)
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            if not args.fps_only:
                ctx.add_init_script(bh.KEEP_LOCAL_STREAM_JS)
            page = ctx.new_page()
            page.goto(f"{url}/Webcam")
            page.get_by_text("Webcam: live emotions and engagement").wait_for(timeout=120_000)
            page.frame_locator("iframe").first.get_by_role("button", name="START").click(timeout=120_000)
            t0 = time.monotonic()
            while True:
                img = bh.grab_output(page)
                n = None if img is None else bh.annotation_pixels(img, n_frames)
                if n is not None and n > 300:
                    break
                if time.monotonic() - t0 > 180:
                    raise SystemExit("no annotated frame came back within 180 s")
                time.sleep(0.5)
            print(f"first annotated frame {time.monotonic() - t0:.1f} s after START")
            time.sleep(args.settle)
            readings, samples = [], []
            if args.fps_only:
                for _ in range(int(args.seconds)):
                    time.sleep(1.0)
                    fps = FPS_RE.search(page.inner_text("body"))
                    if fps:
                        readings.append(float(fps.group(1)))
            else:
                samples = bh.webrtc_frame(page).evaluate(bh.DELAY_JS,
                                                         {"ms": int(args.seconds * 1000), "bits": bh.CODE_BITS})
            body = page.inner_text("body")
            page.frame_locator("iframe").first.get_by_role("button", name="STOP").click()
            browser.close()
    print(f"load average: {os.getloadavg()}")
    if args.fps_only:
        if readings:
            print(f"page's processing fps, {len(readings)} readings a second apart: median "
                  f"{np.median(readings):.1f}  min {min(readings):.1f}  max {max(readings):.1f}")
        return 0
    d, local_fps, shown_fps = delays_ms(samples, n_frames)
    fps = FPS_RE.search(body)
    queue = re.search(r"(\d+) ms each · frames arrive (\d+) ms later", body)
    print(f"samples: {len(samples)} over {args.seconds:.0f} s; local preview {local_fps:.1f} fps; "
          f"new processed frames shown: {shown_fps:.1f} per s")
    if len(d):
        print(f"end-to-end delay beyond the local preview (ms): median {np.median(d):.0f}  "
              f"p10 {np.percentile(d, 10):.0f}  p90 {np.percentile(d, 90):.0f}  max {d.max():.0f}")
    arrival = f"; {queue.group(1)} ms per frame; frames arrive {queue.group(2)} ms later than at best" if queue else ""
    print(f"page at the end: processing {fps.group(1) if fps else '?'} fps{arrival}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
