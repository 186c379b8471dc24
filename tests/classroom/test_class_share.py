"""fer_core.classroom.share: completed seconds of a live record go to the class store in batches, only after consent, with
the main face per second; resets, database outages, the end of the lesson, idling and leaving are handled."""
from __future__ import annotations

import gc
import time

import numpy as np
import pytest

from fer_core.classroom.share import ClassShare, second_row
from fer_core.classroom.store import ClassStore, ClassStoreUnavailable
from fer_core.live.engagement import EngagementRecorder, FaceObservation
from fer_core.labels import EMOTIONS

from factories import Clock

T0 = 1_700_000_000.0


class Source:
    """Stands in for a LiveProcessor: the share only reads ``.recorder``."""

    def __init__(self):
        self.recorder = EngagementRecorder(EMOTIONS)


def probs(label: str) -> np.ndarray:
    p = np.full(len(EMOTIONS), 0.02)
    p[EMOTIONS.index(label)] = 0.88
    return p


def feed(src: Source, start: float, seconds: float, faces=lambda t: [FaceObservation("Face 1", probs("neutral"))],
         fps: int = 10) -> None:
    """Frames at ``fps`` from monotonic ``start`` for ``seconds``; wall clock = T0 + monotonic time."""
    for i in range(int(seconds * fps)):
        t = start + i / fps
        src.recorder.observe(t, faces(t), wall_time=T0 + t)


@pytest.fixture
def setup():
    wall, mono = Clock(T0), Clock(0.0)
    store = ClassStore("sqlite://", clock=wall)
    session, _ = store.create_session()
    person = store.join(session.join_code, "Ana")
    src = Source()
    share = ClassShare(store, person, src, clock=wall, monotonic=mono, start=False)
    return store, session, person, src, share, wall, mono


def test_completed_seconds_go_in_one_batch_and_the_filling_one_waits(setup):
    store, session, person, src, share, wall, mono = setup
    feed(src, 0.0, 3.5)  # seconds 0, 1, 2 complete; 3 still filling
    assert share.flush() == 3
    df = store.seconds(session.id)
    assert df["t"].tolist() == [T0, T0 + 1, T0 + 2]
    assert df["present"].all() and set(df["emotion"]) == {"neutral"} and df["engagement"].tolist() == [1.0] * 3
    wall.t = T0 + 4.0
    assert share.flush() == 0  # second 3 began 1 s ago: it may still be filling
    wall.t = T0 + 5.0  # its first frame is 2 s old: it is complete
    assert share.flush() == 1 and store.count_seconds() == 4
    assert share.status().rows_sent == 4 and len(share.latencies) == 2


def test_nothing_recorded_before_consent_is_sent(setup):
    store, session, person, src, _, wall, mono = setup
    feed(src, 0.0, 5.0)  # the student watched themselves for 5 s before joining
    wall.t = T0 + 5.0
    share = ClassShare(store, person, src, clock=wall, monotonic=mono, start=False)
    feed(src, 5.0, 3.0)
    wall.t = T0 + 10.0
    share.flush()
    assert store.seconds(session.id)["t"].tolist() == [T0 + 5, T0 + 6, T0 + 7]


def test_main_face_per_second_and_seconds_without_a_face():
    rows = [{"face": "Face 1", "present": True, "frames_seen": 4, "dominant_emotion": "sad", "engagement": 0.2},
            {"face": "Face 2", "present": True, "frames_seen": 9, "dominant_emotion": "happy", "engagement": 0.6}]
    r = second_row(50, rows)
    assert (r.t, r.present, r.emotion, r.engagement) == (50, True, "happy", 0.6)
    gone = [{**rows[0], "present": False}]
    assert second_row(51, gone).present is False and second_row(52, []).emotion is None
    first = second_row(53, [], unconfirmed=1)  # a face detected, not yet named: in view, expression unknown
    assert (first.present, first.emotion, first.facing) == (True, None, None)


def test_seconds_before_the_first_face_are_absent_rows(setup):
    store, session, _, src, share, wall, _ = setup
    feed(src, 0.0, 4.0, faces=lambda t: [] if t < 2 else [FaceObservation("Face 1", probs("happy"))])
    wall.t = T0 + 6.0
    share.flush()
    df = store.seconds(session.id)
    assert df["present"].tolist() == [False, False, True, True]


def test_reset_restarts_the_record_without_duplicates(setup):
    store, session, _, src, share, wall, _ = setup
    feed(src, 0.0, 3.0)
    wall.t = T0 + 4.0
    assert share.flush() == 3
    src.recorder.reset()  # Reset on the Webcam page: seconds restart at 0
    feed(src, 10.0, 2.0)
    wall.t = T0 + 14.0
    assert share.flush() == 2
    assert store.seconds(session.id)["t"].tolist() == [T0, T0 + 1, T0 + 2, T0 + 10, T0 + 11]


class FlakyStore:
    """The real store, but unavailable for the first ``failures`` writes."""

    def __init__(self, store: ClassStore, failures: int):
        self.store, self.failures = store, failures

    def add_seconds(self, pid, rows):
        if self.failures:
            self.failures -= 1
            raise ClassStoreUnavailable("The class database cannot be used: it stays locked by another program.")
        return self.store.add_seconds(pid, rows)

    def __getattr__(self, name):
        return getattr(self.store, name)


