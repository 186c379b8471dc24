"""Engagement monitor on scripted sequences: the concentration index, per-second rows, summary, exports, reset; eyes."""
from __future__ import annotations

import csv
import io
import json

import cv2
import numpy as np
import pytest

from fer_core.live.engagement import DISENGAGED_THRESHOLD, EngagementError, EngagementRecorder, EyeDetector, FaceObservation, concentration_index, emotion_shares, engagement_level
from fer_core.labels import EMOTIONS


def onehot(label: str, strength: float = 0.9) -> np.ndarray:
    p = np.full(len(EMOTIONS), (1 - strength) / (len(EMOTIONS) - 1))
    p[EMOTIONS.index(label)] = strength
    return p


def test_concentration_index_follows_sharma_weights():
    assert concentration_index("neutral", eyes=2) == pytest.approx(1.0)  # 0.9 * 5 / 4.5
    assert concentration_index("happy", eyes=2) == pytest.approx(0.6 * 5 / 4.5)
    assert concentration_index("disgust", eyes=2) == pytest.approx(0.2 * 5 / 4.5)
    assert concentration_index("neutral", eyes=1) == pytest.approx(0.9 * 2 / 4.5)
    assert concentration_index("neutral", eyes=0) == 0.0
    assert concentration_index("neutral", eyes=2, frontal=False) == 0.0
    assert [engagement_level(v) for v in (1.0, 0.5, 0.25, 0.1, float("nan"))] == [
        "highly engaged", "nominally engaged", "not engaged", "not engaged", ""]
    with pytest.raises(EngagementError, match="eyes must be"):
        concentration_index("neutral", eyes=3)
    with pytest.raises(EngagementError, match="Received: label='bored'"):
        EngagementRecorder(["bored", "neutral"])


def scripted_session() -> EngagementRecorder:
    """10 frames/s. Face 1: neutral with both eyes for 3 s, away 2 s, back sad (eyes, CI .33) for 1 s, then eyes
    closed 2 s (CI 0). Face 2 appears at second 4 for 2 s, happy, one eye."""
    rec = EngagementRecorder(EMOTIONS)
    for i in range(80):
        t = 100.0 + i / 10  # monotonic clock of any origin
        sec = i // 10
        faces = []
        if sec < 3:
            faces.append(FaceObservation("Face 1", onehot("neutral"), eyes=2))
        elif sec == 5:
            faces.append(FaceObservation("Face 1", onehot("sad"), eyes=2))
        elif sec >= 6:
            faces.append(FaceObservation("Face 1", onehot("neutral"), eyes=0))
        if sec in (4, 5):
            faces.append(FaceObservation("Face 2", onehot("happy"), eyes=1))
        rec.observe(t, faces, wall_time=1_700_000_000 + i / 10)
    return rec


def test_per_second_rows():
    rec = scripted_session()
    df = rec.timeline()
    assert list(df.columns) == rec.columns
    f1 = df[df.face == "Face 1"].set_index("second")
    assert list(f1.index) == list(range(8))
    assert f1.present.tolist() == [True, True, True, False, False, True, True, True]
    assert f1.loc[0, "dominant_emotion"] == "neutral" and f1.loc[0, "engagement"] == pytest.approx(1.0)
    assert f1.loc[0, "level"] == "highly engaged" and f1.loc[0, "frames"] == 10 and f1.loc[0, "frames_seen"] == 10
    assert np.isnan(f1.loc[3, "engagement"]) and f1.loc[3, "dominant_emotion"] == ""
    assert f1.loc[5, "dominant_emotion"] == "sad" and f1.loc[5, "engagement"] == pytest.approx(0.3 * 5 / 4.5)
    assert f1.loc[7, "engagement"] == 0.0 and f1.loc[7, "level"] == "not engaged"
    assert f1.loc[0, "p_neutral"] == pytest.approx(0.9)
    f2 = df[df.face == "Face 2"].set_index("second")
    assert list(f2.index) == [4, 5, 6, 7]  # rows start at the face's first appearance
    assert f2.present.tolist() == [True, True, False, False]
    assert f2.loc[4, "engagement"] == pytest.approx(0.6 * 2 / 4.5) and f2.loc[4, "both_eyes_share"] == 0.0


