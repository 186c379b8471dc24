"""Webcam page (AppTest): renders without a camera, states privacy, device and formula; the engagement monitor shows a
recorded session, exports it and resets; model and ICE configuration problems are shown, not raised."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from fer_core.inference.classifier import ModelLoadError
from fer_core.live.engagement import FaceObservation
from fer_core.labels import EMOTIONS
from fer_core.live.processor import LiveProcessor
from ui import keys, webrtc as webrtc_ui

from factories import UniformClassifier

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "2_Webcam.py")


@pytest.fixture
def fake(streamer):
    clf = UniformClassifier()
    with mock.patch("ui.model_cache.cached_classifier", return_value=clf), \
            mock.patch("ui.model_cache.cached_runtime", side_effect=lambda b: f"CPU: Test CPU (2 cores), {b}"):
        yield clf


def texts(at) -> str:
    parts = [e.value for e in (*at.markdown, *at.caption, *at.info, *at.warning, *at.error)]
    return "\n".join(str(p) for p in parts)


def test_page_renders_privacy_device_formula_and_controls(fake, streamer, monkeypatch):
    monkeypatch.delenv(webrtc_ui.ENV_ICE_SERVERS, raising=False)
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    kwargs = streamer.call_args.kwargs
    assert kwargs["rtc_configuration"] == {"iceServers": []} and kwargs["async_processing"] is True
    assert kwargs["media_stream_constraints"] == {"video": {"width": 640, "height": 480}, "audio": False}
    proc = at.session_state[keys.WEBCAM_PROCESSOR]
    assert kwargs["video_frame_callback"] == proc.callback and kwargs["on_video_ended"] == proc.stream_ended
    shown = texts(at)
    assert "no video frame or face image is stored" in shown
    assert "CPU: Test CPU (2 cores), onnxruntime" in shown and "fake_run" in shown
    # issue 26: the signals in plain words; the index named as a research index, no "CI = EW x GW / 4.5" jargon
    assert "facing the screen" in shown and "Sharma et al" in shown and "CI =" not in shown
    assert "Nothing recorded yet" in shown and "localhost / LAN" in shown
    assert not at.error and not at.warning
    assert {s.label for s in at.sidebar.slider} == {"Detector sensitivity", "Smoothing strength",
                                                   "Detection interval (frames)"}
    assert at.sidebar.toggle[0].label == "Mirror view" and at.sidebar.toggle[0].value is True
    assert at.metric[0].label == "Faces present" and at.metric[0].value == "0"


def test_sidebar_settings_reach_the_processor(fake):
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.sidebar.slider(key=keys.WEBCAM_DETECT_EVERY).set_value(5)
    at.sidebar.slider(key=keys.WEBCAM_SMOOTHING).set_value(0.8)
    at.sidebar.toggle(key=keys.WEBCAM_MIRROR).set_value(False)
    at.run()
    assert not at.exception
    s = at.session_state[keys.WEBCAM_PROCESSOR].settings
    assert (s.detect_every, s.smoothing, s.mirror) == (5, 0.8, False)


def test_engagement_monitor_shows_summary_exports_and_resets(fake):
    proc = LiveProcessor(fake, warm_up=False)
    p = np.full(len(EMOTIONS), 0.05)
    p[EMOTIONS.index("neutral")] = 0.7
    for i in range(30):  # 3 s at 10 frames/s, one frontal face with both eyes
        proc.recorder.observe(i / 10, [FaceObservation("Face 1", p, eyes=2)])
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state[keys.WEBCAM_PROCESSOR] = proc
    at.run()
    assert not at.exception
    assert "Recorded 3 s · Face 1 present 3 s" in texts(at)
    table = at.dataframe[0].value
    assert table.loc[0, "face"] == "Face 1" and table.loc[0, "present (%)"] == pytest.approx(100.0)
    assert "mean engagement" not in table.columns and np.isnan(table.loc[0, "facing the screen (%)"])  # Haar: no pose
    assert table.loc[0, "neutral (%)"] == pytest.approx(100.0)
    downloads = [e for e in at.get("download_button")]
    assert len(downloads) == 2
    at.button(key=keys.WEBCAM_RESET).click().run()
    assert not at.exception
    assert proc.recorder.empty and "Nothing recorded yet" in texts(at)


class PlayingFor:
    """A stream state that plays for the first ``n`` reads of ``playing`` (the page's poll loop reads it)."""

    def __init__(self, n: int):
        self.reads, self.n = 0, n

    @property
    def playing(self) -> bool:
        self.reads += 1
        return self.reads <= self.n


def test_page_polls_the_processor_while_playing(fake, streamer):
    state = PlayingFor(8)
    streamer.return_value = SimpleNamespace(state=state)
    box = (200, 100, 120, 120)
    proc = LiveProcessor(fake, warm_up=False, detector_factory=lambda settings: (lambda gray: [box]))
    for _ in range(3):
        proc.process(np.full((480, 640, 3), 90, np.uint8))
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state[keys.WEBCAM_PROCESSOR] = proc
    at.run()
    assert not at.exception
    assert state.reads == 9  # the loop ran until the stream stopped
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Faces present"] == "1" and "Main face (Face 1)" in metrics
    assert metrics["Processing"].endswith("fps")
    assert len(at.get("plotly_chart")) == 2  # the main face's probabilities and the engagement timeline
    assert "Face 1 present 1 s" in texts(at)


def test_model_that_cannot_load_is_an_error_message(streamer):
    err = ModelLoadError("Model file not found. Received: path='models/runs/x/model.keras'")
    with mock.patch("ui.model_cache.cached_classifier", side_effect=err):
        at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert "could not be loaded" in at.error[0].value and "Model file not found" in at.error[0].value


def test_ice_servers_from_streamlit_secrets(fake, streamer, monkeypatch):
    monkeypatch.delenv(webrtc_ui.ENV_ICE_SERVERS, raising=False)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.secrets["ice_servers"] = [{"urls": ["stun:stun.example.org:3478"]}]
    at.run()
    assert not at.exception
    assert streamer.call_args.kwargs["rtc_configuration"] == {"iceServers": [{"urls": ["stun:stun.example.org:3478"]}]}
    assert "secrets `ice_servers`" in texts(at)


def test_ice_servers_from_env_and_bad_configuration(fake, monkeypatch):
    monkeypatch.setenv(webrtc_ui.ENV_ICE_SERVERS, '[{"urls": ["turn:turn.example.org:3478"], "username": "u"}]')
    servers, source = webrtc_ui.ice_servers()
    assert servers[0]["urls"] == ["turn:turn.example.org:3478"] and source == "$FER_ICE_SERVERS"
    monkeypatch.setenv(webrtc_ui.ENV_ICE_SERVERS, "stun:not-json")
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert "Ignoring the ICE server configuration" in at.warning[0].value
    with pytest.raises(webrtc_ui.IceConfigError, match=r"\[0\] must be an object"):
        webrtc_ui.parse_ice_servers('[{"url": "stun:x"}]', "test")


def test_detector_picker_sets_the_live_processors_detector(fake):
    from fer_core.inference.detection import DEFAULT_DETECTOR

    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    box = at.sidebar.selectbox(key=keys.WEBCAM_DETECTOR)
    assert box.value == DEFAULT_DETECTOR and len(box.options) == 2
    assert at.session_state[keys.WEBCAM_PROCESSOR].settings.detector == DEFAULT_DETECTOR
    box.set_value("haar").run()
    assert not at.exception
    assert at.session_state[keys.WEBCAM_PROCESSOR].settings.detector == "haar"
