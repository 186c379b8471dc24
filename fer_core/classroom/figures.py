"""Class figures (numbers, not charts) from the stored per-second rows (``ClassStore.seconds``): the class's
engagement curve, the emotions now, each participant's state, who has been disengaged for long, and the after-lesson
summary with its CSV/JSON exports. Pure functions over the store's tables: this module never reads the database
(``fer_core.classroom.summary`` does, and calls these).

Definitions. Three signals per second, kept apart: *in view* (a face in at least one processed frame of the second),
*facing the screen* (the head pose from YuNet's landmarks, ``fer_core.inference.head_pose``; unknown without
landmarks) and the *expression* (the dominant emotion; never a measure of engagement). A second is *disengaged* when
the student was not in view or not facing the screen; the teacher is alerted when that lasts longer than a set time
(``DISENGAGED_RULE``, 10 s by default). Sharma et al.'s concentration index stays in the exports only, as a named
research index (``sharma_concentration_index``). A student's own session time runs from their first stored
second to their last one (when they pressed STOP, left, or the lesson ended): the seconds after it are "left", not
absent. Inside it, a hole of fewer than ``ABSENT_AFTER_S`` seconds without rows (the connection stalled) counts as
absent; a longer hole is "no video" (the student stopped their camera and started again) and is not counted either
way. Presence (``share_present``) is seconds present over the seconds of that session time. The class's engagement at a
second is the mean over the students present in it.
"""
from __future__ import annotations

import csv
import io
import math
from datetime import datetime, timezone
from typing import Sequence

import numpy as np
import pandas as pd

from .. import json_safe
from ..labels import EMOTIONS
from ..live.engagement import DISENGAGED_RULE as _RULE
from ..live.engagement import DISENGAGED_THRESHOLD, FACING_RULE, LOOKING_AWAY_AFTER_S
from .store import ClassSession, Participant

DISENGAGED_RULE = _RULE  # "not in view, or not facing the screen, for more than 10 s (...)"
INDEX_NAME = "sharma_concentration_index"  # the research index's name in the exports
ABSENT_AFTER_S = 10  # no row for this long: shown absent (rows arrive a few seconds late, in batches)
RECENT_S = 5  # "engagement now" is the mean over a participant's last seconds
SPARKLINE_S = 120
STATE_COLUMNS = ["participant_id", "name", "status", "in_view", "facing", "emotion", "disengaged_s", "sparkline"]


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")


def _by_participant(seconds: pd.DataFrame) -> dict[int, pd.DataFrame]:
    return {int(pid): rows.sort_values("t") for pid, rows in seconds.groupby("participant_id")}


def _status(p: Participant, rows: pd.DataFrame | None, now: float, absent_after: float) -> str:
    if p.left_at is not None or p.status == "left":
        return "left"
    if rows is None or rows.empty:
        return "waiting for video"
    if p.status == "absent" or now - (int(rows["t"].iloc[-1]) + 1) > absent_after:
        return "absent"
    return "active"


def _end_t(p: Participant, session: ClassSession, rows: pd.DataFrame, now: float, absent_after: float) -> int:
    """The last second of a participant's own session time: their last stored second (see the module docstring;
    the seconds after it, between STOP and leaving or the end of the lesson, are "left", not absent)."""
    return int(rows["t"].iloc[-1])


def _attended(rows: pd.DataFrame, end_t: int, absent_after: float) -> np.ndarray:
    """Per second from the first row to ``end_t``: whether it belongs to the session time (holes of
    ``absent_after`` seconds or more without rows are "no video", outside it)."""
    t0 = int(rows["t"].iloc[0])
    n = max(end_t - t0 + 1, 1)
    has = np.zeros(n, bool)
    idx = rows["t"].to_numpy(np.int64) - t0
    has[idx[(idx >= 0) & (idx < n)]] = True
    keep = has.copy()
    padded = np.concatenate([[1], has.astype(np.int8), [1]])
    edges = np.flatnonzero(np.diff(padded))  # starts and ends of the holes
    for a, b in zip(edges[::2], edges[1::2]):
        if b - a < absent_after:
            keep[a:b] = True
    return keep


