"""Class dashboard page (AppTest): create a session (code, token shown once), reopen it with the token after a reload,
the live view (metrics, disengaged list, charts, participant grid with sparklines), the summary with its downloads,
End lesson, and an unusable database shown as a message."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from fer_core.classroom import store as classroom
from fer_core.classroom.store import ClassStore, SecondRow, SessionClosed
from ui import class_store as class_store_ui, keys

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "5_Class_dashboard.py")


@pytest.fixture
def db(tmp_path, monkeypatch):
    path = tmp_path / "class.sqlite3"
    monkeypatch.setenv(classroom.ENV_DB, str(path))
    monkeypatch.delenv(classroom.ENV_RETENTION_DAYS, raising=False)
    store = ClassStore(f"sqlite:///{path}")
    yield store
    store.close()
    class_store_ui.cached_store.clear()


def texts(at) -> str:
    parts = [e.value for e in (*at.markdown, *at.subheader, *at.caption, *at.info, *at.warning, *at.error, *at.success,
                                *at.code)]
    return "\n".join(str(p) for p in parts)


def button(at, label: str):
    return at.button[[b.label for b in at.button].index(label)]


def test_create_shows_the_code_and_the_token_once(db):
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert "Start a class session" in texts(at) and "Reopen a session" in texts(at)
    assert "never a video frame" in texts(at) and "30 days" in texts(at)
    at.text_input(key=keys.CLASS_TITLE).input("Physics 2B")
    button(at, "Create session").click().run()
    assert not at.exception
    token = at.code[0].value
    session = db.open_session(token)  # the token shown opens the session stored in the database
    assert session.title == "Physics 2B" and session.live
    assert f"Join code: `{session.display_code}`" in texts(at) and "shown only now" in texts(at)
    assert "No student has joined yet" in texts(at)
    at.button(key=keys.CLASS_TOKEN_SAVED).click().run()
    assert not at.exception and token not in texts(at) and not at.code
    assert f"Join code: `{session.display_code}`" in texts(at)


def test_reload_needs_the_token_and_brings_the_state_back(db):
    session, token = db.create_session("History")
    db.join(session.join_code, "Ana")
    at = AppTest.from_file(PAGE, default_timeout=60).run()  # a new browser session: nothing is open
    assert "Join code" not in texts(at)
    at.text_input(key=keys.CLASS_TOKEN_INPUT).input("ABCDEF.wrong")
    button(at, "Open dashboard").click().run()
    assert not at.exception and "does not open any class session" in at.error[0].value
    at.text_input(key=keys.CLASS_TOKEN_INPUT).input(token)
    button(at, "Open dashboard").click().run()
    assert not at.exception
    assert f"Join code: `{session.display_code}`" in texts(at) and token not in texts(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Participants"] == "1" and metrics["Sharing now"] == "0"


def test_live_view_summary_and_end_of_lesson(db):
    session, token = db.create_session("Maths")
    now = int(time.time())
    ana, ben, cleo = (db.join(session.join_code, n) for n in ("Ana", "Ben", "Cleo"))
    db.add_seconds(ana.id, [SecondRow(now - 60 + k, True, "angry", 0.2, True) for k in range(59)])
    db.add_seconds(ben.id, [SecondRow(now - 60 + k, True, "neutral", 0.9, True) for k in range(15)]
                   + [SecondRow(now - 45 + k, True, "surprise", 0.3, False) for k in range(44)])  # turned away 44 s
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state[keys.CLASS_TEACHER_SESSION] = session.id  # as after Create / Open dashboard
    at.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Participants"] == "3" and metrics["Sharing now"] == "2"
    # issue 26: the signals apart, and the rule in words; an angry face facing the screen is not disengaged
    assert metrics["In view now"] == "2" and metrics["Facing the screen now"] == "1"
    assert metrics["Disengaged > 10 s"] == "1" and "Class engagement now" not in metrics
    assert "not in view, or not facing the screen, for more than 10 s" in texts(at) and "CI =" not in texts(at)
    alert = "\n".join(w.value for w in at.warning)
    assert "Disengaged for more than 10 s" in alert and "Ben (44 s, not facing the screen)" in alert
    assert "Ana" not in alert
    assert "**Sharing now:** Ana, Ben · **Waiting for video:** Cleo" in texts(at)
    assert len(at.get("plotly_chart")) == 2  # class curve and emotions now
    grid = at.dataframe[0].value.set_index("name")
    assert grid.loc["Ana", "status"] == "active" and grid.loc["Ana", "emotion"] == "angry"
    assert grid.loc["Ana", "in_view"] == "yes" and grid.loc["Ana", "facing"] == "100%"
    assert grid.loc["Ben", "facing"] == "0%" and grid.loc["Cleo", "facing"] == "—"
    assert grid.loc["Cleo", "status"] == "waiting for video" and grid.loc["Ben", "disengaged_s"] == 44
    assert len(grid.loc["Ana", "sparkline"]) == 30
    summary = at.dataframe[1].value  # in the live fragment: never "No participant yet." beside "Participants 3"
    assert summary["participant"].tolist() == ["Ana", "Ben", "Cleo", "Whole class"]
    assert "No participant yet." not in texts(at) and "sharma_concentration_index" not in summary
    assert "facing the screen (%)" in summary and "in view (%)" in summary
    assert {d.label for d in at.get("download_button")} == {"Summary (CSV)", "Per-second timeline (CSV)",
                                                            "Summary and timeline (JSON)"}
    at.sidebar.number_input(key=keys.CLASS_DISENGAGED_S).set_value(60).run()
    assert "for more than 60 s" in texts(at)
    assert {m.label: m.value for m in at.metric}["Disengaged > 60 s"] == "0"

    at.button(key=keys.CLASS_END).click().run()
    assert not at.exception
    assert not db.session(session.id).live and "ended at" in texts(at)
    assert not [b for b in at.button if b.label == "End lesson"]
    with pytest.raises(SessionClosed):
        db.add_seconds(ana.id, [SecondRow(now, True, "happy", 0.6)])
    assert {p.status for p in db.participants(session.id)} == {"left"}
    at.button(key=keys.CLASS_CLOSE).click().run()
    assert keys.CLASS_TEACHER_SESSION not in at.session_state and "Reopen a session" in texts(at)


def test_unusable_database_is_a_message(tmp_path, monkeypatch):
    bad = tmp_path / "broken.sqlite3"
    bad.write_bytes(b"garbage " * 500)
    monkeypatch.setenv(classroom.ENV_DB, str(bad))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert "not a valid SQLite database" in at.error[0].value and "Webcam page still works" in at.error[0].value
    monkeypatch.setenv(classroom.ENV_RETENTION_DAYS, "forever")
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception and "positive number of days" in at.error[0].value
    class_store_ui.cached_store.clear()


def test_the_dashboard_survives_a_reload_through_a_cookie_without_the_token(db, monkeypatch):
    """Issue 26: the browser that created the session gets a cookie with an opaque secret (never the token); a
    reload (a new browser session) reopens the dashboard from it; Close dashboard revokes it."""
    from ui import class_dashboard

    at = AppTest.from_file(PAGE, default_timeout=60).run()
    button(at, "Create session").click().run()
    token = at.code[0].value
    secret = at.session_state[keys.CLASS_TEACHER_SECRET]
    assert secret and secret != token and token.split(".")[1] not in secret
    script = "\n".join(str(h.proto.body) for h in at.get("html"))
    assert f"{class_dashboard.TEACHER_COOKIE}={secret}" in script and token not in script
    session = db.open_session(token)
    assert db.session_for_login(secret).id == session.id

    monkeypatch.setattr(class_dashboard, "teacher_cookie", lambda: secret)  # the browser sends its cookie back
    reloaded = AppTest.from_file(PAGE, default_timeout=60).run()  # a reload: a new browser session
    assert not reloaded.exception
    assert f"Join code: `{session.display_code}`" in texts(reloaded) and token not in texts(reloaded)
    assert "Reopen a session" not in texts(reloaded)
    reloaded.button(key=keys.CLASS_CLOSE).click().run()
    assert "Reopen a session" in texts(reloaded) and db.session_for_login(secret) is None
    assert "max-age=0" in "\n".join(str(h.proto.body) for h in reloaded.get("html"))  # the cookie is cleared
    again = AppTest.from_file(PAGE, default_timeout=60).run()
    assert "Reopen a session" in texts(again)  # a revoked secret opens nothing


def test_the_class_pages_warn_when_remote_students_need_a_turn_server(monkeypatch):
    from ui import webrtc

    monkeypatch.delenv(webrtc.ENV_ICE_SERVERS, raising=False)
    monkeypatch.setattr(webrtc.st, "secrets", {})
    assert webrtc.ice_warning("localhost") == "" and webrtc.ice_warning("127.0.0.1") == ""
    text = webrtc.ice_warning("class.example.org")
    assert "no TURN server is configured" in text and "deploy/README.md" in text and "class.example.org" in text
    monkeypatch.setenv(webrtc.ENV_ICE_SERVERS, '[{"urls": ["stun:stun.example.org:3478"]}]')
    assert webrtc.ice_warning("class.example.org")  # STUN alone does not relay
    monkeypatch.setenv(webrtc.ENV_ICE_SERVERS, '[{"urls": ["turn:turn.example.org:3478"], "username": "u", '
                                               '"credential": "p"}]')
    assert webrtc.ice_warning("class.example.org") == ""
