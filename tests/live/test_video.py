"""Video analysis on a short video made from a real face (skimage's astronaut), moving then still: decoding from
memory, tracks, the per-second timeline, exports, the annotated output, clip windows, limits and bad files."""
from __future__ import annotations

import io
import json

import av
import numpy as np
import pytest

from fer_core.labels import EMOTIONS
from fer_core.live.video import VideoAnalysis, VideoError, VideoSettings, analyze_video, output_codec, probe

from factories import FPS, FakeClassifier, FakeClipClassifier, audio_only, encode, face_frames

@pytest.fixture(scope="module")
def face_video() -> bytes:
    return encode(face_frames())  # 30 frames at 10 fps = 3 s


def decode_count(data: bytes) -> int:
    with av.open(io.BytesIO(data)) as c:
        return sum(1 for _ in c.decode(c.streams.video[0]))


def test_probe_reads_the_stream(face_video):
    info = probe(face_video)
    assert (info.width, info.height) == (480, 320)
    assert info.fps == pytest.approx(FPS)
    assert info.duration == pytest.approx(3.0, abs=0.15)
    assert info.container.startswith("mov") and info.codec == "h264"
    assert "480×320" in info.describe()


def test_moving_then_still_face_is_one_track(face_video):
    progress = []
    res = analyze_video(face_video, FakeClassifier(), VideoSettings(detect_every=2),
                        progress=lambda f, text: progress.append((f, text)))
    assert res.frames_decoded == 30 and res.frames_analysed == 30
    assert not res.stopped and not res.truncated and res.warnings == []
    assert res.faces == ["Face 1"]  # one stable id while it moves and while it stays
    frames = res.frames_table()
    assert len(frames) >= 27  # tracked from the second detection on
    xs = frames["x"].to_numpy()
    assert xs[10] > xs[0] + 50  # the box followed the moving face
    assert abs(int(xs[-1]) - int(xs[-5])) <= 6  # and stays put when it is still
    assert set(frames["emotion"]) == {"happy"}
    assert progress[-1][0] == 1.0 and all(0 <= f <= 1 for f, _ in progress)

    timeline = res.timeline()
    assert sorted(timeline["second"].unique()) == [0, 1, 2]  # one row per second of video per face
    assert list(timeline["face"].unique()) == ["Face 1"]
    assert timeline["present"].all() and set(timeline["dominant_emotion"]) == {"happy"}

    # the annotated copy has every decoded frame and plays as H.264 (or the fallback codec)
    assert res.video is not None and decode_count(res.video) == 30
    assert res.video_mime == output_codec()[2]
    with av.open(io.BytesIO(res.video)) as c:
        first = next(c.decode(c.streams.video[0])).to_ndarray(format="bgr24")
        assert first.shape == (320, 480, 3)


@pytest.mark.parametrize("method", ["haar", "yunet"])
def test_either_detector_tracks_the_face(face_video, method):
    settings = VideoSettings(detect_every=3, detector=method, annotate=False)
    assert settings.live_settings().detector == method
    res = analyze_video(face_video, FakeClassifier(), settings)
    assert res.faces == ["Face 1"] and len(res.frames_table()) >= 25


def test_exports_hold_timeline_summary_and_frames(face_video):
    res = analyze_video(face_video, FakeClassifier(), VideoSettings(every=2, annotate=False))
    assert res.frames_analysed == 15 and res.video is None
    csv_lines = res.to_csv().strip().splitlines()
    assert csv_lines[0].startswith("second,time,face,present") and len(csv_lines) == 1 + 3
    assert all(",Face 1,True," in line for line in csv_lines[1:])
    doc = json.loads(res.to_json())
    assert doc["video"]["frames_decoded"] == 30 and doc["video"]["analysed_every"] == 2
    assert doc["labels"] == list(EMOTIONS)
    assert [r["second"] for r in doc["timeline"]] == [0, 1, 2]
    face = doc["summary"]["faces"]["Face 1"]
    assert face["seconds_present"] == 3 and face["top_emotion"] == "happy"
    assert face["frames_analysed"] == len(doc["frames"]) and all(r["frame"] % 2 == 0 for r in doc["frames"])
    assert "concentration index" in doc["index"]["name"]
    frames_csv = res.frames_csv().splitlines()
    assert frames_csv[0].startswith("frame,time,face,x,y,w,h,emotion") and len(frames_csv) == 1 + len(doc["frames"])
    table = res.summary_table()
    assert list(table["face"]) == ["Face 1"] and table["top emotion"].iat[0] == "happy"


