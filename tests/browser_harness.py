"""Helpers for end-to-end tests in headless Chromium: a fake-camera clip, the app server, the browser, frame grabs.

The clip is a real face (skimage's astronaut) moving slightly on a grey background, with its frame index written as
a black/white code in the bottom strip: 8 bits left to right, then mirrored, so it reads the same in a mirrored view.
Chromium plays it in a loop as the camera (``--use-file-for-fake-video-capture``).
"""
from __future__ import annotations

import base64
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT, FPS = 640, 480, 30
CODE_BITS, CODE_ROWS = 8, 40  # the frame-index code: 16 blocks of 40 px in the bottom 40 rows
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                 "--autoplay-policy=no-user-gesture-required"]

def get_user_media_hook(body: str) -> str:
    """An init script wrapping ``navigator.mediaDevices.getUserMedia``: ``body`` (JavaScript) runs on every camera
    ``stream`` it returns, in every frame (so also inside the WebRTC component's iframe)."""
    return """
(() => {
  const md = navigator.mediaDevices;
  if (!md || !md.getUserMedia) return;
  const original = md.getUserMedia.bind(md);
  md.getUserMedia = async (constraints) => {
    const stream = await original(constraints);
    %s
    return stream;
  };
})();
""" % body


# Keeps the camera stream in window.__ferLocalStream.
KEEP_LOCAL_STREAM_JS = get_user_media_hook("window.__ferLocalStream = stream;")


# Draws the component's (processed) video into a canvas and returns it as a PNG data URL.
GRAB_JS = """
() => {
  const v = document.querySelector('video');
  if (!v || !v.videoWidth || v.readyState < 2) return null;
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  c.getContext('2d').drawImage(v, 0, 0);
  return c.toDataURL('image/png');
}
"""

# Samples the camera stream and the processed video side by side for `ms` milliseconds and decodes the frame index
# of each (in relative coordinates, so any resolution the stream adapted to is fine).
DELAY_JS = """
async ({ms, bits}) => {
  const remote = document.querySelector('video');
  const local = document.createElement('video');
  local.muted = true; local.playsInline = true; local.style.display = 'none';
  local.srcObject = window.__ferLocalStream;
  document.body.appendChild(local);
  await local.play();
  const c = document.createElement('canvas'); c.width = 160; c.height = 120;
  const g = c.getContext('2d', {willReadFrequently: true});
  const decode = (v) => {
    if (!v.videoWidth || v.readyState < 2) return null;
    g.drawImage(v, 0, 0, 160, 120);
    const px = g.getImageData(0, 110, 160, 10).data;
    const bit = (j) => { let s = 0;
      for (let y = 3; y < 7; y++) for (let x = j * 10 + 3; x < j * 10 + 7; x++) s += px[(y * 160 + x) * 4 + 1];
      return s / 16 > 128 ? 1 : 0; };
    let idx = 0;
    for (let j = 0; j < bits; j++) { const b = bit(j); if (b !== bit(2 * bits - 1 - j)) return null; idx |= b << j; }
    return idx;
  };
  const samples = [];
  const t0 = performance.now();
  await new Promise((resolve) => {
    const tick = () => {
      const l = decode(local), r = decode(remote);
      if (l !== null && r !== null) samples.push([performance.now() - t0, l, r]);
      if (performance.now() - t0 < ms) requestAnimationFrame(tick); else resolve();
    };
    requestAnimationFrame(tick);
  });
  local.remove();
  return samples;
}
"""


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _astronaut_patch() -> np.ndarray:
    from skimage import data

    return data.astronaut()[:300, 60:360, ::-1].copy()  # head and shoulders, BGR, 300x300


