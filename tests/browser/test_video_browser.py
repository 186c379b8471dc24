"""The annotated video plays in a real browser (headless Chromium): H.264/yuv420p in mp4, or the webm fallback."""
from __future__ import annotations

import shutil

import pytest

from fer_core.live.video import analyze_video
from factories import FakeClassifier, encode, face_frames

pytestmark = pytest.mark.browser


def test_annotated_video_plays_in_chromium(tmp_path):
    chromium = shutil.which("chromium")
    if not chromium:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright python package is not installed")
    res = analyze_video(encode(face_frames(10, 10)), FakeClassifier())
    (tmp_path / f"annotated.{res.video_ext}").write_bytes(res.video)
    (tmp_path / "index.html").write_text(f'<video id="v" src="annotated.{res.video_ext}" muted></video>')
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--headless", "--no-sandbox", "--disable-gpu",
                                          "--disable-background-networking", "--disable-component-update"])
        try:
            page = browser.new_page()
            page.goto((tmp_path / "index.html").as_uri())
            page.wait_for_function("() => { const v = document.getElementById('v'); return v.readyState >= 2 || v.error; }",
                                   timeout=30000)
            state = page.evaluate("() => { const v = document.getElementById('v'); "
                                  "return {ready: v.readyState, w: v.videoWidth, h: v.videoHeight, d: v.duration, "
                                  "error: v.error && v.error.message}; }")
        finally:
            browser.close()
    assert state["error"] is None
    assert state["ready"] >= 2 and (state["w"], state["h"]) == (480, 320)
    assert state["d"] == pytest.approx(2.0, abs=0.2)