def test_clip_model_classifies_sliding_windows(face_video):
    clip = FakeClipClassifier()
    res = analyze_video(face_video, FakeClassifier(), VideoSettings(clip_every=3), clip_classifier=clip)
    clips = res.clips_table()
    assert len(clips) >= 8 and set(clips["face"]) == {"Face 1"}
    assert set(clips["clip_emotion"]) == {"surprise"}
    assert all(b.shape[1:] == (3, 48, 48) for b in clip.batches)
    assert (np.diff(clips["frame"]) == 3).all()  # a window every 3 analysed frames
    assert (clips["frame"] - clips["window_start"] == 2).all()  # of the last 3 analysed frames
    assert res.summary()["faces"]["Face 1"]["top_clip_emotion"] == "surprise"
    assert "top clip emotion" in res.summary_table()
    assert json.loads(res.to_json())["clip_labels"] == ["happy", "surprise"]


def test_stop_keeps_a_partial_result(face_video):
    job = VideoAnalysis(face_video, FakeClassifier())
    res = job.run(should_stop=lambda: job.decoded >= 12)
    assert res.stopped and res.frames_decoded == 12
    assert decode_count(res.video) == 12
    assert sorted(res.timeline()["second"].unique()) == [0, 1]


def test_interrupted_run_still_gives_a_result(face_video):
    """Streamlit stops a script by raising inside a callback: the state so far must stay usable."""

    class Interrupt(BaseException):
        pass

    def progress(frac, text):
        if job.decoded >= 10:
            raise Interrupt

    job = VideoAnalysis(face_video, FakeClassifier())
    with pytest.raises(Interrupt):
        job.run(progress=progress)
    res = job.result()
    assert res.stopped and res.frames_decoded == 10 and decode_count(res.video) == 10


def test_webm_and_downscaling(face_video):
    data = encode(face_frames(3, 3), codec="libvpx-vp9", fmt="webm")
    res = analyze_video(data, FakeClassifier(), VideoSettings(max_side=240))
    assert res.frames_decoded == 6 and res.info.container.startswith("matroska")
    with av.open(io.BytesIO(res.video)) as c:
        assert next(c.decode(c.streams.video[0])).width == 240


def test_limits_and_bad_files(face_video):
    with pytest.raises(VideoError, match="too large"):
        probe(face_video, VideoSettings(max_mb=len(face_video) / 2e6))
    with pytest.raises(VideoError, match="too long.*Received: 3"):
        probe(face_video, VideoSettings(max_seconds=2))
    with pytest.raises(VideoError, match="Could not read the file as a video") as bad:
        probe(b"this is not a video at all" * 100)
    assert "Invalid data" in str(bad.value) and "Errno" not in str(bad.value)  # FFmpeg's reason, in words
    with pytest.raises(VideoError, match="Could not read the file as a video"):
        probe(face_video[: len(face_video) // 2])  # a cut-off mp4 (its index is at the end)
    with pytest.raises(VideoError, match="empty"):
        probe(b"")
    with pytest.raises(VideoError, match="no video stream.*audio"):
        probe(audio_only())


def test_real_models_on_the_video(face_video, tiny_run):
    """The trained frame classifier and an (untrained) clip model run end to end."""
    from fer_core.inference.classifier import load_classifier
    from fer_core.live.clips import ClipClassifier
    from fer_core.training.architectures import create_model

    clip = ClipClassifier(create_model("ck_convlstm", 5), ("happy", "surprise", "angry", "sad", "fear"))
    res = analyze_video(face_video, load_classifier(tiny_run), VideoSettings(every=3), clip_classifier=clip)
    assert res.faces == ["Face 1"] and res.frames_decoded == 30
    assert len(res.clips) >= 1 and set(res.clips_table()["clip_emotion"]) <= set(clip.labels)


def test_upright_and_output_size():
    from fer_core.live.video import output_size, upright

    img = np.zeros((20, 40, 3), np.uint8)
    img[0, 0] = 255  # top-left marker
    assert upright(img, 0) is img
    turned = upright(img, -90)  # FFmpeg turns a -90 display rotation 90 degrees clockwise (portrait phone video)
    assert turned.shape == (40, 20, 3) and turned[0, -1, 0] == 255
    assert upright(img, 90)[-1, 0, 0] == 255
    assert upright(img, 180)[-1, -1, 0] == 255
    assert output_size(1920, 1080, 720) == (720, 404)
    assert output_size(481, 321, 720) == (480, 320)
