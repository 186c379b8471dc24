"""What the teacher's dashboard shows, read from the class database in one call each: ``live_state`` for the live
view (refreshed every few seconds) and ``lesson_report`` for the lesson summary and its downloads. They read through
``ClassStore`` and compute with the pure functions of ``fer_core.classroom.figures``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from ..labels import EMOTIONS
from . import figures
from .store import ClassSession, ClassStore, Participant

DISENGAGED_AFTER_S = figures.LOOKING_AWAY_AFTER_S  # the dashboard's default alert: not in view or not facing the
# screen for longer than this (10 s)


def disengaged_rule(after_s: float = DISENGAGED_AFTER_S) -> str:
    """The rule that marks a student disengaged, in plain words (shown on the dashboard, written in the exports)."""
    return (f"not in view, or not facing the screen, for more than {after_s:g} s "
            "(the expression does not count)")


class LiveTimeline:
    """A session's per-second rows for a live view: read whole once, then only the rows of the last ``late_s``
    seconds and newer (rows arrive in batches, a few seconds late) on each refresh."""

    def __init__(self, store: ClassStore, session_id: int, late_s: int = 30):
        self.store, self.session_id, self.late_s = store, session_id, late_s
        self._df: pd.DataFrame | None = None

    def refresh(self) -> pd.DataFrame:
        if self._df is None or self._df.empty:
            self._df = self.store.seconds(self.session_id)
        else:
            since = int(self._df["t"].max()) - self.late_s
            newer = self.store.seconds(self.session_id, since_t=since)
            kept = self._df[self._df["t"] <= since]
            self._df = (pd.concat([kept, newer], ignore_index=True) if len(newer) else kept.reset_index(drop=True))
        return self._df


@dataclass(frozen=True)
class LiveState:
    """Everything the live view shows, as of ``now``."""

    session: ClassSession
    now: float
    participants: int  # joined so far
    sharing_now: int  # participants whose status is "active"
    in_view_now: int  # students sharing now whose face is in view in their latest second
    facing_now: int | None  # of those, how many face the screen (most of their last seconds); None: unknown for all
    states: pd.DataFrame  # one row per participant (``figures.STATE_COLUMNS``)
    disengaged: pd.DataFrame  # the rows of ``states`` disengaged for longer than ``disengaged_after``, longest first
    disengaged_after: float
    curve: pd.DataFrame  # the class's engagement and presence over the lesson (``figures.class_curve``)
    emotions: dict[str, int]  # students in view per dominant emotion (``figures.emotions_now``)
    absent_after_s: float = figures.ABSENT_AFTER_S  # no row for this long: shown absent
    sparkline_s: int = figures.SPARKLINE_S  # the seconds each participant's sparkline covers


def live_state(store: ClassStore, session_id: int, now: float, *, disengaged_after: float = DISENGAGED_AFTER_S,
               timeline: LiveTimeline | None = None, labels: Sequence[str] = EMOTIONS) -> LiveState:
    """Read the session, its participants and its per-second rows (through ``timeline``, which a live view keeps
    between refreshes to read only what is new; a fresh one reads everything) and compute the live view.
    ``ClassroomError`` when the database cannot be read."""
    session = store.session(session_id)
    people = store.participants(session_id)
    seconds = (timeline or LiveTimeline(store, session_id)).refresh()
    states = figures.participant_states(session, people, seconds, now)
    active = states[states["status"] == "active"]
    in_view = active[active["in_view"].fillna(False).astype(bool)]
    known = in_view["facing"].dropna()
    return LiveState(
        session=session, now=now, participants=len(people), sharing_now=len(active), in_view_now=len(in_view),
        facing_now=int((known >= 0.5).sum()) if len(known) else None, states=states,
        disengaged=figures.disengaged_longer_than(states, disengaged_after), disengaged_after=disengaged_after,
        curve=figures.class_curve(seconds, session.created_at),
        emotions=figures.emotions_now(people, seconds, now, labels=labels))


@dataclass(frozen=True)
class LessonReport:
    """The lesson summary (``figures.lesson_summary``) with what it was computed from, and its exports."""

    session: ClassSession
    participants: list[Participant]
    seconds: pd.DataFrame
    summary: dict

    def table(self, research: bool = False) -> pd.DataFrame:
        """The summary for display: the signals apart, without Sharma's index (``research=True`` adds it)."""
        return figures.summary_table(self.summary, research=research)

    def summary_csv(self) -> str:
        return figures.summary_csv(self.summary)

    def timeline_csv(self) -> str:
        return figures.timeline_csv(self.participants, self.seconds)

    def to_json(self) -> str:
        return figures.summary_json(self.summary, self.participants, self.seconds)


def lesson_report(store: ClassStore, session_id: int, now: float,
                  disengaged_after: float = DISENGAGED_AFTER_S) -> LessonReport:
    """Read the session, its participants and all its rows, and summarise the lesson as of ``now`` (final once it
    has ended). ``ClassroomError`` when the database cannot be read."""
    session = store.session(session_id)
    people = store.participants(session_id)
    seconds = store.seconds(session_id)
    return LessonReport(session, people, seconds, figures.lesson_summary(session, people, seconds, now,
                                                                         disengaged_after=disengaged_after))
