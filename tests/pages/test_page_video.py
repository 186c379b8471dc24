"""Video Analysis page (AppTest): upload, analyse with progress, results (summary, charts, downloads, annotated video),
a stopped run keeps its partial result, a clip model's windows, and bad uploads shown as messages, not tracebacks."""
from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import pytest
from streamlit.testing.v1 import AppTest

from fer_core.live.video import VideoAnalysis
from ui import keys
from factories import FakeClassifier, FakeClipClassifier, audio_only, encode, face_frames

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "4_Video_analysis.py")
TIMEOUT = 120


@pytest.fixture(scope="module")
def video_bytes() -> bytes:
    return encode(face_frames(10, 10))  # 20 frames, 2 s


@pytest.fixture
def fake():
    clf = FakeClassifier()
    clf.name = "fake_run"
    with mock.patch("ui.model_cache.cached_classifier", return_value=clf), \
            mock.patch("ui.video_analysis.clip_model_runs", return_value=[]):
        yield clf


def texts(at) -> str:
    parts = [e.value for e in (*at.subheader, *at.markdown, *at.caption, *at.info, *at.warning, *at.error)]
    return "\n".join(str(p) for p in parts)


def upload(at, name: str, data: bytes, mime: str = "video/mp4") -> AppTest:
    at.get_by_key(keys.VIDEO_UPLOAD).set_value((name, data, mime))
    return at.run(timeout=TIMEOUT)


def downloads(at) -> dict:
    return {e.proto.label: e for e in at.get("download_button")}


def test_page_renders_without_a_video(fake):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert "Upload a video" in texts(at)
    assert "never written to disk" in texts(at)
    assert at.selectbox(key=keys.VIDEO_CLIP_MODEL).value is None


def test_analyse_shows_tracks_summary_charts_and_downloads(fake, video_bytes):
    at = upload(AppTest.from_file(PAGE, default_timeout=TIMEOUT).run(), "class recording.mp4", video_bytes)
    assert not at.exception
    assert "class recording.mp4" in texts(at) and "480×320" in texts(at)
    at.button(key=keys.VIDEO_START).click().run(timeout=TIMEOUT)
    assert not at.exception and not at.error
    shown = texts(at)
    assert "Results for class recording.mp4" in shown
    assert "20 of 20 frames analysed" in shown and "1 face tracked: Face 1" in shown
    [table] = at.dataframe
    assert list(table.value["face"]) == ["Face 1"] and table.value["top emotion"].iat[0] == "happy"
    assert len(at.get("plotly_chart")) == 2  # engagement/emotion-share timeline and the face's probabilities
    assert len(at.get("video")) == 1
    files = downloads(at)
    assert set(files) == {"Timeline (CSV)", "Per frame (CSV)", "Everything (JSON)", "Annotated video"}
    result = at.session_state[keys.VIDEO_RESULT]["result"]
    assert result.frames_decoded == 20 and result.faces == ["Face 1"]
    assert json.loads(result.to_json())["summary"]["faces"]["Face 1"]["top_emotion"] == "happy"


def test_every_kth_frame_and_a_clip_model(fake, video_bytes):
    clip = FakeClipClassifier()
    clip.name = "fake_clips"
    with mock.patch("ui.video_analysis.clip_model_runs", return_value=[Path("/runs/ck_fake")]), \
            mock.patch("ui.video_analysis.cached_clip_classifier", return_value=clip):
        at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
        at.slider(key=keys.VIDEO_EVERY).set_value(2)
        assert at.slider(key=keys.VIDEO_CLIP_EVERY).disabled  # until a clip model is chosen
        at.selectbox(key=keys.VIDEO_CLIP_MODEL).set_value("/runs/ck_fake").run()
        at.slider(key=keys.VIDEO_CLIP_EVERY).set_value(1)
        upload(at, "v.mp4", video_bytes)
        at.button(key=keys.VIDEO_START).click().run(timeout=TIMEOUT)
    assert not at.exception
    shown = texts(at)
    assert "10 of 20 frames analysed" in shown and "clip model **fake_clips**" in shown
    result = at.session_state[keys.VIDEO_RESULT]["result"]
    assert len(result.clips) >= 5 and "Clip model: " in shown and "windows classified" in shown
    assert "top clip emotion" in at.dataframe[0].value