def test_a_face_seen_in_any_frame_of_a_second_is_present_in_it():
    """Issue 26: presence needs one processed frame with the face, not half of them (it was half: a student whose
    face the detector missed in a few frames, or whose track changed name mid-second, counted absent)."""
    rec = EngagementRecorder(EMOTIONS)
    for i in range(10):
        faces = [FaceObservation("Face 1", onehot("happy"))] if i == 3 else []
        rec.observe(i / 10, faces)
    rec.observe(1.0, [])  # a second with only an empty frame: not in view
    first, second = rec.rows()
    assert first["present"] is True and first["frames_seen"] == 1 and first["dominant_emotion"] == "happy"
    assert second["present"] is False and second["level"] == ""  # not in view, never "not engaged"


def test_summary():
    s = scripted_session().summary()
    assert s["recorded_seconds"] == 8 and s["started_at"].startswith("2023-11-14T22:13:20")
    f1, f2 = s["faces"]["Face 1"], s["faces"]["Face 2"]
    assert f1["seconds_present"] == 6 and f1["share_present"] == pytest.approx(6 / 8)
    assert f1["mean_engagement"] == pytest.approx((3 * 1.0 + 0.3 * 5 / 4.5 + 0 + 0) / 6)
    assert f1["emotion_share"]["neutral"] == pytest.approx(5 / 6) and f1["emotion_share"]["sad"] == pytest.approx(1 / 6)
    assert sum(f1["emotion_share"].values()) == pytest.approx(1.0)
    # seconds 3-4 absent, 5 present (CI .33 > .25, engaged), 6-7 eyes closed (CI 0)
    assert f1["longest_disengaged_seconds"] == 2
    assert f2["seconds_present"] == 2 and f2["longest_disengaged_seconds"] == 2  # absent in its last 2 seconds
    assert f2["emotion_share"]["happy"] == 1.0


def test_disengaged_stretch_breaks_on_recording_gaps_and_uses_threshold():
    rec = EngagementRecorder(EMOTIONS)
    for sec in (0, 1, 2, 10, 11):  # camera stopped between second 2 and 10
        rec.observe(sec + 0.5, [FaceObservation("Face 1", onehot("disgust"))])  # CI .22 <= .25
    assert rec.summary()["faces"]["Face 1"]["longest_disengaged_seconds"] == 3
    strict = EngagementRecorder(EMOTIONS, disengaged_threshold=0.2)
    strict.observe(0.0, [FaceObservation("Face 1", onehot("disgust"))])
    assert strict.summary()["faces"]["Face 1"]["longest_disengaged_seconds"] == 0
    assert DISENGAGED_THRESHOLD == 0.25


def test_exports_and_reset():
    rec = scripted_session()
    rows = list(csv.DictReader(io.StringIO(rec.to_csv())))
    assert len(rows) == 8 + 4 and rows[0]["face"] == "Face 1" and rows[0]["present"] == "True"
    assert rows[3]["engagement"] == ""  # absent: empty cell, not "nan"
    doc = json.loads(rec.to_json())
    assert doc["index"]["emotion_weights"]["neutral"] == 0.9 and doc["index"]["gaze_weights"]["both_eyes"] == 5.0
    assert doc["summary"]["faces"]["Face 1"]["seconds_present"] == 6
    assert len(doc["timeline"]) == 12 and doc["timeline"][3]["engagement"] is None
    rec.reset()
    assert rec.empty and rec.rows() == [] and rec.summary()["faces"] == {}
    assert len(rec.timeline()) == 0 and list(rec.timeline().columns) == rec.columns
    rec.observe(5.0, [FaceObservation("Face 3", onehot("fear"))])
    assert rec.rows()[0]["second"] == 0


