"""fer_core.classroom.figures: participant states and disengaged stretches, the class curve, emotions now, the lesson
summary (short gaps count as absent; after STOP is "left") and its exports (the ``lesson`` fixture is tests/classroom/conftest.py's)."""
from __future__ import annotations

import csv
import io
import json

import pytest

from fer_core.classroom import figures as cs
from fer_core.classroom.store import SecondRow

from factories import CLASS_T0 as T0

def test_states_status_current_values_and_disengaged_stretch(lesson):
    store, session, _, _ = lesson
    states = cs.participant_states(session, store.participants(session.id), store.seconds(session.id), now=T0 + 21)
    s = states.set_index("name")
    assert s["status"].to_dict() == {"Ana": "active", "Ben": "active", "Cleo": "waiting for video", "Dan": "left"}
    # issue 26: in view, facing the screen and the expression apart; Ben is disengaged because he turned away (not
    # because he looks sad: it was "engagement index <= 0.25")
    assert s.loc["Ana", "emotion"] == "neutral" and s.loc["Ana", "in_view"] and s.loc["Ana", "facing"] == 1.0
    assert s.loc["Ana", "disengaged_s"] == 0
    assert s.loc["Ben", "emotion"] == "sad" and s.loc["Ben", "in_view"] and s.loc["Ben", "facing"] == 0.0
    assert s.loc["Ben", "disengaged_s"] == 10
    assert len(s.loc["Ana", "sparkline"]) == 10 and s.loc["Ana", "sparkline"][-1] == pytest.approx(1.0)
    assert s.loc["Ben", "sparkline"][-1] == pytest.approx(0.5)  # in view, turned away
    assert s.loc["Cleo", "sparkline"] == [] and s.loc["Dan", "disengaged_s"] == 0
    assert s.loc["Dan", "emotion"] == "" and s.loc["Dan", "sparkline"] == []  # left: nothing stale

    later = cs.participant_states(session, store.participants(session.id), store.seconds(session.id), now=T0 + 45)
    s = later.set_index("name")  # nobody sent a row for 25 s: absent, and the absence extends the stretch
    assert s.loc["Ana", "status"] == "absent" and s.loc["Ana", "emotion"] == ""
    assert s.loc["Ana", "disengaged_s"] == 25 and s.loc["Ben", "disengaged_s"] == 35
    hit = cs.disengaged_longer_than(later, 30)
    assert hit["name"].tolist() == ["Ben"]
    assert cs.disengaged_longer_than(later, 10)["name"].tolist() == ["Ben", "Ana"]


def test_class_curve_means_over_present_students_and_bins(lesson):
    store, session, _, _ = lesson
    curve = cs.class_curve(store.seconds(session.id), session.created_at)
    assert len(curve) == 20 and curve["minute"].iloc[0] == pytest.approx(0.0)
    assert curve["mean_engagement"].iloc[0] == pytest.approx((0.9 + 0.6 + 0.5) / 3)
    assert curve["mean_engagement"].iloc[15] == pytest.approx((0.9 + 0.1) / 2)
    assert curve["present"].tolist()[:6] == [3, 3, 3, 3, 3, 2]
    binned = cs.class_curve(store.seconds(session.id), session.created_at, max_points=5)
    assert len(binned) == 5 and binned["minute"].iloc[1] == pytest.approx(4 / 60)
    assert cs.class_curve(store.seconds(session.id + 1), session.created_at).empty  # a session without rows


def test_emotions_now_counts_each_students_latest_second(lesson):
    store, session, _, _ = lesson
    now = cs.emotions_now(store.participants(session.id), store.seconds(session.id), now=T0 + 21)
    assert now["neutral"] == 1 and now["sad"] == 1 and sum(now.values()) == 2  # Dan left, Cleo has no video
    assert sum(cs.emotions_now(store.participants(session.id), store.seconds(session.id), now=T0 + 60).values()) == 0


