"""Engagement monitor: per second and per tracked face, presence, dominant emotion and a concentration index.

The index is the concentration index of Sharma et al. (2019), "Student Engagement Detection Using Emotion Analysis,
Eye Tracking and Head Movement with Machine Learning" (arXiv:1909.12913), computed per processed frame as::

    CI = EW(dominant emotion) x GW(gaze) / 4.5                      (0 <= CI <= 1; 4.5 = 0.9 x 5, the largest product)

    EW: neutral 0.9, happy 0.6, surprise 0.6, sad 0.3, fear 0.3, angry 0.25, disgust 0.2
        (contempt 0.2, as disgust: our addition for CK+-style models; the paper has no contempt class)
    GW: the attention term, from the head pose (``fer_core.inference.head_pose``: yaw and pitch from YuNet's five
        landmarks, ``facing_screen``: |yaw| <= 30 and |pitch| <= 25 degrees against the line to the camera):
        facing the screen     -> 5  (the paper's "eyes open, looking at the screen")
        not facing the screen -> 2  (the paper's "open, looking away")
        unknown (a detector without landmarks, Haar) -> the legacy eye count when the caller gives one (both eyes 5,
        one eye 2, none 0, from the Haar eye cascade), else no index (NaN): "facing the screen" is then "unknown".

The index is kept as a *named research index* (``sharma_concentration_index`` in the class exports); what a teacher
reads are the separate signals - in view, facing the screen, expression - and a rule in plain words
(``DISENGAGED_RULE``). An emotion is never engagement: anger or surprise is shown as an expression, nothing more.

The dominant emotion is the argmax of the track's smoothed probabilities. Levels follow the paper:
CI > 0.65 "highly engaged", 0.25 < CI <= 0.65 "nominally engaged", CI <= 0.25 "not engaged".

Per second (since the first processed frame), for each face seen so far in the session:
  facing             whether the head faced the screen in most of the frames it was seen in with a known pose
                     (None: unknown, no landmarks); ``facing_share`` the share of those frames
  present            the face was tracked in at least one of that second's processed frames (a face seen in any
                     processed frame of a second is in view in it; an empty frame is "not in view", never
                     "low engagement")
  engagement         mean per-frame CI over the frames it was tracked in
  dominant_emotion   argmax of its mean smoothed probabilities over those frames
A second is *disengaged* for a face when it is not in view or its head does not face the screen (when the pose is
unknown, the legacy rule: its index at or below ``DISENGAGED_THRESHOLD``, 0.25, the paper's "not engaged" class). The longest disengaged stretch counts consecutive recorded seconds from the
face's first appearance; a gap with no processed frames (camera stopped) ends a stretch.

Only these aggregates are kept, in memory; no frame or face crop is stored.
"""
from __future__ import annotations

import csv
import io
import math
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Sequence

import cv2
import numpy as np
import pandas as pd

from .. import json_safe
from ..inference.boxes import Box
from ..inference.haar import face_band, find_eyes, load_cascade
from ..inference.head_pose import MAX_YAW_DEG

EMOTION_WEIGHTS: dict[str, float] = {
    "neutral": 0.9, "happy": 0.6, "surprise": 0.6, "sad": 0.3, "fear": 0.3, "angry": 0.25, "disgust": 0.2,
    "contempt": 0.2,
}
GAZE_WEIGHTS: dict[int, float] = {2: 5.0, 1: 2.0, 0: 0.0}  # eyes found in a frontal face -> gaze weight
MAX_PRODUCT = 4.5
DISENGAGED_THRESHOLD = 0.25
HIGHLY_ENGAGED_ABOVE = 0.65
FORMULA = ("Sharma et al.'s (2019) concentration index, a research index kept in the exports: the weight of the "
           "dominant expression (neutral .9, happy .6, surprise .6, sad .3, fear .3, angry .25, disgust .2) times a "
           "gaze weight (head facing the screen 5, turned away 2), divided by 4.5.")
LOOKING_AWAY_AFTER_S = 10.0
DISENGAGED_RULE = (f"not in view, or not facing the screen, for more than {LOOKING_AWAY_AFTER_S:g} s "
                   "(the expression does not count)")