def test_emotion_shares_over_a_window():
    df = scripted_session().timeline()
    shares = emotion_shares(df, EMOTIONS, window=1)
    assert list(shares.columns) == list(EMOTIONS) and list(shares.index) == list(range(8))
    assert shares.loc[0, "neutral"] == 1.0
    assert shares.loc[5, "sad"] == 0.5 and shares.loc[5, "happy"] == 0.5
    assert shares.loc[3].sum() == 0.0  # nobody present
    rolled = emotion_shares(df, EMOTIONS, window=10)
    assert rolled.loc[5, "neutral"] == pytest.approx(3 / 6)
    assert emotion_shares(df.iloc[0:0], EMOTIONS).empty


def test_wrong_probability_length_and_time_going_back():
    rec = EngagementRecorder(EMOTIONS)
    with pytest.raises(EngagementError, match="Expected 7 probabilities"):
        rec.observe(0.0, [FaceObservation("Face 1", np.ones(3) / 3)])
    rec.observe(10.0, [])
    rec.observe(12.0, [])
    with pytest.raises(EngagementError, match="back in time"):
        rec.observe(11.0, [])


def test_rows_read_while_recording_match_rows_read_at_the_end():
    live, batch = EngagementRecorder(EMOTIONS), EngagementRecorder(EMOTIONS)
    seen = []
    for i in range(50):
        faces = [FaceObservation("Face 1", onehot("happy" if i % 7 else "sad"), eyes=i % 3)]
        if i > 23:
            faces.append(FaceObservation("Face 2", onehot("neutral")))
        for rec in (live, batch):
            rec.observe(i / 8, faces, wall_time=1e9 + i / 8)
        seen.append(len(live.rows()))  # rows of finished seconds are cached between reads
    assert seen == sorted(seen)
    a, b = live.timeline(), batch.timeline()
    assert a.fillna(-1).equals(b.fillna(-1)) and len(a) == 7 + 4


def test_subset_labels_and_contempt():
    rec = EngagementRecorder(["happy", "contempt"])
    rec.observe(0.0, [FaceObservation("Face 1", [0.2, 0.8], eyes=2)])
    assert rec.rows()[0]["engagement"] == pytest.approx(0.2 * 5 / 4.5)


def test_eye_detector_finds_both_eyes_of_a_real_face():
    skdata = pytest.importorskip("skimage.data")
    gray = cv2.cvtColor(skdata.astronaut()[:, :, ::-1], cv2.COLOR_BGR2GRAY)
    faces = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml").detectMultiScale(
        gray, 1.1, 5, minSize=(60, 60))
    assert len(faces) == 1
    eyes = EyeDetector()
    assert eyes.count(gray, tuple(faces[0])) == 2
    x, y, w, h = faces[0]
    closed = gray.copy()
    closed[y + h // 5: y + h // 2, x: x + w] = int(np.median(gray[y:y + h, x:x + w]))  # paint the eyes out
    assert eyes.count(closed, tuple(faces[0])) == 0
    assert eyes.count(gray, (0, 0, 10, 10)) == 0  # too small a box
    with pytest.raises(ValueError, match="grey"):
        eyes.count(np.zeros((10, 10, 3), np.uint8), (0, 0, 5, 5))


def test_completed_seconds_for_forwarding_to_a_class():
    rec = EngagementRecorder(EMOTIONS)
    rec.observe(0.0, [], wall_time=100.0)  # no face yet: the second exists, without rows
    rec.observe(0.5, [], unconfirmed=True)  # a face detected, not yet named by the tracker
    rec.observe(1.0, [FaceObservation("Face 1", onehot("happy"))], wall_time=101.0)
    rec.observe(1.5, [FaceObservation("Face 1", onehot("happy"))], unconfirmed=True)  # a named face: not counted
    rec.observe(2.5, [FaceObservation("Face 1", onehot("happy"))], wall_time=102.5)
    resets, seconds = rec.completed_seconds()
    assert resets == 0 and [(s, w) for s, w, _, _ in seconds] == [(0, 100.0), (1, 101.0)]  # second 2 still fills
    assert seconds[0][2] == [] and seconds[1][2][0]["face"] == "Face 1" and seconds[1][2][0]["present"]
    assert [u for _, _, _, u in seconds] == [1, 0]
    assert [s for s, _, _, _ in rec.completed_seconds(after=0, include_latest=True)[1]] == [1, 2]
    rec.reset()
    assert rec.completed_seconds() == (1, [])
