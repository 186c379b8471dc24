"""fer_core.classroom.summary: what the teacher's dashboard reads in one call (the live state, the lesson report) and
the incremental live timeline behind the live view."""
from __future__ import annotations

import csv
import io
import json

from fer_core.classroom import figures, summary
from fer_core.classroom.store import SecondRow

from factories import CLASS_T0 as T0


def test_live_state_holds_everything_the_live_view_shows(lesson):
    store, session, _, _ = lesson
    state = summary.live_state(store, session.id, T0 + 21, disengaged_after=5)
    assert state.session.id == session.id and state.now == T0 + 21
    assert state.participants == 4 and state.sharing_now == 2  # Ana and Ben; Cleo waits for video, Dan left
    # issue 26: the signals apart (it was one "engagement now" mean of Sharma's index)
    assert state.in_view_now == 2 and state.facing_now == 1  # Ben is in view but turned away
    assert state.disengaged["name"].tolist() == ["Ben"] and state.disengaged_after == 5
    assert state.states["name"].tolist() == ["Ana", "Ben", "Cleo", "Dan"]
    assert list(state.curve.columns) == ["minute", "mean_engagement", "present", "facing", "reporting"] and len(state.curve)
    assert state.emotions["neutral"] == 1 and state.emotions["sad"] == 1 and sum(state.emotions.values()) == 2
    assert state.absent_after_s == figures.ABSENT_AFTER_S and state.sparkline_s == figures.SPARKLINE_S


def test_live_state_with_nobody_sharing_has_no_signal_now(lesson):
    store, session, _, _ = lesson
    state = summary.live_state(store, session.id, T0 + 45)  # no row for 25 s: everyone absent
    assert state.sharing_now == 0 and state.in_view_now == 0 and state.facing_now is None
    grid = state.states.set_index("name")  # nothing stale stays in the grid of those not sharing
    assert grid["emotion"].tolist() == ["", "", "", ""] and grid["in_view"].isna().all()
    assert grid["facing"].isna().all() and all(s == [] for s in grid["sparkline"])


def test_lesson_report_and_its_exports(lesson):
    store, session, _, _ = lesson
    report = summary.lesson_report(store, session.id, T0 + 21)
    assert [p.display_name for p in report.participants] == ["Ana", "Ben", "Cleo", "Dan"]
    assert report.summary == figures.lesson_summary(report.session, report.participants, report.seconds, T0 + 21)
    assert report.table()["participant"].iloc[-1] == "Whole class"
    assert figures.INDEX_NAME not in report.table() and figures.INDEX_NAME in report.table(research=True)
    rows = list(csv.DictReader(io.StringIO(report.summary_csv())))  # the research index, named, and the rule
    assert figures.INDEX_NAME in rows[0] and rows[0]["disengaged_rule"] == summary.disengaged_rule()
    assert rows[0]["disengaged_rule"].startswith("not in view, or not facing the screen, for more than 10 s")
    doc = json.loads(report.to_json())
    assert doc["definitions"]["disengaged"] == summary.disengaged_rule() and "engagement" not in doc["definitions"]
    assert "mean_engagement" not in doc["participants"][0] and figures.INDEX_NAME in doc["participants"][0]
    assert {r["participant"] for r in csv.DictReader(io.StringIO(report.timeline_csv()))} == {"Ana", "Ben", "Dan"}
    assert json.loads(report.to_json())["class"]["participants"] == 4


def test_live_timeline_reads_only_new_rows_and_catches_late_ones(lesson):
    store, session, _, people = lesson
    live = summary.LiveTimeline(store, session.id, late_s=30)
    assert len(live.refresh()) == 45
    calls = []
    original = store.seconds
    store.seconds = lambda sid, since_t=None: calls.append(since_t) or original(sid, since_t=since_t)
    store.add_seconds(people["ana"].id, [SecondRow(T0 + 20, True, "happy", 0.6)])
    store.add_seconds(people["cleo"].id, [SecondRow(T0 + 2, False)])  # late, but within the margin
    df = live.refresh()
    assert calls == [T0 + 19 - 30] and len(df) == 47
    assert df.duplicated(["participant_id", "t"]).sum() == 0