def test_stop_keeps_the_part_that_was_done(fake, video_bytes):
    at = upload(AppTest.from_file(PAGE, default_timeout=TIMEOUT).run(), "v.mp4", video_bytes)

    class Interrupted(BaseException):  # what Streamlit raises in a running script when Stop is clicked
        pass

    job = VideoAnalysis(video_bytes, fake)

    def progress(frac, text):
        if job.decoded >= 10:
            raise Interrupted

    with pytest.raises(Interrupted):
        job.run(progress=progress)
    at.session_state[keys.VIDEO_JOB] = {"name": "v.mp4", "job": job}
    at.button(key=keys.VIDEO_STOP).click().run(timeout=TIMEOUT)
    assert not at.exception
    assert any("Stopped by you after 10 frames" in w.value for w in at.warning)
    assert at.session_state[keys.VIDEO_RESULT]["result"].frames_decoded == 10
    assert keys.VIDEO_JOB not in at.session_state


@pytest.mark.parametrize("name, data, message", [
    ("notes.mp4", b"definitely not a video" * 50, "Could not read the file as a video"),
    ("voice.mp4", None, "no video stream"),
])
def test_bad_uploads_get_a_clear_message(fake, name, data, message):
    at = upload(AppTest.from_file(PAGE, default_timeout=TIMEOUT).run(), name, data if data is not None else audio_only())
    assert not at.exception
    assert message in at.error[0].value and name in at.error[0].value
    assert not at.button  # nothing to analyse


def test_model_load_error_is_shown(video_bytes):
    from fer_core.inference.classifier import ModelLoadError

    with mock.patch("ui.model_cache.cached_classifier", side_effect=ModelLoadError("model.keras is corrupt")), \
            mock.patch("ui.video_analysis.clip_model_runs", return_value=[]):
        at = upload(AppTest.from_file(PAGE, default_timeout=TIMEOUT).run(), "v.mp4", video_bytes)
    assert not at.exception
    assert "could not be loaded" in at.error[0].value and "corrupt" in at.error[0].value


def test_too_long_video_is_refused(fake, video_bytes, monkeypatch):
    import fer_core.live.video as fv

    monkeypatch.setattr(fv, "MAX_SECONDS", 1.0)
    at = upload(AppTest.from_file(PAGE, default_timeout=TIMEOUT).run(), "long.mp4", video_bytes)
    assert not at.exception
    assert "too long" in at.error[0].value


def test_clip_model_picker_lists_clip_runs_only(tmp_path, monkeypatch):
    from fer_core import runs
    from ui import video_analysis as video_ui

    for name, kind in (("ck_clip", "clip"), ("fer_frames", None)):
        d = tmp_path / name
        d.mkdir()
        runs.write_json(d / runs.CONFIG, {"kind": kind} if kind else {})
        (d / runs.MODEL).write_bytes(b"x")
    monkeypatch.setattr(runs, "RUNS_DIR", tmp_path)
    assert [p.name for p in video_ui.clip_model_runs()] == ["ck_clip"]


def test_emotion_chart_legend_sits_right_of_the_plot(video_bytes):
    """In the short per-face chart, plotly's default horizontal legend covered the x-axis title (seen in a browser):
    the legend is to the right of the plot, clear of both axis titles."""
    from fer_core.live.video import analyze_video
    from ui.video_analysis import emotion_figure

    fig = emotion_figure(analyze_video(video_bytes, FakeClassifier()), "Face 1")
    assert fig.layout.xaxis.title.text == "seconds into the video"
    assert fig.layout.legend.x >= 1 and fig.layout.legend.xanchor == "left"


def test_detector_picker_choice_reaches_the_analysis(fake, video_bytes, monkeypatch):
    from fer_core.inference.detection import DEFAULT_DETECTOR

    seen = []
    original = VideoAnalysis.__init__

    def spy(self, data, classifier, settings=None, *args, **kwargs):
        seen.append(settings.detector)
        original(self, data, classifier, settings, *args, **kwargs)

    monkeypatch.setattr(VideoAnalysis, "__init__", spy)
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert at.selectbox(key=keys.VIDEO_DETECTOR).value == DEFAULT_DETECTOR
    at.selectbox(key=keys.VIDEO_DETECTOR).set_value("haar")
    upload(at, "v.mp4", video_bytes)
    at.button(key=keys.VIDEO_START).click().run(timeout=TIMEOUT)
    assert not at.exception and not at.error
    assert seen == ["haar"] and at.session_state[keys.VIDEO_RESULT]["result"].faces == ["Face 1"]
