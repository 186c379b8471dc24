"""Issue 26: presence, honestly counted. Simulated students whose face is always in view, processed at 2 fps and at
6-7 fps on a busy server (frames come in bursts, some seconds get no processed frame at all), go through the whole
chain (``EngagementRecorder`` -> ``ClassShare`` -> ``ClassStore`` -> ``lesson_report``) and are present in at least
97% of their own session time; the time between their STOP and the end of the lesson is "left", not absent."""
from __future__ import annotations

import numpy as np
import pytest

from fer_core.classroom import summary
from fer_core.classroom.share import ClassShare
from fer_core.classroom.store import ClassStore
from fer_core.labels import EMOTIONS
from fer_core.live.engagement import EngagementRecorder, FaceObservation

from factories import Clock

T0 = 1_700_000_000.0


class Source:
    def __init__(self):
        self.recorder = EngagementRecorder(EMOTIONS)


def busy_frame_times(fps: float, seconds: int, seed: int) -> np.ndarray:
    """Processed-frame times at ``fps`` on average from a busy server: jittered, and every few seconds a stall
    (no frame for 1-2 s) followed by a burst."""
    rng = np.random.default_rng(seed)
    times = np.arange(0, seconds, 1 / fps) + rng.uniform(0, 0.8 / fps, int(seconds * fps))
    for start in range(3, seconds - 3, 6):  # a stall of 1.2-2.4 s every 6 s: the frames come after it
        stall = rng.uniform(1.2, 2.4)
        hit = (times >= start) & (times < start + stall)
        times[hit] = start + stall + rng.uniform(0, 0.2, hit.sum())
    return np.sort(times) + 0.37  # the record starts mid-second of the wall clock


def run_student(store, session, name, times, wall, mono, face=lambda t: True):
    wall.t = T0  # every student joins at the start (they are simulated one after the other)
    person = store.join(session.join_code, name)
    src = Source()
    share = ClassShare(store, person, src, clock=wall, monotonic=mono, start=False)
    p = np.full(len(EMOTIONS), 0.02)
    p[EMOTIONS.index("neutral")] = 0.88
    for k, t in enumerate(times):
        src.recorder.observe(float(t), [FaceObservation("Face 1", p)] if face(t) else [], wall_time=T0 + float(t))
        wall.t = T0 + float(t)
        if k % 7 == 0:
            share.flush()
    share.stop(leave=False)  # STOP: the last seconds go, the student is no longer sharing
    return person


@pytest.mark.parametrize("fps", [2.0, 6.5])
def test_a_face_always_in_view_is_present_in_97_percent_of_the_students_own_time(fps):
    wall = Clock(T0)
    store = ClassStore("sqlite://", clock=wall)
    session, _ = store.create_session("Presence")
    people = [run_student(store, session, f"S{k}", busy_frame_times(fps, 120, seed=k), wall, Clock(0.0))
              for k in range(3)]
    wall.t = T0 + 300  # the teacher ends the lesson three minutes after the students pressed STOP
    store.end_session(session.id)
    report = summary.lesson_report(store, session.id, T0 + 400)
    for entry in report.summary["participants"]:
        assert entry["share_present"] >= 0.97, entry
        assert entry["seconds_absent"] <= 3 and 115 <= entry["seconds_attended"] <= 122, entry  # STOP..end: left
    assert len(people) == 3


def test_seconds_without_the_face_stay_absent_and_long_holes_are_no_video():
    wall = Clock(T0)
    store = ClassStore("sqlite://", clock=wall)
    session, _ = store.create_session("Presence")
    times = np.concatenate([np.arange(0, 20, 0.5), np.arange(60, 80, 0.5)])  # camera off for 40 s in the middle
    run_student(store, session, "Ana", times, wall, Clock(0.0), face=lambda t: not 10 <= t < 15)
    report = summary.lesson_report(store, session.id, T0 + 100)
    (ana,) = report.summary["participants"]
    assert ana["seconds_attended"] == 40 and ana["seconds_present"] == 35 and ana["seconds_absent"] == 5
    assert ana["seconds_without_video"] == 40