LONGEST_DISENGAGED_COLUMN = "longest not in view or looking away (s)"
# What "facing the screen" catches, in plain words (every page and export that shows it says this). The pitch limit
# is in head_pose.MAX_PITCH_DEG, but YuNet's landmarks barely move when a head nods (a true -30 degrees reads about -8:
# benchmarks/bench_head_pose.py), so looking down is mostly missed, and the text says so.
FACING_RULE = (f"the head turned less than {MAX_YAW_DEG:g}° to the side, by the head pose from the face detector's "
               "five landmarks; looking down, at a phone or notes, is mostly not caught: the landmarks hardly move "
               "when the head tilts")


class EngagementError(ValueError):
    """Bad input to the engagement monitor (unknown label, wrong probability length, ...)."""


def emotion_weight(label: str) -> float:
    """The paper's weight of an emotion label (canonical names, see ``fer_core.labels``)."""
    try:
        return EMOTION_WEIGHTS[label]
    except KeyError:
        raise EngagementError(f"No engagement weight for this emotion. Expected one of {sorted(EMOTION_WEIGHTS)}. "
                              f"Received: label={label!r}") from None


def gaze_weight(eyes: int, frontal: bool = True) -> float:
    """Gaze weight from how many eyes (0, 1, 2) were found in a frontal face; 0 when the face is not frontal."""
    if eyes not in GAZE_WEIGHTS:
        raise EngagementError(f"eyes must be 0, 1 or 2. Received: eyes={eyes!r}")
    return GAZE_WEIGHTS[eyes] if frontal else 0.0


def gaze_term(facing: bool | None, eyes: int | None = None, frontal: bool = True) -> float:
    """The index's gaze weight: from the head pose when known (facing the screen 5, turned away 2), else from a
    legacy eye count (``gaze_weight``), else NaN (unknown)."""
    if facing is not None:
        return GAZE_WEIGHTS[2] if facing else GAZE_WEIGHTS[1]
    if eyes is None:
        return float("nan")
    return gaze_weight(eyes, frontal)


def concentration_index(emotion: str, eyes: int | None = None, frontal: bool = True,
                        facing: bool | None = None) -> float:
    """Sharma et al.'s CI in [0, 1] for one frame: ``EW(emotion) * GW / 4.5`` (GW from ``gaze_term``)."""
    return emotion_weight(emotion) * gaze_term(facing, eyes, frontal) / MAX_PRODUCT


def engagement_level(index: float) -> str:
    """The paper's three classes; empty for a missing index (face absent)."""
    if index is None or math.isnan(index):
        return ""
    if index > HIGHLY_ENGAGED_ABOVE:
        return "highly engaged"
    if index > DISENGAGED_THRESHOLD:
        return "nominally engaged"
    return "not engaged"