def clip_frame(i: int, patch: np.ndarray | None = None, n_frames: int = 120, faces: int = 1) -> np.ndarray:
    """Frame ``i`` of the clip (BGR): the face (or ``faces=2`` copies side by side) drifts a few pixels on a slow
    circle; the code strip holds ``i``."""
    if faces not in (1, 2):
        raise ValueError(f"The clip holds 1 or 2 faces. Received: faces={faces}")
    patch = _astronaut_patch() if patch is None else patch
    img = np.full((HEIGHT, WIDTH, 3), 110, np.uint8)
    a = 2 * np.pi * i / n_frames
    dx, dy = int(round(8 * np.cos(a))), int(round(5 * np.sin(a)))
    lefts = [(WIDTH - patch.shape[1]) // 2] if faces == 1 else [12, WIDTH - 12 - patch.shape[1]]
    for left in lefts:
        y0, x0 = 80 + dy, left + dx
        img[y0:y0 + patch.shape[0], x0:x0 + patch.shape[1]] = patch
    img[HEIGHT - CODE_ROWS:] = 0
    block = WIDTH // (2 * CODE_BITS)
    for j in range(CODE_BITS):
        if (i >> j) & 1:
            img[HEIGHT - CODE_ROWS:, j * block:(j + 1) * block] = 255
            img[HEIGHT - CODE_ROWS:, (2 * CODE_BITS - 1 - j) * block:(2 * CODE_BITS - j) * block] = 255
    return img


def decode_index(img: np.ndarray) -> int | None:
    """The frame index coded in a (possibly mirrored, rescaled) frame, or None when the code does not read."""
    h, w = img.shape[:2]
    strip = cv2.resize(img[h - h * CODE_ROWS // HEIGHT:], (2 * CODE_BITS * 10, 10), interpolation=cv2.INTER_AREA)
    bits = [int(strip[3:7, j * 10 + 3:j * 10 + 7].mean() > 128) for j in range(2 * CODE_BITS)]
    if bits[:CODE_BITS] != bits[CODE_BITS:][::-1]:
        return None
    return sum(b << j for j, b in enumerate(bits[:CODE_BITS]))


def write_clip(path: Path, n_frames: int = 120, faces: int = 1) -> Path:
    """Write the clip (with ``faces`` faces) as Y4M (I420), the format Chromium's fake camera reads."""
    patch = _astronaut_patch()
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(n_frames):
            fh.write(b"FRAME\n")
            fh.write(cv2.cvtColor(clip_frame(i, patch, n_frames, faces), cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


def annotation_pixels(grabbed: np.ndarray, n_frames: int = 120, faces: int = 1) -> int | None:
    """Pixels of a grabbed output frame that differ strongly from the clip frame it shows (boxes, labels drawn)."""
    idx = decode_index(grabbed)
    if idx is None:
        return None
    src = clip_frame(idx % n_frames, n_frames=n_frames, faces=faces)
    if grabbed.shape[:2] != src.shape[:2]:
        grabbed = cv2.resize(grabbed, (WIDTH, HEIGHT))
    counts = []
    for candidate in (src, cv2.flip(src, 1)):  # the view may be mirrored
        diff = np.abs(grabbed.astype(np.int16) - candidate.astype(np.int16)).max(axis=2)
        counts.append((np.median(diff), int((diff[:HEIGHT - CODE_ROWS] > 90).sum())))
    return min(counts)[1]


def data_url_to_image(url: str) -> np.ndarray:
    raw = base64.b64decode(url.split(",", 1)[1])
    return cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)


@contextlib.contextmanager
def app_server(entry: Path = REPO / "streamlit_app.py", timeout: float = 120.0, env: dict | None = None):
    """Run ``streamlit run <entry>`` on a free port; yields the base URL and stops the server afterwards."""
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(entry), "--server.port", str(port), "--server.headless",
           "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    full_env.pop("FER_ICE_SERVERS", None)
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"streamlit_{port}.log", "w")
    proc = subprocess.Popen(cmd, cwd=REPO, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"streamlit did not answer on {url} within {timeout} s; see {log.name}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def launch(playwright, clip: Path):
    """Headless Debian Chromium with a fake camera playing ``clip`` and camera permission granted."""
    return playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                      args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={clip}"])


def webrtc_frame(page):
    """The streamlit-webrtc component's iframe (as a Frame, for evaluate)."""
    for f in page.frames:
        if "webrtc" in (f.url or "") or "streamlit_webrtc" in (f.name or ""):
            return f
    handle = page.locator("iframe").first.element_handle()
    return handle.content_frame()


def grab_output(page) -> np.ndarray | None:
    """The frame the processed video shows right now (BGR), or None while it does not play yet."""
    url = webrtc_frame(page).evaluate(GRAB_JS)
    return None if url is None else data_url_to_image(url)


def click_button(locator, timeout: float = 120.0) -> None:
    """Click a button in the WebRTC component. Under CPU load the video above it keeps changing size (Chromium lowers
    and raises the stream's resolution), so the button may never hold still for Playwright's "stable" check: after
    a real click has failed for 30 s, the click event is dispatched to the button itself."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    locator.wait_for(state="visible", timeout=timeout * 1000)
    try:
        locator.click(timeout=30_000)
    except PlaywrightTimeout:
        locator.dispatch_event("click")


def wait_for_script(page, timeout: float = 300.0) -> None:
    """Wait until the page's script run has finished (Streamlit marks its root ``data-test-script-state``). A widget
    used while the first run of a page is still going (cold imports, the model's first trace on a busy machine) only
    takes effect once that run reaches its next Streamlit call, which on a loaded 2-core machine can take longer than
    any wait that follows the click: interact with a page only when its run is done."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(state="attached",
                                                                                          timeout=timeout * 1000)


def wait_for(predicate, timeout: float, interval: float = 1.0, what: str = "", seen=None):
    """``predicate()``'s first truthy value, polled every ``interval`` s; AssertionError after ``timeout`` s, which
    ends with ``seen()``, when given: what the page showed at the last poll, to tell a stall from a wrong result."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}" + _last_seen(seen))
        time.sleep(interval)


def _last_seen(seen) -> str:
    if seen is None:
        return ""
    try:
        return f"; last seen: {seen()}"
    except Exception as e:  # noqa: BLE001  (the timeout, not this description, is the failure to report)
        return f"; last seen: unreadable ({type(e).__name__}: {e})"


def create_class_session(page, url: str) -> tuple[str, str]:
    """On the Class dashboard: create a session; returns its join code and the teacher token (shown only then)."""
    page.goto(f"{url}/Class_dashboard")
    page.get_by_role("button", name="Create session").click(timeout=120_000)
    page.get_by_text("shown only now").wait_for(timeout=60_000)
    code = re.search(r"Join code: ([A-Z0-9]{3}-[A-Z0-9]{3})", page.inner_text("body")).group(1)
    return code, page.locator("pre").first.inner_text().strip()


def wait_for_text(page, text: str, timeout: float) -> None:
    """Wait for ``text`` on ``page``; on timeout, fail with what the page says instead (a form's error, a still
    running script), so that a slow or failed step on a loaded machine can be told apart from the run's log."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.get_by_text(text).wait_for(timeout=timeout * 1000)
    except PlaywrightTimeout:
        try:
            state = page.locator('[data-testid="stApp"]').get_attribute("data-test-script-state", timeout=5_000)
        except PlaywrightTimeout:
            state = "no Streamlit app on the page"
        raise AssertionError(f"{text!r} did not show within {timeout:g} s. Received: script state {state!r}, "
                             f"page text {page.inner_text('body')[:1500]!r}") from None


def join_class_and_start(page, url: str, code: str, name: str, sharing_timeout: float = 120.0) -> None:
    """On the Webcam page: join class ``code`` as ``name``, press START and wait until the page says it shares."""
    page.goto(f"{url}/Webcam")
    page.get_by_text("Join a class: share your engagement").click(timeout=300_000)  # first visit loads the model
    page.get_by_text("Never a video frame or a picture of you").wait_for(timeout=30_000)
    # the cause of the flaky 60 s wait after Join class: the form was submitted while the page's first run (the
    # model's warm-up, cold imports of the video stack) was still going on a busy machine; the submit took effect
    # only when that run ended. Fill the form once the run is done.
    wait_for_script(page)
    page.get_by_role("textbox", name="Join code").fill(code)
    page.get_by_role("textbox", name="Display name").fill(name)
    page.get_by_text("I agree to share these per-second figures").click()
    page.get_by_role("button", name="Join class").click()
    wait_for_text(page, "Connecting: joined as", 120.0)  # issue 26: the state in words
    wait_for_script(page)
    page.frame_locator("iframe").first.get_by_role("button", name="START").click(timeout=120_000)
    page.get_by_text("Sharing with your class as").wait_for(timeout=sharing_timeout * 1000)
