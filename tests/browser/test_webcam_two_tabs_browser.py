"""Two viewers at once: two Chromium tabs (separate browsers, so separate Streamlit sessions) stream the Webcam page
from one app server at the same time, one camera showing one face and the other two. Both get annotated video back,
and each session's engagement record holds only its own camera's faces (per-session state, no shared processor).

Under CPU load Chromium lowers a camera stream's resolution (640x480 -> 480x360 -> 320x240); the live tracker
rescales its boxes then (tested in tests/test_live.py), but a face could still blink between ids at a few processed
frames per second. The tabs' camera tracks are marked ``contentHint = "detail"``, which tells Chromium to keep the
resolution and drop frames instead, so that this test checks sessions, not Chromium's choices. The check that holds
whatever the ids: the one-face tab never records two faces present in the same second, and the two-face tab does."""
from __future__ import annotations

import csv
import io
import re
from collections import Counter

import pytest

import browser_harness as bh

pytestmark = pytest.mark.browser

KEEP_RESOLUTION_JS = bh.get_user_media_hook('stream.getVideoTracks().forEach((t) => { t.contentHint = "detail"; });')
STATUS = re.compile(r"Recorded (\d+) s · ([^\n]*)")  # ui.webcam.status_text, the line above the timeline


def faces_present(page) -> dict[str, int]:
    """Seconds present per face id, as this tab's engagement monitor shows them ({} before any face)."""
    m = STATUS.search(page.inner_text("body", timeout=120_000))  # slow when the machine is busy
    return {} if m is None else {name: int(s) for name, s in re.findall(r"(Face \d+) present (\d+) s", m.group(2))}


def faces_per_second(page) -> tuple[Counter, dict[str, list[str]]]:
    """How many seconds of this tab's timeline (its CSV download) had 1, 2, ... faces present at once, and which
    faces were present in each second."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    bh.wait_for_script(page)  # the run after STOP re-renders the button with the stopped record
    for attempt in range(3):  # a click during a rerun holds the previous run's file id, which Streamlit drops
        try:
            with page.expect_download(timeout=60_000) as info:
                page.get_by_role("button", name="Download timeline (CSV)").click(timeout=180_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            bh.wait_for_script(page)
    rows = list(csv.DictReader(io.StringIO(open(info.value.path()).read())))
    present: dict[str, list[str]] = {}
    for r in rows:
        if r["present"] == "True":
            present.setdefault(r["second"], []).append(r["face"])
    return Counter(len(v) for v in present.values()), present


def test_two_tabs_stream_at_once_and_keep_their_own_faces(browser_ready, tmp_path):
    from playwright.sync_api import sync_playwright

    # Chromium's fake camera plays one file per browser process: one browser per camera, one context (session) each
    clips = {1: bh.write_clip(tmp_path / "one_face.y4m", faces=1), 2: bh.write_clip(tmp_path / "two_faces.y4m", faces=2)}
    with bh.app_server() as url, sync_playwright() as p:
        browsers = {n: bh.launch(p, clip) for n, clip in clips.items()}
        try:
            contexts = {n: b.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
                        for n, b in browsers.items()}
            for context in contexts.values():
                context.add_init_script(KEEP_RESOLUTION_JS)
            pages = {n: context.new_page() for n, context in contexts.items()}
            for page in pages.values():
                page.set_default_timeout(180_000)  # two streams on a small machine: everything is slow
                page.goto(f"{url}/Webcam")
                page.get_by_text("Webcam: live emotions and engagement").wait_for(timeout=180_000)
            for page in pages.values():  # both pages' first runs (two sessions loading at once) end before START
                bh.wait_for_script(page)
            for page in pages.values():  # both streams start before either is checked: they run concurrently
                page.frame_locator("iframe").first.get_by_role("button", name="START").click(timeout=180_000)

            for n, page in pages.items():
                last = {"annotation pixels": None}

                def annotated(page=page, n=n, last=last):
                    img = bh.grab_output(page)
                    count = None if img is None else bh.annotation_pixels(img, faces=n)
                    last["annotation pixels"] = "no frame playing" if img is None else count
                    return count if count is not None and count > 300 * n else None

                def seen(page=page, last=last):
                    component = page.frame_locator("iframe").first.locator("body").inner_text(timeout=10_000)
                    return f"{last}, the component reads {component[:200]!r}"
                bh.wait_for(annotated, timeout=300, what=f"annotated video in the {n}-face tab", seen=seen)

            def recorded():  # the one-face tab: a face present 3 s; the two-face tab: two faces present 3 s each
                a, b = faces_present(pages[1]), faces_present(pages[2])
                return (a, b) if max(a.values(), default=0) >= 3 and sum(v >= 3 for v in b.values()) >= 2 else None
            one, two = bh.wait_for(recorded, timeout=300, what="each tab's timeline to record its faces present for 3 s")
            assert set(one) == {"Face 1"}, f"the one-face tab shows other faces while both stream: {one}"
            assert {"Face 1", "Face 2"} <= set(two), f"the two-face tab: {two}"

            for page in pages.values():
                component = page.frame_locator("iframe").first
                bh.click_button(component.get_by_role("button", name="STOP"))
                component.get_by_role("button", name="START").wait_for(timeout=120_000)
            (alone, seconds_1), (pair, seconds_2) = faces_per_second(pages[1]), faces_per_second(pages[2])
            assert set(alone) == {1}, f"the one-face tab, faces present per second: {seconds_1}; other tab: {seconds_2}"
            assert pair[2] >= 3, f"the two-face tab, faces present per second: {seconds_2}"
        finally:
            for b in browsers.values():
                b.close()