class EyeDetector:
    """Counts eyes (0, 1 or 2) with OpenCV's Haar eye cascade in the upper half of a face box, one per half (left,
    right) of the box: the gaze weight's input."""

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 4, work_width: int = 120):
        load_cascade("eye")  # fail now, naming the file, rather than on the first frame
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.work_width = work_width

    def count(self, gray: np.ndarray, box: Box) -> int:
        """Eyes found in the face ``box`` of a grey image: one per half (left/right) of the box with a detection."""
        if gray.ndim != 2:
            raise ValueError(f"EyeDetector needs a grey (H, W) image. Received: shape={gray.shape}")
        x, y, w, h = (int(v) for v in box)
        roi = face_band(gray, (x, y, w, h), h // 2 + h // 10)  # eyes sit just above mid-face
        if roi.shape[0] < 8 or roi.shape[1] < 16:
            return 0
        scale = min(1.0, self.work_width / roi.shape[1])
        if scale < 1.0:
            roi = cv2.resize(roi, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        fw = w * scale
        min_eye = max(6, int(fw / 8))
        eyes = find_eyes(roi, self.scale_factor, self.min_neighbors, min_eye, int(fw / 2))
        mid = (x + w / 2 - max(x, 0)) * scale
        return len({0 if ex + ew / 2 < mid else 1 for ex, ey, ew, eh in eyes})


@dataclass(frozen=True)
class FaceObservation:
    """One tracked face in one processed frame, as the engagement recorder needs it."""

    face: str
    probabilities: np.ndarray
    eyes: int | None = 2  # legacy gaze input (Haar eye cascade); used only when ``facing`` is None
    frontal: bool = True
    facing: bool | None = None  # the head faces the screen (head pose); None: unknown


@dataclass
class _FaceSecond:
    seen: int = 0
    prob_sum: np.ndarray | None = None
    ci_sum: float = 0.0
    ci_seen: int = 0  # frames with an index (a known gaze term)
    both_eyes: int = 0
    facing_known: int = 0
    facing: int = 0


@dataclass
class _Second:
    wall: float
    frames: int = 0
    faces: dict[str, _FaceSecond] = field(default_factory=dict)
    unconfirmed: int = 0  # frames where a face was detected but its track had no id yet (the tracker's first sighting)


class EngagementRecorder:
    """Thread-safe per-second aggregation of face observations; the rows, summary and exports are computed on demand."""

    def __init__(self, labels: Sequence[str], disengaged_threshold: float = DISENGAGED_THRESHOLD):
        self.labels = tuple(labels)
        self._weights = np.array([emotion_weight(label) for label in self.labels], dtype=np.float64)
        self.disengaged_threshold = float(disengaged_threshold)
        self._columns = ("second", "time", "face", "present", "frames", "frames_seen", "dominant_emotion", "engagement",
                         "level", "both_eyes_share", "facing", "facing_share", *[f"p_{label}" for label in self.labels])
        self._lock = threading.RLock()  # summary() holds it while calling rows()
        self._resets = -1
        self.reset()

    def reset(self) -> None:
        """Forget the whole session (the next observation starts second 0 again)."""
        with self._lock:
            self._t0: float | None = None
            self._last_t: float | None = None
            self._seconds: dict[int, _Second] = {}  # in increasing order: observations never go back in time
            self._first_seen: dict[str, int] = {}
            self._final_rows: list[dict] = []  # rows of the seconds before the latest one (they cannot change)
            self._final_upto = -1
            self._resets += 1

    def completed_seconds(self, after: int = -1, include_latest: bool = False
                          ) -> tuple[int, list[tuple[int, float, list[dict], int]]]:
        """For a reader forwarding the record elsewhere (a class session): the seconds after ``after`` that can no
        longer change (all but the latest, unless ``include_latest``), each as ``(second, clock time of its first
        frame, its rows as in rows(): one per face seen by then, none before the first face, the number of its frames
        where a face was detected but not yet given an id)``, with the number of resets so far (seconds restart at 0
        after one)."""
        with self._lock:
            if not self._seconds:
                return self._resets, []
            latest = next(reversed(self._seconds))
            faces = sorted(self._first_seen, key=lambda n: (self._first_seen[n], _face_sort_key(n)))
            return self._resets, [(sec, b.wall, self._second_rows(sec, b, faces), b.unconfirmed)
                                  for sec, b in self._seconds.items()
                                  if sec > after and (sec < latest or include_latest)]

    @property
    def empty(self) -> bool:
        with self._lock:
            return not self._seconds

    def frame_index(self, probabilities: np.ndarray, eyes: int | None = None, frontal: bool = True,
                    facing: bool | None = None) -> float:
        """The per-frame CI of one face from its (smoothed) probabilities (NaN when the gaze term is unknown)."""
        p = self._check(probabilities)
        return float(self._weights[int(np.argmax(p))] * gaze_term(facing, eyes, frontal) / MAX_PRODUCT)

    def observe(self, t: float, faces: Sequence[FaceObservation], wall_time: float | None = None,
                unconfirmed: bool = False) -> None:
        """Record one processed frame at monotonic time ``t`` (seconds) with the faces tracked in it (maybe none);
        ``unconfirmed``: a face was detected in it whose track has no id yet (a face is named from its second sighting,
        so the very first frames of a stream have a face but no named one)."""
        rows = [(f.face, self._check(f.probabilities),
                 self.frame_index(f.probabilities, f.eyes, f.frontal, f.facing), f.eyes, f.facing) for f in faces]
        with self._lock:
            if self._last_t is not None and t < self._last_t:
                raise EngagementError(f"Observations must not go back in time. Received: t={t} after t={self._last_t}")
            if self._t0 is None:
                self._t0 = t
            self._last_t = t
            sec = int(math.floor(t - self._t0))
            bucket = self._seconds.get(sec)
            if bucket is None:
                wall = wall_time if wall_time is not None else datetime.now(timezone.utc).timestamp()
                bucket = self._seconds[sec] = _Second(wall=wall)
            bucket.frames += 1
            bucket.unconfirmed += int(bool(unconfirmed) and not rows)
            for name, p, ci, eyes, facing in rows:
                self._first_seen.setdefault(name, sec)
                acc = bucket.faces.setdefault(name, _FaceSecond())
                acc.seen += 1
                acc.prob_sum = p.astype(np.float64) if acc.prob_sum is None else acc.prob_sum + p
                if not math.isnan(ci):
                    acc.ci_sum += ci
                    acc.ci_seen += 1
                acc.both_eyes += int(eyes == 2)
                if facing is not None:
                    acc.facing_known += 1
                    acc.facing += int(bool(facing))

    def _check(self, probabilities) -> np.ndarray:
        p = np.asarray(probabilities, dtype=np.float64).ravel()
        if p.shape != (len(self.labels),):
            raise EngagementError(f"Expected {len(self.labels)} probabilities ({', '.join(self.labels)}). "
                                  f"Received: shape={np.shape(probabilities)}")
        return p

    @property
    def columns(self) -> list[str]:
        """Columns of the timeline (``rows()``, ``timeline()``, CSV)."""
        return list(self._columns)

    def rows(self) -> list[dict]:
        """One row per recorded second and per face seen by then (absent seconds included, ``present=False``)."""
        with self._lock:
            if not self._seconds:
                return []
            latest = next(reversed(self._seconds))
            faces = sorted(self._first_seen, key=lambda n: (self._first_seen[n], _face_sort_key(n)))
            for sec, bucket in self._seconds.items():
                if self._final_upto < sec < latest:
                    self._final_rows.extend(self._second_rows(sec, bucket, faces))
                    self._final_upto = sec
            return self._final_rows + self._second_rows(latest, self._seconds[latest], faces)

    def _second_rows(self, sec: int, bucket: _Second, faces: list[str]) -> list[dict]:
        time_text = datetime.fromtimestamp(bucket.wall, timezone.utc).isoformat(timespec="seconds")
        out = []
        for name in faces:
            if self._first_seen[name] > sec:
                continue
            acc = bucket.faces.get(name)
            row = {"second": sec, "time": time_text, "face": name, "frames": bucket.frames,
                   "frames_seen": acc.seen if acc else 0}
            row["present"] = bool(acc and acc.seen >= 1)
            if acc and acc.seen:
                mean_p = acc.prob_sum / acc.seen
                row["dominant_emotion"] = self.labels[int(np.argmax(mean_p))]
                row["engagement"] = acc.ci_sum / acc.ci_seen if acc.ci_seen else float("nan")
                row["both_eyes_share"] = acc.both_eyes / acc.seen
                row["facing_share"] = acc.facing / acc.facing_known if acc.facing_known else float("nan")
                row["facing"] = (acc.facing * 2 >= acc.facing_known) if acc.facing_known else None
                row.update({f"p_{label}": float(v) for label, v in zip(self.labels, mean_p)})
            else:
                row.update({"dominant_emotion": "", "engagement": float("nan"), "both_eyes_share": float("nan"),
                            "facing": None, "facing_share": float("nan")})
                row.update({f"p_{label}": float("nan") for label in self.labels})
            row["level"] = engagement_level(row["engagement"])
            out.append({c: row[c] for c in self._columns})
        return out

    def timeline(self) -> pd.DataFrame:
        """``rows()`` as a DataFrame with fixed columns (also when empty)."""
        return pd.DataFrame(self.rows(), columns=self.columns)

    def summary(self) -> dict:
        """Session summary: recorded seconds and, per face, time present, mean engagement, emotion shares, the longest
        disengaged stretch (seconds)."""
        with self._lock:
            rows = self.rows()
            n_seconds = len(self._seconds)
            start = next(iter(self._seconds.values())).wall if self._seconds else None
        by_face: dict[str, list[dict]] = {}
        for r in rows:
            by_face.setdefault(r["face"], []).append(r)
        faces: dict[str, dict] = {}
        for name, mine in by_face.items():
            present = [r for r in mine if r["present"]]
            counts = {label: 0 for label in self.labels}
            for r in present:
                counts[r["dominant_emotion"]] += 1
            longest = run = 0
            prev = None
            for r in mine:
                if prev is not None and r["second"] != prev + 1:
                    run = 0
                prev = r["second"]
                disengaged = (not r["present"] or r["facing"] is False
                              or (r["facing"] is None and r["engagement"] <= self.disengaged_threshold))
                run = run + 1 if disengaged else 0
                longest = max(longest, run)
            faces[name] = {
                "seconds_tracked": len(mine),
                "seconds_present": len(present),
                "share_present": len(present) / len(mine) if mine else 0.0,
                "mean_engagement": _nanmean([r["engagement"] for r in present]),
                "share_facing": _nanmean([r["facing_share"] for r in present]),
                "emotion_share": {k: (v / len(present) if present else 0.0) for k, v in counts.items()},
                "longest_disengaged_seconds": longest,
                "first_second": mine[0]["second"],
                "last_second": mine[-1]["second"],
            }
        return {
            "started_at": datetime.fromtimestamp(start, timezone.utc).isoformat(timespec="seconds") if start else None,
            "recorded_seconds": n_seconds,
            "disengaged_threshold": self.disengaged_threshold,
            "faces": faces,
        }

    def summary_table(self, summary: dict | None = None) -> pd.DataFrame:
        """The per-face summary (``summary()`` unless given) as a table, one row per face, for display: the signals
        apart (in view, facing the screen, expression); the engagement index stays in the downloads."""
        s = self.summary() if summary is None else summary
        records = []
        for name, f in s["faces"].items():
            rec = {"face": name, "time present (s)": f["seconds_present"], "present (%)": 100 * f["share_present"],
                   "facing the screen (%)": (float("nan") if f["share_facing"] is None else 100 * f["share_facing"]),
                   LONGEST_DISENGAGED_COLUMN: f["longest_disengaged_seconds"]}
            rec.update({f"{k} (%)": 100 * v for k, v in f["emotion_share"].items()})
            records.append(rec)
        return pd.DataFrame(records)

    def to_csv(self) -> str:
        """The per-second timeline as CSV text (empty cells for absent faces)."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        for r in self.rows():
            writer.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else
                                 round(v, 4) if isinstance(v, float) else v) for k, v in r.items()})
        return buf.getvalue()

    def to_json(self) -> str:
        """Formula, weights, summary and the per-second timeline as one JSON document (``null`` for missing values)."""
        doc = {
            "index": {"name": "concentration index (Sharma et al., 2019)", "formula": FORMULA,
                      "emotion_weights": {k: EMOTION_WEIGHTS[k] for k in self.labels},
                      "gaze_weights": {"both_eyes": GAZE_WEIGHTS[2], "one_eye": GAZE_WEIGHTS[1],
                                       "no_eye": GAZE_WEIGHTS[0]},
                      "disengaged_threshold": self.disengaged_threshold},
            "summary": self.summary(),
            "timeline": self.rows(),
        }
        return json_safe.dumps(doc)


def emotion_shares(timeline: pd.DataFrame, labels: Sequence[str], window: int = 10) -> pd.DataFrame:
    """Share of each dominant emotion among present faces, per second, averaged over a trailing ``window`` seconds."""
    present = timeline[timeline["present"].astype(bool)] if len(timeline) else timeline
    if present.empty:
        return pd.DataFrame(columns=list(labels), index=pd.Index([], name="second"), dtype=float)
    onehot = pd.get_dummies(present["dominant_emotion"]).reindex(columns=list(labels), fill_value=0).astype(float)
    onehot["second"] = present["second"].to_numpy()
    counts = onehot.groupby("second").sum()
    all_seconds = pd.Index(sorted(timeline["second"].unique()), name="second")
    counts = counts.reindex(all_seconds, fill_value=0.0)
    rolled = counts.rolling(window, min_periods=1).sum()
    total = rolled.sum(axis=1).replace(0, np.nan)
    return rolled.div(total, axis=0).fillna(0.0)


def _nanmean(values) -> float | None:
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    return float(v.mean()) if len(v) else None


def _face_sort_key(name: str):
    tail = name.rsplit(" ", 1)[-1]
    return (0, int(tail), name) if tail.isdigit() else (1, 0, name)
