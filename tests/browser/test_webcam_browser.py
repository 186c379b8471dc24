"""End to end through the real WebRTC path: the app server, headless Chromium with a fake camera playing a clip of a
real face, the Webcam page's START, annotated frames coming back, the engagement timeline recording the face, STOP."""
from __future__ import annotations

import re

import pytest

import browser_harness as bh

pytestmark = pytest.mark.browser


def test_webcam_page_streams_annotated_video_and_records_engagement(browser_ready, tmp_path):
    from playwright.sync_api import sync_playwright

    clip = bh.write_clip(tmp_path / "face.y4m")
    with bh.app_server() as url, sync_playwright() as p:
        browser = bh.launch(p, clip)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(f"{url}/Webcam")
            page.get_by_text("Webcam: live emotions and engagement").wait_for(timeout=120_000)
            page.get_by_text("no video frame or face image is stored").wait_for(timeout=60_000)
            component = page.frame_locator("iframe").first
            component.get_by_role("button", name="START").click(timeout=120_000)

            # annotated frames come back: the processed video shows the clip's frame with boxes and labels drawn
            def annotated():
                img = bh.grab_output(page)
                n = None if img is None else bh.annotation_pixels(img)
                return n if n is not None and n > 300 else None
            bh.wait_for(annotated, timeout=180, what="an annotated frame in the processed video")

            # the page polls the processor: a tracked face in the live metrics, and seconds present on the timeline
            body = lambda: page.inner_text("body")  # noqa: E731
            present = bh.wait_for(lambda: re.search(r"Face 1 present ([1-9]\d*) s", body()), timeout=120,
                               what="the engagement timeline to record Face 1 present")
            assert int(present.group(1)) >= 1

            bh.click_button(component.get_by_role("button", name="STOP"))
            component.get_by_role("button", name="START").wait_for(timeout=60_000)
            page.get_by_text("Session summary").wait_for(timeout=60_000)
            assert re.search(r"Recorded [1-9]\d* s", body())
            assert "Download timeline (CSV)" in body()
        finally:
            browser.close()


def test_webcam_page_opens_after_another_page_loaded_the_model(browser_ready):
    """aiortc's libsrtp (imported by streamlit-webrtc) segfaults the server when it loads after TensorFlow; the app
    must import it first whichever page the user opens first (here the home page, which shows the model's card)."""
    import urllib.request

    from playwright.sync_api import sync_playwright

    with bh.app_server() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=bh.chromium_path(), headless=True, args=bh.CHROMIUM_ARGS)
        try:
            def server_alive() -> bool:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=10) as r:
                        return r.status == 200
                except OSError:
                    return False

            page = browser.new_page()
            page.goto(url)
            page.wait_for_load_state("networkidle", timeout=120_000)
            page.goto(f"{url}/Webcam")
            heading = page.get_by_text("Webcam: live emotions and engagement")
            bh.wait_for(lambda: not server_alive() or heading.count() > 0, timeout=120, what="the Webcam page")
            assert server_alive(), ("the server died opening the Webcam page after another page had loaded "
                                    "TensorFlow: pylibsrtp (aiortc) must be imported before TensorFlow")
            page.get_by_text("no video frame or face image is stored").wait_for(timeout=60_000)
        finally:
            browser.close()