def test_summary_counts_short_gaps_as_absent_and_the_time_after_stop_as_left(lesson):
    """Issue 26 changed this: a student's presence counts over their own session time (first to last second with
    video); the seconds after it (STOP, dropping out, before the end of the lesson) are "left", not absent, and a
    hole of 10 s or more is "no video". It was: every second to the end of the lesson, holes included, was absent."""
    store, session, clock, people = lesson
    store.add_seconds(people["ana"].id, [SecondRow(T0 + 30, True, "neutral", 0.9)])  # back after a 10 s hole
    store.add_seconds(people["ana"].id, [SecondRow(T0 + 33, True, "neutral", 0.9)])  # and a 2 s hole: absent
    clock.t = T0 + 40
    store.end_session(session.id)
    session = store.session(session.id)
    summary = cs.lesson_summary(session, store.participants(session.id), store.seconds(session.id), now=T0 + 100)
    by = {p["name"]: p for p in summary["participants"]}
    ana, ben, cleo, dan = by["Ana"], by["Ben"], by["Cleo"], by["Dan"]
    assert (ana["seconds_attended"], ana["seconds_present"], ana["seconds_absent"]) == (24, 22, 2)
    assert ana["seconds_without_video"] == 10
    assert ana["longest_disengaged_seconds"] == 2 and ana["sharma_concentration_index"] == pytest.approx(0.9)
    assert ana["share_facing"] == 1.0 and ana["disengaged_seconds"] == 0
    # Ben dropped at second 20 without leaving: the seconds after his last one are not absent
    assert (ben["seconds_attended"], ben["seconds_present"]) == (20, 20)
    assert ben["longest_disengaged_seconds"] == 10 and ben["emotion_share"]["sad"] == pytest.approx(0.5)
    assert ben["share_facing"] == pytest.approx(0.5) and ben["seconds_turned_away"] == 10
    assert ben["disengaged_seconds"] == 0  # 10 s turned away is not *more than* 10 s
    assert ben["sharma_concentration_index"] == pytest.approx(0.35)
    assert dan["status"] == "left" and dan["seconds_attended"] == 5 and dan["seconds_present"] == 5
    assert cleo["seconds_attended"] == 0 and cleo["sharma_concentration_index"] is None
    klass = summary["class"]
    assert klass["participants"] == 4 and klass["participants_with_data"] == 3
    assert klass["sharma_concentration_index"] == pytest.approx((22 * 0.9 + 10 * 0.6 + 10 * 0.1 + 5 * 0.5) / 47)
    assert klass["emotion_share"]["neutral"] == pytest.approx(22 / 47)
    assert summary["session"]["live"] is False and summary["session"]["join_code"] == session.display_code

    table = cs.summary_table(summary)
    assert table["participant"].tolist() == ["Ana", "Ben", "Cleo", "Dan", "Whole class"]
    assert table.iloc[-1]["in view (s)"] == 47
    rows = list(csv.DictReader(io.StringIO(cs.summary_csv(summary))))
    assert rows[0]["participant"] == "Ana" and float(rows[0]["in view (%)"]) == pytest.approx(100 * 22 / 24, rel=1e-3)
    doc = json.loads(cs.summary_json(summary, store.participants(session.id), store.seconds(session.id)))
    assert doc["class"]["participants"] == 4 and len(doc["timeline"]) == 20 + 20 + 5 + 2
    assert doc["timeline"][0]["time"].startswith("2023-11-14T22:13:20")
    timeline = list(csv.DictReader(io.StringIO(cs.timeline_csv(store.participants(session.id),
                                                              store.seconds(session.id)))))
    assert {r["participant"] for r in timeline} == {"Ana", "Ben", "Dan"}


def test_the_expression_is_never_engagement():
    """Issue 26: an angry student facing the screen is not disengaged, a surprised one turned away for 15 s is (it
    was the other way round: anger scored 0.28 'nominally engaged', surprise 0.67 'highly engaged')."""
    from fer_core.classroom.store import ClassStore

    store = ClassStore("sqlite://")
    session, _ = store.create_session()
    ang, sur = (store.join(session.join_code, n) for n in ("Angry", "Surprised"))
    store.add_seconds(ang.id, [SecondRow(T0 + k, True, "angry", 0.28, True) for k in range(20)])
    store.add_seconds(sur.id, [SecondRow(T0 + k, True, "surprise", 0.27, False) for k in range(20)])
    states = cs.participant_states(session, store.participants(session.id), store.seconds(session.id), now=T0 + 21)
    s = states.set_index("name")
    assert s.loc["Angry", "disengaged_s"] == 0 and s.loc["Surprised", "disengaged_s"] == 20
    assert "level" not in states and "engagement" not in states  # no engagement label from an emotion
    summary = cs.lesson_summary(session, store.participants(session.id), store.seconds(session.id), now=T0 + 21)
    by = {p["name"]: p for p in summary["participants"]}
    assert by["Angry"]["disengaged_seconds"] == 0 and by["Surprised"]["disengaged_seconds"] == 20


def test_a_database_from_before_the_facing_column_gets_it(tmp_path):
    import sqlalchemy as sa

    from fer_core.classroom.store import ClassStore

    path = tmp_path / "old.sqlite3"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:  # the old table, without "facing"
        conn.exec_driver_sql("CREATE TABLE participant_second (participant_id INTEGER NOT NULL, t INTEGER NOT NULL, "
                             "present BOOLEAN NOT NULL, emotion VARCHAR(16), engagement FLOAT, "
                             "PRIMARY KEY (participant_id, t))")
    engine.dispose()
    store = ClassStore(f"sqlite:///{path}")
    session, _ = store.create_session()
    ana = store.join(session.join_code, "Ana")
    store.add_seconds(ana.id, [SecondRow(T0, True, "happy", None, False)])
    assert store.seconds(session.id)["facing"].tolist() == [False]
    store.close()


def test_a_second_in_view_with_the_expression_unknown(lesson):
    """The first sighting of a face (not yet named by the tracker) is stored as in view without an expression: it
    counts as present, adds to no expression and is exported as such."""
    store, session, clock, people = lesson
    cleo = people["cleo"]
    store.add_seconds(cleo.id, [SecondRow(T0, True)] + [SecondRow(T0 + k, True, "happy", 0.6, True) for k in (1, 2)])
    clock.t = T0 + 3
    seconds = store.seconds(session.id)
    summary = cs.lesson_summary(session, store.participants(session.id), seconds, now=T0 + 3)
    entry = next(p for p in summary["participants"] if p["name"] == "Cleo")
    assert (entry["seconds_present"], entry["seconds_absent"]) == (3, 0)
    shares = entry["emotion_share"]
    assert shares["happy"] == pytest.approx(2 / 3) and sum(shares.values()) == pytest.approx(2 / 3)
    rows = [r for r in cs.timeline_rows(store.participants(session.id), seconds) if r["participant"] == "Cleo"]
    assert [(r["in_view"], r["expression"]) for r in rows] == [(True, None), (True, "happy"), (True, "happy")]
    store.add_seconds(cleo.id, [SecondRow(T0 + 3, True)])
    now = cs.emotions_now(store.participants(session.id), store.seconds(session.id), now=T0 + 4)
    assert now["happy"] == 0 and "" not in now and "None" not in now
