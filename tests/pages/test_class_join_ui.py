"""Joining a class from the Webcam page (AppTest): the consent notice, no sharing without consent, wrong codes,
duplicate names, leaving, the lesson ended by the teacher, and an unusable database that leaves the webcam working."""
from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest
from streamlit.testing.v1 import AppTest

from fer_core.classroom import store as classroom
from fer_core.classroom.share import ClassShare
from fer_core.classroom.store import ClassStore
from ui import class_store as class_store_ui, keys

from factories import UniformClassifier

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "2_Webcam.py")


@pytest.fixture
def streamer(streamer):
    """The Webcam page's stand-in for streamlit_webrtc (tests/pages/conftest.py), with a model and a runtime."""
    with mock.patch("ui.model_cache.cached_classifier", return_value=UniformClassifier()), \
            mock.patch("ui.model_cache.cached_runtime", return_value="CPU: Test CPU (2 cores)"):
        yield streamer


@pytest.fixture
def db(tmp_path, monkeypatch):
    """A class database file for the app (through FER_CLASS_DB) and the test's own store on the same file."""
    path = tmp_path / "class.sqlite3"
    monkeypatch.setenv(classroom.ENV_DB, str(path))
    monkeypatch.setenv(classroom.ENV_RETENTION_DAYS, "14")
    store = ClassStore(f"sqlite:///{path}")
    yield store
    store.close()
    class_store_ui.cached_store.clear()


@pytest.fixture
def apps():
    """AppTests of the Webcam page; their shares' threads are stopped afterwards."""
    made = []

    def make():
        at = AppTest.from_file(PAGE, default_timeout=60)
        made.append(at)
        return at
    yield make
    for at in made:
        share = at.session_state[keys.CLASS_SHARE] if keys.CLASS_SHARE in at.session_state else None
        if share is not None:
            share.stop(leave=False)


def texts(at) -> str:
    parts = [e.value for e in (*at.markdown, *at.caption, *at.info, *at.warning, *at.error, *at.success)]
    return "\n".join(str(p) for p in parts)


def fill(at, code: str, name: str = "", anonymous: bool = False, consent: bool = True):
    at.text_input(key=keys.CLASS_JOIN_CODE).input(code)
    at.text_input(key=keys.CLASS_JOIN_NAME).input(name)
    at.checkbox(key=keys.CLASS_JOIN_ANONYMOUS).set_value(anonymous)
    at.checkbox(key=keys.CLASS_JOIN_CONSENT).set_value(consent)
    at.button[[b.label for b in at.button].index("Join class")].click()
    return at.run()


def test_consent_notice_says_exactly_what_is_shared_and_nothing_without_consent(streamer, db, apps):
    session, _ = db.create_session("Maths")
    at = apps().run()
    assert not at.exception
    notice = texts(at)
    assert "whether a face is in view, whether it faces the screen, its dominant expression" in notice
    assert "Never a video frame or a picture of you" in notice and "14 days after the lesson started" in notice
    assert keys.CLASS_SHARE not in at.session_state
    fill(at, session.display_code, "Ana", consent=False)
    assert not at.exception
    assert "Nothing is shared without your consent" in at.error[0].value
    assert keys.CLASS_SHARE not in at.session_state and db.participants(session.id) == []
    assert streamer.called  # the webcam itself is there all along


def test_join_shares_then_leave_ends_sharing(streamer, db, apps):
    session, _ = db.create_session("Maths")
    at = fill(apps().run(), session.display_code.lower(), "Ana")
    assert not at.exception and not at.error
    share = at.session_state[keys.CLASS_SHARE]
    assert isinstance(share, ClassShare) and share.sharing
    assert share.participant.display_name == "Ana" and share._source() is at.session_state[keys.WEBCAM_PROCESSOR]
    # issue 26: the state in words; no video yet (the stand-in streamer does not play): connecting
    assert "Connecting: joined as **Ana**" in texts(at) and "0 seconds shared" in texts(at)
    assert [p.display_name for p in db.participants(session.id)] == ["Ana"]
    at.button(key=keys.CLASS_LEAVE).click().run()
    assert not at.exception
    assert keys.CLASS_SHARE not in at.session_state and not share.sharing
    assert db.participants(session.id)[0].status == "left"
    assert "Join class" in [b.label for b in at.button]  # the form is back


def test_duplicate_name_and_anonymous(streamer, db, apps):
    session, _ = db.create_session()
    db.join(session.join_code, "Ana")
    at = fill(apps().run(), session.join_code, "Ana")
    assert "as **Ana (2)**" in texts(at)
    other = fill(apps().run(), session.join_code, "ignored", anonymous=True)
    assert "as **Anonymous 1**" in texts(other)
    assert [p.display_name for p in db.participants(session.id)] == ["Ana", "Ana (2)", "Anonymous 1"]


def test_wrong_expired_or_ended_code_is_a_message(streamer, db, apps):
    at = fill(apps().run(), "ZZZ-ZZZ", "Ana")
    assert not at.exception and "No class uses this join code" in at.error[0].value
    ended, _ = db.create_session()
    db.end_session(ended.id)
    at = fill(at, ended.join_code, "Ana")
    assert "has ended" in at.error[0].value and keys.CLASS_SHARE not in at.session_state


