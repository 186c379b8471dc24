"""Class figures (numbers, not charts) from the stored per-second rows (``ClassStore.seconds``): the class's
engagement curve, the emotions now, each participant's state, who has been disengaged for long, and the after-lesson
summary with its CSV/JSON exports. Pure functions over the store's tables: this module never reads the database
(``fer_core.classroom.summary`` does, and calls these).

Definitions (as on the Webcam page, ``fer_core.live.engagement``): a second is *disengaged* for a student when their face
was absent or their engagement index was at or below 0.25. A student's own session time runs from their first stored
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
from ..live.engagement import DISENGAGED_THRESHOLD, engagement_level
from .store import ClassSession, Participant

ABSENT_AFTER_S = 10  # no row for this long: shown absent (rows arrive a few seconds late, in batches)
RECENT_S = 5  # "engagement now" is the mean over a participant's last seconds
SPARKLINE_S = 120
STATE_COLUMNS = ["participant_id", "name", "status", "emotion", "engagement", "level", "disengaged_s", "sparkline"]


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


def _series(rows: pd.DataFrame, end_t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Per second from the first row to ``end_t``: present (bool), engagement (NaN when absent), emotion ('' when
    absent); missing seconds are absent."""
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
    emotion[idx[pres]] = rows["emotion"].to_numpy(object)[keep][pres]
    return present, engagement, emotion, t0