def test_rows_wait_while_the_database_is_unavailable(setup):
    store, session, person, src, _, wall, mono = setup
    share = ClassShare(FlakyStore(store, failures=2), person, src, clock=wall, monotonic=mono, start=False)
    feed(src, 0.0, 2.5)
    assert share.flush() == 0
    assert share.status().pending == 2 and "locked" in share.status().error and share.sharing
    feed(src, 2.5, 2.0)
    assert share.flush() == 0 and share.status().pending == 4
    assert share.flush() == 4  # the database is back: nothing was lost
    assert store.seconds(session.id)["t"].tolist() == [T0 + k for k in range(4)]
    assert share.status().error == ""


def test_teacher_ending_the_lesson_ends_sharing(setup):
    store, session, _, src, share, _, mono = setup
    store.end_session(session.id)
    feed(src, 0.0, 2.5)
    assert share.flush() == 0
    status = share.status()
    assert not status.sharing and "ended the lesson" in status.ended


def test_leaving_sends_the_last_second_and_marks_left(setup):
    store, session, person, src, share, _, mono = setup
    feed(src, 0.0, 2.5)
    share.stop(leave=True)
    assert store.count_seconds(person.id) == 3  # seconds 0, 1 and the partial second 2
    assert store.participant(person.id).status == "left" and not share.sharing
    assert share.status().ended == "You left the class."


def test_background_thread_marks_absent_when_video_stops_and_ends_when_the_session_is_gone():
    store = ClassStore("sqlite://")
    session, _ = store.create_session()
    person = store.join(session.join_code, "Ana")
    src = Source()
    share = ClassShare(store, person, src, flush_every=0.05, absent_after=0.2, idle_stop_after=60)
    now = time.monotonic()
    src.recorder.observe(now, [FaceObservation("Face 1", probs("neutral"))])
    src.recorder.observe(now + 1.01, [FaceObservation("Face 1", probs("neutral"))])

    def wait(cond, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.02)

    wait(lambda: store.count_seconds(person.id) >= 1)
    wait(lambda: store.participant(person.id).status == "absent")  # no new second for absent_after
    del src
    gc.collect()
    wait(lambda: not share.sharing)  # the browser session (its processor) is gone
    assert "webcam session ended" in share.status().ended
    assert store.participant(person.id).status == "absent" and store.count_seconds(person.id) >= 1


def test_idle_for_too_long_ends_sharing(setup):
    store, session, person, src, _, wall, mono = setup
    share = ClassShare(store, person, src, clock=wall, monotonic=mono, flush_every=0.02, absent_after=1,
                       idle_stop_after=2)
    mono.t = 3.0
    deadline = time.monotonic() + 10
    while share.sharing and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "without video" in share.status().ended
    assert store.participant(person.id).status == "absent"


def test_bad_timings_are_refused(setup):
    store, _, person, src, _, _, _ = setup
    with pytest.raises(ValueError, match="absent_after <= idle_stop_after"):
        ClassShare(store, person, src, absent_after=30, idle_stop_after=10, start=False)


def test_through_the_process_writer_rows_are_batched_and_the_last_second_lands_before_leaving(setup):
    from fer_core.classroom.writer import ClassWriter

    store, session, person, src, _, wall, mono = setup
    writer = ClassWriter(store, start=False)
    share = ClassShare(store, person, src, clock=wall, monotonic=mono, start=False, writer=writer)
    feed(src, 0.0, 2.5)
    wall.t = T0 + 2.5
    assert share.flush() == 2  # queued for the writer, not yet written
    assert store.count_seconds(person.id) == 0 and share.status().pending == 2
    assert writer.flush() == 2
    assert share.status().rows_sent == 2 and share.status().pending == 0
    share.stop(leave=True)  # the filling second is written before the student is marked as having left
    assert store.seconds(session.id)["t"].tolist() == [T0, T0 + 1, T0 + 2]
    assert store.participant(person.id).status == "left"


def test_through_the_process_writer_the_end_of_the_lesson_ends_sharing(setup):
    from fer_core.classroom.writer import ClassWriter

    store, session, person, src, _, wall, mono = setup
    writer = ClassWriter(store, start=False)
    share = ClassShare(store, person, src, clock=wall, monotonic=mono, start=False, writer=writer)
    store.end_session(session.id)
    feed(src, 0.0, 2.5)
    wall.t = T0 + 2.5
    share.flush()
    writer.flush()
    share.flush()
    assert not share.sharing and "ended the lesson" in share.status().ended


def test_a_short_hole_without_processed_frames_is_filled_only_between_seconds_in_view(setup):
    """Issue 26: a busy server processes a student's frames in bursts; seconds without any processed frame between two
    seconds with the face (at most 2) are filled from the earlier one; a longer hole, or one next to an empty
    second, is not."""
    store, session, _, src, share, wall, _ = setup
    face = [FaceObservation("Face 1", probs("happy"))]
    for t, faces in [(0.1, face), (3.1, face), (7.1, face), (8.1, []), (10.1, face), (11.1, face)]:
        src.recorder.observe(t, faces, wall_time=T0 + t)
    wall.t = T0 + 20
    share.flush()
    df = store.seconds(session.id)
    assert df["t"].astype(int).tolist() == [int(T0) + k for k in (0, 1, 2, 3, 7, 8, 10, 11)]
    assert df["present"].tolist() == [True, True, True, True, True, False, True, True]
