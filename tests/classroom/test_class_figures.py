"""fer_core.classroom.figures: participant states and disengaged stretches, the class curve, emotions now, the lesson
summary (gaps and drop-outs count as absent) and its exports (the ``lesson`` fixture is tests/classroom/conftest.py's)."""
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


def test_summary_counts_gaps_and_dropouts_as_absent(lesson):
    store, session, clock, people = lesson
    store.add_seconds(people["ana"].id, [SecondRow(T0 + 30, True, "neutral", 0.9)])  # back after a 10 s gap
    clock.t = T0 + 40
    store.end_session(session.id)
    session = store.session(session.id)
    summary = cs.lesson_summary(session, store.participants(session.id), store.seconds(session.id), now=T0 + 100)
    by = {p["name"]: p for p in summary["participants"]}
    ana, ben, cleo, dan = by["Ana"], by["Ben"], by["Cleo"], by["Dan"]
    assert (ana["seconds_attended"], ana["seconds_present"], ana["seconds_absent"]) == (40, 21, 19)
    assert ana["longest_disengaged_seconds"] == 10 and ana["mean_engagement"] == pytest.approx(0.9)
    # Ben dropped at second 20 without leaving: absent until the lesson ended (at second 40)
    assert (ben["seconds_attended"], ben["seconds_present"]) == (40, 20)
    assert ben["longest_disengaged_seconds"] == 30 and ben["emotion_share"]["sad"] == pytest.approx(0.5)
    assert ben["mean_engagement"] == pytest.approx(0.35)
    assert dan["status"] == "left" and dan["seconds_attended"] == 6 and dan["seconds_present"] == 5
    assert cleo["seconds_attended"] == 0 and cleo["mean_engagement"] is None
    klass = summary["class"]
    assert klass["participants"] == 4 and klass["participants_with_data"] == 3
    assert klass["mean_engagement"] == pytest.approx((21 * 0.9 + 10 * 0.6 + 10 * 0.1 + 5 * 0.5) / 46)
    assert klass["emotion_share"]["neutral"] == pytest.approx(21 / 46)
    assert summary["session"]["live"] is False and summary["session"]["join_code"] == session.display_code

    table = cs.summary_table(summary)
    assert table["participant"].tolist() == ["Ana", "Ben", "Cleo", "Dan", "Whole class"]
    assert table.iloc[-1]["time present (s)"] == 46
    rows = list(csv.DictReader(io.StringIO(cs.summary_csv(summary))))
    assert rows[0]["participant"] == "Ana" and float(rows[0]["present (%)"]) == pytest.approx(100 * 21 / 40, rel=1e-3)
    doc = json.loads(cs.summary_json(summary, store.participants(session.id), store.seconds(session.id)))
    assert doc["class"]["participants"] == 4 and len(doc["timeline"]) == 20 + 20 + 5 + 1
    assert doc["timeline"][0]["time"].startswith("2023-11-14T22:13:20")
    timeline = list(csv.DictReader(io.StringIO(cs.timeline_csv(store.participants(session.id),
                                                              store.seconds(session.id)))))
    assert {r["participant"] for r in timeline} == {"Ana", "Ben", "Dan"}