def _disengaged(present: np.ndarray, engagement: np.ndarray, threshold: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return ~present | ~(engagement > threshold)


def _trailing_run(flags: np.ndarray) -> int:
    if not len(flags) or not flags[-1]:
        return 0
    not_flag = np.flatnonzero(~flags)
    return int(len(flags) - (not_flag[-1] + 1 if len(not_flag) else 0))


def _longest_run(flags: np.ndarray) -> int:
    if not flags.any():
        return 0
    padded = np.concatenate([[0], flags.astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max())


def participant_states(session: ClassSession, participants: Sequence[Participant], seconds: pd.DataFrame, now: float,
                       *, absent_after: float = ABSENT_AFTER_S, sparkline_s: int = SPARKLINE_S,
                       threshold: float = DISENGAGED_THRESHOLD) -> pd.DataFrame:
    """One row per participant: status (active, absent, waiting for video, left), current emotion and engagement
    (mean over their last seconds present), its level, how long the current disengaged stretch has lasted, and a
    sparkline of the last ``sparkline_s`` seconds of engagement (0 when absent), 2-second means."""
    groups = _by_participant(seconds)
    out = []
    for p in participants:
        rows = groups.get(p.id)
        status = _status(p, rows, now, absent_after)
        emotion, engagement, run, spark = "", float("nan"), 0, []
        if rows is not None and not rows.empty:
            last = rows.iloc[-1]
            recent = rows[(rows["t"] > int(last["t"]) - RECENT_S) & rows["present"]]
            engagement = float(recent["engagement"].mean()) if len(recent) else float("nan")
            emotion = str(last["emotion"]) if bool(last["present"]) and status == "active" else ""
            end = max(_last_second(now), int(last["t"])) if status == "absent" else int(last["t"])
            if session.ended_at is not None or p.left_at is not None:
                end = _end_t(p, session, rows, now, absent_after)
            present, eng, _, _ = _series(rows, end)
            if status in ("active", "absent"):
                run = _trailing_run(_disengaged(present, eng, threshold))
            tail = np.where(present, np.nan_to_num(eng), 0.0)[-sparkline_s:]
            if len(tail) % 2:
                tail = np.concatenate([[tail[0]], tail])
            spark = [round(float(v), 3) for v in tail.reshape(-1, 2).mean(axis=1)]
        out.append({"participant_id": p.id, "name": p.display_name, "status": status, "emotion": emotion,
                    "engagement": engagement, "level": engagement_level(engagement) if status == "active" else "",
                    "disengaged_s": run, "sparkline": spark})
    return pd.DataFrame(out, columns=STATE_COLUMNS)


def disengaged_longer_than(states: pd.DataFrame, seconds: float) -> pd.DataFrame:
    """Participants (not left) whose current disengaged stretch (absent or engagement <= 0.25) exceeds ``seconds``,
    longest first."""
    if states.empty:
        return states
    hit = states[states["status"].isin(["active", "absent"]) & (states["disengaged_s"] > seconds)]
    return hit.sort_values("disengaged_s", ascending=False)


def class_curve(seconds: pd.DataFrame, start_t: float, max_points: int = 600) -> pd.DataFrame:
    """The class per second (binned to at most ``max_points`` points): mean engagement of the students present, and
    how many were present and how many sent a row; ``minute`` counts from ``start_t`` (the lesson's start)."""
    cols = ["minute", "mean_engagement", "present", "reporting"]
    if seconds.empty:
        return pd.DataFrame(columns=cols)
    per_t = seconds.groupby("t").agg(mean_engagement=("engagement", "mean"), present=("present", "sum"),
                                     reporting=("participant_id", "nunique"))
    t0, t1 = int(per_t.index.min()), int(per_t.index.max())
    step = max(1, -(-(t1 - t0 + 1) // max_points))
    if step > 1:
        per_t = per_t.groupby((per_t.index - t0) // step * step + t0).mean()
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
    for emotion in latest.loc[latest["present"], "emotion"]:
        counts[str(emotion)] = counts.get(str(emotion), 0) + 1
    return counts


def lesson_summary(session: ClassSession, participants: Sequence[Participant], seconds: pd.DataFrame, now: float,
                   *, absent_after: float = ABSENT_AFTER_S, threshold: float = DISENGAGED_THRESHOLD,
                   labels: Sequence[str] = EMOTIONS) -> dict:
    """Per participant and for the class: attendance, time present, mean engagement, emotion shares, the longest
    disengaged stretch (see the module docstring). JSON-ready."""
    groups = _by_participant(seconds)
    people, all_present, all_eng, all_emotions = [], 0, [], []
    for p in participants:
        rows = groups.get(p.id)
        entry = {"name": p.display_name, "anonymous": p.anonymous, "status": _status(p, rows, now, absent_after),
                 "joined_at": iso(p.joined_at), "left_at": iso(p.left_at), "seconds_attended": 0, "seconds_present": 0,
                 "seconds_absent": 0, "seconds_without_video": 0, "share_present": None, "mean_engagement": None,
                 "emotion_share": {label: 0.0 for label in labels}, "longest_disengaged_seconds": 0,
                 "disengaged_share": None}
        if rows is not None and not rows.empty:
            end = _end_t(p, session, rows, now, absent_after)
            present, eng, emo, _ = _series(rows, end)
            keep = _attended(rows, end, absent_after)
            entry["seconds_without_video"] = int((~keep).sum())
            present, eng, emo = present[keep], eng[keep], emo[keep]
            n, k = len(present), int(present.sum())
            dis = _disengaged(present, eng, threshold)
            shares = pd.Series(emo[present]).value_counts()
            entry.update(seconds_attended=n, seconds_present=k, seconds_absent=n - k, share_present=k / n,
                         mean_engagement=float(np.nanmean(eng)) if k else None,
                         emotion_share={label: float(shares.get(label, 0)) / k if k else 0.0 for label in labels},
                         longest_disengaged_seconds=_longest_run(dis), disengaged_share=float(dis.mean()))
            all_present += k
            all_eng.append(eng[present])
            all_emotions.append(emo[present])
        people.append(entry)
    eng_all = np.concatenate(all_eng) if all_eng else np.array([])
    emo_all = pd.Series(np.concatenate(all_emotions) if all_emotions else [], dtype=object).value_counts()
    attended = [e for e in people if e["seconds_attended"]]
    curve = class_curve(seconds, session.created_at, max_points=10 ** 9)
    klass = {
        "participants": len(people),
        "participants_with_data": len(attended),
        "seconds_with_data": int(seconds["t"].nunique()) if len(seconds) else 0,
        "mean_engagement": float(eng_all.mean()) if len(eng_all) else None,
        "mean_share_present": float(np.mean([e["share_present"] for e in attended])) if attended else None,
        "mean_students_present": float(curve["present"].mean()) if len(curve) else None,
        "emotion_share": {label: float(emo_all.get(label, 0)) / all_present if all_present else 0.0
                          for label in labels},
        "mean_longest_disengaged_seconds": float(np.mean([e["longest_disengaged_seconds"] for e in attended]))
        if attended else None,
    }
    return {
        "session": {"join_code": session.display_code, "title": session.title, "created_at": iso(session.created_at),
                    "ended_at": iso(session.ended_at), "live": session.live, "generated_at": iso(now)},
        "definitions": {"disengaged": f"face absent or engagement index <= {threshold}",
                        "attendance": "a student's own session time: from their first second with video to their last "
                                      "(STOP, leaving or the end of the lesson); the seconds after it are 'left', "
                                      f"not absent; a hole of under {absent_after:g} s without data counts as "
                                      "absent, a longer one as 'no video' (not counted)",
                        "present": "a face was seen in at least one processed frame of the second",
                        "engagement": "concentration index (Sharma et al., 2019), see the Webcam page"},
        "class": klass,
        "participants": people,
    }


def summary_table(summary: dict) -> pd.DataFrame:
    """One row per participant and a last "Whole class" row, for display and CSV."""
    def row(name, status, e, present_s, attended_s, longest):
        rec = {"participant": name, "status": status, "time present (s)": present_s, "attended (s)": attended_s,
               "present (%)": None if e.get("share") is None else 100 * e["share"],
               "mean engagement": e.get("mean_engagement"), "longest disengaged (s)": longest}
        rec.update({f"{k} (%)": 100 * v for k, v in e["emotion_share"].items()})
        return rec

    records = [row(p["name"], p["status"], {**p, "share": p["share_present"]}, p["seconds_present"],
                   p["seconds_attended"], p["longest_disengaged_seconds"]) for p in summary["participants"]]
    c = summary["class"]
    records.append(row("Whole class", f"{c['participants']} participants", {**c, "share": c["mean_share_present"]},
                       sum(p["seconds_present"] for p in summary["participants"]),
                       sum(p["seconds_attended"] for p in summary["participants"]),
                       c["mean_longest_disengaged_seconds"]))
    return pd.DataFrame(records)


def summary_csv(summary: dict) -> str:
    table = summary_table(summary)
    return table.to_csv(index=False, float_format="%.4g", lineterminator="\n")


def timeline_rows(participants: Sequence[Participant], seconds: pd.DataFrame) -> list[dict]:
    """The stored seconds with each participant's name and the time as text, for export."""
    names = {p.id: p.display_name for p in participants}
    out = []
    for r in seconds.sort_values(["t", "participant_id"]).itertuples(index=False):
        present = bool(r.present)
        out.append({"time": iso(int(r.t)), "t": int(r.t), "participant": names.get(int(r.participant_id), "?"),
                    "present": present, "emotion": str(r.emotion) if present else None,
                    "engagement": round(float(r.engagement), 4) if present else None})
    return out


def timeline_csv(participants: Sequence[Participant], seconds: pd.DataFrame) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["time", "t", "participant", "present", "emotion", "engagement"],
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in timeline_rows(participants, seconds))
    return buf.getvalue()


def summary_json(summary: dict, participants: Sequence[Participant], seconds: pd.DataFrame) -> str:
    """The summary and the per-second timeline as one JSON document (``null`` for missing values)."""
    return json_safe.dumps({**summary, "timeline": timeline_rows(participants, seconds)})