def test_the_teacher_ending_the_lesson_shows_on_the_students_page(streamer, db, apps):
    session, _ = db.create_session()
    at = fill(apps().run(), session.join_code, "Ana")
    share = at.session_state[keys.CLASS_SHARE]
    db.end_session(session.id)
    proc = at.session_state[keys.WEBCAM_PROCESSOR]
    proc.recorder.observe(0.0, [])
    proc.recorder.observe(2.0, [])
    share.flush(final=True)  # the next write finds the lesson ended
    at.run()
    assert not at.exception
    assert "Lesson ended: your teacher ended the lesson and sharing stopped" in texts(at)
    assert share.status().lesson_ended and not share.sharing
    at.button(key=keys.CLASS_LEAVE).click().run()
    assert keys.CLASS_SHARE not in at.session_state


def test_corrupt_database_is_a_message_and_the_webcam_keeps_working(streamer, tmp_path, monkeypatch, apps):
    bad = tmp_path / "broken.sqlite3"
    bad.write_bytes(b"not a database " * 300)
    monkeypatch.setenv(classroom.ENV_DB, str(bad))
    at = apps().run()
    assert not at.exception and not at.error  # the database is opened only on Join
    at = fill(at, "ABC-DEF", "Ana")
    assert not at.exception
    error = at.error[0].value
    assert "not a valid SQLite database" in error and "the webcam works as usual without sharing" in error
    assert keys.CLASS_SHARE not in at.session_state
    assert streamer.call_args.kwargs["video_frame_callback"] == at.session_state[keys.WEBCAM_PROCESSOR].callback
    assert at.metric[0].label == "Faces present"
    class_store_ui.cached_store.clear()


def test_in_a_class_the_camera_sends_a_small_slow_stream_only_and_the_preview_brings_video_back(streamer, db, apps):
    from ui import webrtc as webrtc_ui

    session, _ = db.create_session("Maths")
    at = apps().run()
    alone = streamer.call_args.kwargs
    assert alone["mode"].name == "SENDRECV" and alone["media_stream_constraints"] == webrtc_ui.MEDIA_CONSTRAINTS
    at = fill(at, session.display_code, "Ana")
    share = at.session_state[keys.CLASS_SHARE]
    assert share._writer is not None  # the process's batched writer
    joined = streamer.call_args.kwargs
    assert joined["mode"].name == "SENDONLY" and joined["key"] != alone["key"]  # a new stream with new constraints
    video = joined["media_stream_constraints"]["video"]
    assert joined["media_stream_constraints"]["audio"] is False
    assert video["width"]["ideal"] <= 640 and video["height"]["ideal"] <= 360 and video["frameRate"]["max"] <= 10
    proc = at.session_state[keys.WEBCAM_PROCESSOR]
    assert proc.settings.annotate is False and "small, slow stream" in texts(at)
    from fer_core.live.batcher import BatchedClassifier

    at.run()  # the next run after joining: this student's faces go through the process's batched classifier
    assert isinstance(proc.classifier, BatchedClassifier)
    at.toggle(key=keys.WEBCAM_CLASS_PREVIEW).set_value(True).run()
    preview = streamer.call_args.kwargs
    assert preview["mode"].name == "SENDRECV" and preview["media_stream_constraints"] == joined["media_stream_constraints"]
    assert proc.settings.annotate is True
    at.button(key=keys.CLASS_LEAVE).click().run()
    assert streamer.call_args.kwargs["key"] == alone["key"] and proc.settings.annotate is True
    at.run()
    assert not isinstance(proc.classifier, BatchedClassifier)


def test_the_students_state_in_words_and_the_counter_while_streaming():
    """Issue 26: connecting, sharing, paused, lesson ended; the counter counts the seconds shared (sent and waiting)."""
    from fer_core.classroom.share import ShareStatus
    from fer_core.classroom.store import Participant
    from ui.class_join import share_state

    who = Participant(1, 1, "Ana", False, 0.0, None, "active", None)
    fresh = ShareStatus(who, True, 0, 0, None)
    assert share_state(fresh, playing=False, frames=0) == "connecting"
    assert share_state(fresh, playing=True, frames=5) == "connecting"  # playing, nothing recorded yet
    flowing = ShareStatus(who, True, 12, 2, 1.0)
    assert share_state(flowing, playing=True, frames=40) == "sharing"
    assert share_state(flowing, playing=False, frames=40) == "paused"
    assert share_state(ShareStatus(who, False, 12, 0, 1.0, ended="x", lesson_ended=True), True, 40) == "lesson ended"
    assert share_state(ShareStatus(who, False, 12, 0, 1.0, ended="You left."), True, 40) == "ended"


def test_the_poll_loop_redraws_the_share_while_the_stream_plays(monkeypatch):
    """The Webcam page's loop redraws the share panel on every tick while playing (not only after STOP)."""
    from types import SimpleNamespace

    from ui import webcam

    ticks = []
    state = SimpleNamespace(playing=True)
    ctx = SimpleNamespace(state=state)

    class Panel:
        def render(self, playing, frames):
            ticks.append((playing, frames))
            if len(ticks) == 3:
                state.playing = False

    proc = SimpleNamespace(snapshot=lambda: SimpleNamespace(frames=7))
    live = SimpleNamespace(render=lambda snap, playing: None)
    monitor = SimpleNamespace(render=lambda: None)
    monkeypatch.setattr(webcam.time, "sleep", lambda s: None)
    webcam.poll_while_playing(ctx, proc, live, monitor, Panel())
    assert ticks == [(True, 7)] * 3