def _last_second(t: float) -> int:
    """The last whole second before clock time ``t`` (the second that ``t`` starts is not counted)."""
    return math.ceil(t) - 1


def _facing(rows: pd.DataFrame) -> np.ndarray:
    """The ``facing`` column as floats: 1 facing the screen, 0 turned away, NaN unknown or absent."""
    if "facing" not in rows:
        return np.full(len(rows), np.nan)
    return np.array([np.nan if v is None or (isinstance(v, float) and math.isnan(v)) else float(bool(v))
                     for v in rows["facing"].tolist()])


def _series(rows: pd.DataFrame, end_t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Per second from the first row to ``end_t``: present (bool), engagement (NaN when absent), emotion ('' when
    absent); missing seconds are absent. (``_facing_series`` gives the facing signal on the same axis.)"""
    t0 = int(rows["t"].iloc[0])
    n = max(end_t - t0 + 1, 1)
    present = np.zeros(n, bool)
    engagement = np.full(n, np.nan)
    emotion = np.full(n, "", dtype=object)
    idx = rows["t"].to_numpy(np.int64) - t0
    keep = (idx >= 0) & (idx < n)
    idx = idx[keep]
    pres = rows["present"].to_numpy(bool)[keep]
    present[idx] = pres
    engagement[idx[pres]] = rows["engagement"].to_numpy(float)[keep][pres]
    emotion[idx[pres]] = [_label(v) for v in rows["emotion"].to_numpy(object)[keep][pres]]
    return present, engagement, emotion, t0


def _facing_series(rows: pd.DataFrame, end_t: int) -> np.ndarray:
    """Facing the screen per second on ``_series``' axis: 1, 0, NaN (unknown, absent or no row)."""
    t0 = int(rows["t"].iloc[0])
    out = np.full(max(end_t - t0 + 1, 1), np.nan)
    idx = rows["t"].to_numpy(np.int64) - t0
    keep = (idx >= 0) & (idx < len(out))
    out[idx[keep]] = _facing(rows)[keep]
    return out


def _disengaged(present: np.ndarray, facing: np.ndarray) -> np.ndarray:
    """Not in view, or in view and not facing the screen (an unknown pose counts as facing: only presence is
    known then). The expression plays no part."""
    return ~present | (facing == 0)


def _trailing_run(flags: np.ndarray) -> int:
    if not len(flags) or not flags[-1]:
        return 0
    not_flag = np.flatnonzero(~flags)
    return int(len(flags) - (not_flag[-1] + 1 if len(not_flag) else 0))


def participant_states(session: ClassSession, participants: Sequence[Participant], seconds: pd.DataFrame, now: float,
                       *, absent_after: float = ABSENT_AFTER_S, sparkline_s: int = SPARKLINE_S,
                       threshold: float = DISENGAGED_THRESHOLD) -> pd.DataFrame:
    """One row per participant: status (active, absent, waiting for video, left); for those sharing now the signals
    of their latest seconds, apart: in view (their latest second), facing the screen (share of their last seconds in
    view, NaN when unknown), expression (latest second in view); how long the current disengaged stretch (not in view
    or not facing the screen) has lasted, and a sparkline of the last ``sparkline_s`` seconds: 1 in view and facing
    the screen, 0.5 in view and turned away, 0 not in view (2-second means). Whoever is not sharing now (left,
    absent, waiting) shows no current values: nothing stale stays in the grid."""
    groups = _by_participant(seconds)
    out = []
    for p in participants:
        rows = groups.get(p.id)
        status = _status(p, rows, now, absent_after)
        in_view, facing, emotion, run, spark = None, float("nan"), "", 0, []
        if rows is not None and not rows.empty and status in ("active", "absent"):
            last = rows.iloc[-1]
            end = max(_last_second(now), int(last["t"])) if status == "absent" else int(last["t"])
            present, _, _, _ = _series(rows, end)
            face = _facing_series(rows, end)
            run = _trailing_run(_disengaged(present, face))
            if status == "active":
                recent = rows[(rows["t"] > int(last["t"]) - RECENT_S) & rows["present"]]
                known = _facing(recent)
                known = known[~np.isnan(known)]
                facing = float(known.mean()) if len(known) else float("nan")
                in_view = bool(last["present"])
                emotion = _label(last["emotion"]) if in_view else ""
                tail = np.where(present, np.where(face == 0, 0.5, 1.0), 0.0)[-sparkline_s:]
                if len(tail) % 2:
                    tail = np.concatenate([[tail[0]], tail])
                spark = [round(float(v), 3) for v in tail.reshape(-1, 2).mean(axis=1)]
        out.append({"participant_id": p.id, "name": p.display_name, "status": status, "in_view": in_view,
                    "facing": facing, "emotion": emotion, "disengaged_s": run, "sparkline": spark})
    return pd.DataFrame(out, columns=STATE_COLUMNS)


def disengaged_longer_than(states: pd.DataFrame, seconds: float) -> pd.DataFrame:
    """Participants (not left) whose current disengaged stretch (not in view or not facing the screen) exceeds
    ``seconds``, longest first."""
    if states.empty:
        return states
    hit = states[states["status"].isin(["active", "absent"]) & (states["disengaged_s"] > seconds)]
    return hit.sort_values("disengaged_s", ascending=False)


def class_curve(seconds: pd.DataFrame, start_t: float, max_points: int = 600) -> pd.DataFrame:
    """The class per second (binned to at most ``max_points`` points): how many students were in view, how many
    faced the screen (known poses only), how many sent a row, and Sharma's index averaged over those in view (for
    the exports); ``minute`` counts from ``start_t`` (the lesson's start). Binned counts are rounded means."""
    cols = ["minute", "mean_engagement", "present", "facing", "reporting"]
    if seconds.empty:
        return pd.DataFrame(columns=cols)
    seconds = seconds.assign(facing=(_facing(seconds) == 1) & seconds["present"].to_numpy(bool))
    per_t = seconds.groupby("t").agg(mean_engagement=("engagement", "mean"), present=("present", "sum"),
                                     facing=("facing", "sum"), reporting=("participant_id", "nunique"))
    t0, t1 = int(per_t.index.min()), int(per_t.index.max())
    step = max(1, -(-(t1 - t0 + 1) // max_points))
    if step > 1:
        per_t = per_t.groupby((per_t.index - t0) // step * step + t0).mean()
        per_t[["present", "facing", "reporting"]] = per_t[["present", "facing", "reporting"]].round()
    per_t = per_t.reset_index()
    per_t["minute"] = (per_t["t"] - math.floor(start_t)) / 60
    return per_t[cols]


def emotions_now(participants: Sequence[Participant], seconds: pd.DataFrame, now: float, window: float = 10,
                 labels: Sequence[str] = EMOTIONS) -> dict[str, int]:
    """How many students (not left) show each dominant emotion in their latest second present within ``window``."""
    counts = {label: 0 for label in labels}
    live = {p.id for p in participants if p.left_at is None}
    recent = seconds[(seconds["t"] >= math.floor(now) - window) & seconds["participant_id"].isin(live)]
    if recent.empty:
        return counts
    latest = recent.sort_values("t").groupby("participant_id").tail(1)
    for emotion in map(_label, latest.loc[latest["present"], "emotion"]):
        if emotion:  # a face not yet named by the tracker: in view, expression unknown
            counts[emotion] = counts.get(emotion, 0) + 1
    return counts


def _label(value) -> str:
    """A stored emotion as text: '' for none (absent, or in view with the expression unknown)."""
    return value if isinstance(value, str) else ""


def lesson_summary(session: ClassSession, participants: Sequence[Participant], seconds: pd.DataFrame, now: float,
                   *, absent_after: float = ABSENT_AFTER_S, threshold: float = DISENGAGED_THRESHOLD,
                   labels: Sequence[str] = EMOTIONS, disengaged_after: float = LOOKING_AWAY_AFTER_S) -> dict:
    """Per participant and for the class, over each student's own session time: seconds in view (present), facing
    the screen, expression shares, disengaged stretches (not in view or not facing the screen; those longer than
    ``disengaged_after`` are counted), and Sharma's index as a named research index (see the module docstring).
    JSON-ready."""
    groups = _by_participant(seconds)
    people, all_present, all_eng, all_emotions = [], 0, [], []
    for p in participants:
        rows = groups.get(p.id)
        entry = {"name": p.display_name, "anonymous": p.anonymous, "status": _status(p, rows, now, absent_after),
                 "joined_at": iso(p.joined_at), "left_at": iso(p.left_at), "seconds_attended": 0, "seconds_present": 0,
                 "seconds_absent": 0, "seconds_without_video": 0, "share_present": None, "seconds_facing": 0,
                 "seconds_turned_away": 0, "share_facing": None, "emotion_share": {label: 0.0 for label in labels},
                 "longest_disengaged_seconds": 0, "disengaged_seconds": 0, "disengaged_share": None,
                 INDEX_NAME: None}
        if rows is not None and not rows.empty:
            end = _end_t(p, session, rows, now, absent_after)
            present, eng, emo, _ = _series(rows, end)
            face = _facing_series(rows, end)
            keep = _attended(rows, end, absent_after)
            entry["seconds_without_video"] = int((~keep).sum())
            present, eng, emo, face = present[keep], eng[keep], emo[keep], face[keep]
            n, k = len(present), int(present.sum())
            dis = _disengaged(present, face)
            runs = _runs(dis)
            known = face[present & ~np.isnan(face)]
            shares = pd.Series(emo[present]).value_counts()
            entry.update(seconds_attended=n, seconds_present=k, seconds_absent=n - k, share_present=k / n,
                         seconds_facing=int((known == 1).sum()), seconds_turned_away=int((known == 0).sum()),
                         share_facing=float(known.mean()) if len(known) else None,
                         emotion_share={label: float(shares.get(label, 0)) / k if k else 0.0 for label in labels},
                         longest_disengaged_seconds=max(runs, default=0),
                         disengaged_seconds=int(sum(r for r in runs if r > disengaged_after)),
                         disengaged_share=float(sum(r for r in runs if r > disengaged_after)) / n)
            entry[INDEX_NAME] = float(np.nanmean(eng[present])) if k and not np.isnan(eng[present]).all() else None
            all_present += k
            all_eng.append(eng[present])
            all_emotions.append(emo[present])
        people.append(entry)
    eng_all = np.concatenate(all_eng) if all_eng else np.array([])
    eng_all = eng_all[~np.isnan(eng_all)]
    emo_all = pd.Series(np.concatenate(all_emotions) if all_emotions else [], dtype=object).value_counts()
    attended = [e for e in people if e["seconds_attended"]]
    facing = [e["share_facing"] for e in attended if e["share_facing"] is not None]
    curve = class_curve(seconds, session.created_at, max_points=10 ** 9)
    klass = {
        "participants": len(people),
        "participants_with_data": len(attended),
        "seconds_with_data": int(seconds["t"].nunique()) if len(seconds) else 0,
        "mean_share_present": float(np.mean([e["share_present"] for e in attended])) if attended else None,
        "mean_share_facing": float(np.mean(facing)) if facing else None,
        "mean_students_present": float(curve["present"].mean()) if len(curve) else None,
        "emotion_share": {label: float(emo_all.get(label, 0)) / all_present if all_present else 0.0
                          for label in labels},
        "mean_longest_disengaged_seconds": float(np.mean([e["longest_disengaged_seconds"] for e in attended]))
        if attended else None,
        INDEX_NAME: float(eng_all.mean()) if len(eng_all) else None,
    }
    return {
        "session": {"join_code": session.display_code, "title": session.title, "created_at": iso(session.created_at),
                    "ended_at": iso(session.ended_at), "live": session.live, "generated_at": iso(now)},
        "definitions": {
            "disengaged": f"not in view, or not facing the screen, for more than {disengaged_after:g} s (the "
                          "expression does not count)",
            "attendance": "a student's own session time: from their first second with video to their last (STOP, "
                          "leaving or the end of the lesson); the seconds after it are 'left', not absent; a hole of "
                          f"under {absent_after:g} s without data counts as absent, a longer one as 'no video' (not "
                          "counted)",
            "present": "in view: a face was seen in at least one processed frame of the second",
            "facing": f"facing the screen: {FACING_RULE}; unknown with a detector without landmarks",
            "expression": "the dominant emotion of the seconds in view; an expression, not a measure of engagement",
            INDEX_NAME: "research index only: Sharma et al. (2019) concentration index = emotion weight x gaze "
                        "weight / 4.5 (" + _INDEX_TEXT + ")"},
        "class": klass,
        "participants": people,
    }


_INDEX_TEXT = ("emotion weights neutral .9, happy .6, surprise .6, sad .3, fear .3, angry .25, disgust .2; gaze weight "
               "5 facing the screen, 2 turned away")


def _runs(flags: np.ndarray) -> list[int]:
    """The lengths of the runs of True in ``flags``."""
    if not flags.any():
        return []
    padded = np.concatenate([[0], flags.astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return [int(v) for v in edges[1::2] - edges[::2]]


def summary_table(summary: dict, research: bool = True) -> pd.DataFrame:
    """One row per participant and a last "Whole class" row, for display (``research=False``: without Sharma's
    index) and CSV (with it, as ``sharma_concentration_index``)."""
    def pct(v):
        return None if v is None else 100 * v

    def row(name, status, present_s, attended_s, share, facing, longest, dis_s, emotions, index):
        rec = {"participant": name, "status": status, "session time (s)": attended_s, "in view (s)": present_s,
               "in view (%)": pct(share), "facing the screen (%)": pct(facing),
               "longest not in view or looking away (s)": longest, "disengaged (s)": dis_s}
        rec.update({f"{k} (%)": 100 * v for k, v in emotions.items()})
        if research:
            rec[INDEX_NAME] = index
        return rec

    ps = summary["participants"]
    records = [row(p["name"], p["status"], p["seconds_present"], p["seconds_attended"], p["share_present"],
                   p["share_facing"], p["longest_disengaged_seconds"], p["disengaged_seconds"], p["emotion_share"],
                   p[INDEX_NAME]) for p in ps]
    c = summary["class"]
    records.append(row("Whole class", f"{c['participants']} participants", sum(p["seconds_present"] for p in ps),
                       sum(p["seconds_attended"] for p in ps), c["mean_share_present"], c["mean_share_facing"],
                       c["mean_longest_disengaged_seconds"], sum(p["disengaged_seconds"] for p in ps),
                       c["emotion_share"], c[INDEX_NAME]))
    return pd.DataFrame(records)


def summary_csv(summary: dict) -> str:
    """The summary table with Sharma's index and, in its last column, the rule that counts "disengaged (s)" in plain
    words."""
    table = summary_table(summary).assign(disengaged_rule=summary["definitions"]["disengaged"])
    return table.to_csv(index=False, float_format="%.4g", lineterminator="\n")


def timeline_rows(participants: Sequence[Participant], seconds: pd.DataFrame) -> list[dict]:
    """The stored seconds with each participant's name and the time as text, for export."""
    names = {p.id: p.display_name for p in participants}
    out = []
    for r in seconds.sort_values(["t", "participant_id"]).itertuples(index=False):
        present = bool(r.present)
        facing = getattr(r, "facing", None)
        index = r.engagement if present else None
        out.append({"time": iso(int(r.t)), "t": int(r.t), "participant": names.get(int(r.participant_id), "?"),
                    "in_view": present,
                    "facing_screen": None if not present or facing is None or facing != facing else bool(facing),
                    "expression": (_label(r.emotion) or None) if present else None,
                    INDEX_NAME: None if index is None or index != index else round(float(index), 4)})
    return out


def timeline_csv(participants: Sequence[Participant], seconds: pd.DataFrame) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["time", "t", "participant", "in_view", "facing_screen", "expression",
                                             INDEX_NAME], lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in timeline_rows(participants, seconds))
    return buf.getvalue()


def summary_json(summary: dict, participants: Sequence[Participant], seconds: pd.DataFrame) -> str:
    """The summary and the per-second timeline as one JSON document (``null`` for missing values)."""
    return json_safe.dumps({**summary, "timeline": timeline_rows(participants, seconds)})
