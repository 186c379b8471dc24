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
    assert s.loc["Ana", "emotion"] == "neutral" and s.loc["Ana", "engagement"] == pytest.approx(0.9)
    assert s.loc["Ana", "level"] == "highly engaged" and s.loc["Ana", "disengaged_s"] == 0
    assert s.loc["Ben", "emotion"] == "sad" and s.loc["Ben", "disengaged_s"] == 10
    assert s.loc["Ben", "level"] == "not engaged"
    assert len(s.loc["Ana", "sparkline"]) == 10 and s.loc["Ana", "sparkline"][-1] == pytest.approx(0.9)
    assert s.loc["Cleo", "sparkline"] == [] and s.loc["Dan", "disengaged_s"] == 0

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
    assert ana["longest_disengaged_seconds"] == 2 and ana["mean_engagement"] == pytest.approx(0.9)
    # Ben dropped at second 20 without leaving: the seconds after his last one are not absent
    assert (ben["seconds_attended"], ben["seconds_present"]) == (20, 20)
    assert ben["longest_disengaged_seconds"] == 10 and ben["emotion_share"]["sad"] == pytest.approx(0.5)
    assert ben["mean_engagement"] == pytest.approx(0.35)
    assert dan["status"] == "left" and dan["seconds_attended"] == 5 and dan["seconds_present"] == 5
    assert cleo["seconds_attended"] == 0 and cleo["mean_engagement"] is None
    klass = summary["class"]
    assert klass["participants"] == 4 and klass["participants_with_data"] == 3
    assert klass["mean_engagement"] == pytest.approx((22 * 0.9 + 10 * 0.6 + 10 * 0.1 + 5 * 0.5) / 47)
    assert klass["emotion_share"]["neutral"] == pytest.approx(22 / 47)
    assert summary["session"]["live"] is False and summary["session"]["join_code"] == session.display_code

    table = cs.summary_table(summary)
    assert table["participant"].tolist() == ["Ana", "Ben", "Cleo", "Dan", "Whole class"]
    assert table.iloc[-1]["time present (s)"] == 47
    rows = list(csv.DictReader(io.StringIO(cs.summary_csv(summary))))
    assert rows[0]["participant"] == "Ana" and float(rows[0]["present (%)"]) == pytest.approx(100 * 22 / 24, rel=1e-3)
    doc = json.loads(cs.summary_json(summary, store.participants(session.id), store.seconds(session.id)))
    assert doc["class"]["participants"] == 4 and len(doc["timeline"]) == 20 + 20 + 5 + 2
    assert doc["timeline"][0]["time"].startswith("2023-11-14T22:13:20")
    timeline = list(csv.DictReader(io.StringIO(cs.timeline_csv(store.participants(session.id),
                                                              store.seconds(session.id)))))
    assert {r["participant"] for r in timeline} == {"Ana", "Ben", "Dan"}
