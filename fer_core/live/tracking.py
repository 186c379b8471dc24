"""Face tracking across video frames: stable ids ("Face 1", "Face 2") and per-track smoothed probabilities.

Matching is greedy: first by box overlap (IoU at least ``iou_threshold``), then, for what is left, by centroid
distance (at most ``max_distance`` face widths, for faces that moved between two detection passes). A new face gets
an id once it was detected ``min_hits`` times in a row, so a one-off false detection never burns an id; a track
expires after ``max_missed`` detection passes without a match. Ids are never reused within a tracker's life.

Probabilities are smoothed per track with an exponential moving average (``ema``) so labels do not flicker.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..inference.boxes import Box


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes (0 when they do not overlap)."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = min(ax + aw, bx + bw) - max(ax, bx)
    ih = min(ay + ah, by + bh) - max(ay, by)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / float(aw * ah + bw * bh - inter)


def centroid_distance(a: Box, b: Box) -> float:
    """Distance between box centres in units of ``a``'s size (``sqrt(w*h)``), so it means the same at any scale."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    d = np.hypot((ax + aw / 2) - (bx + bw / 2), (ay + ah / 2) - (by + bh / 2))
    return float(d / max(np.sqrt(aw * ah), 1.0))


def ema(previous: np.ndarray | None, new: np.ndarray, strength: float) -> np.ndarray:
    """Exponential moving average ``strength * previous + (1 - strength) * new``; 0 = no smoothing."""
    if not 0.0 <= strength < 1.0:
        raise ValueError(f"Smoothing strength must be in [0, 1). Received: strength={strength}")
    new = np.asarray(new, dtype=np.float32)
    if previous is None:
        return new.copy()
    if previous.shape != new.shape:
        raise ValueError(f"Probabilities changed shape between frames. Received: {previous.shape} then {new.shape}")
    return (strength * previous + (1.0 - strength) * new).astype(np.float32)


@dataclass
class Track:
    """One face followed over time; ``id`` is 0 until the track is confirmed (then 1, 2, ...)."""

    box: Box
    id: int = 0
    hits: int = 1
    missed: int = 0
    probabilities: np.ndarray | None = None
    extra: dict = field(default_factory=dict)  # per-track data the caller keeps with the face (e.g. eyes seen)

    @property
    def name(self) -> str:
        return f"Face {self.id}" if self.id else "Face ?"

    @property
    def confirmed(self) -> bool:
        return self.id > 0

    @property
    def present(self) -> bool:
        """Matched by the latest detection pass."""
        return self.missed == 0

    @property
    def area(self) -> int:
        return int(self.box[2] * self.box[3])


class FaceTracker:
    """Keeps tracks of faces between detection passes: ``update(boxes)`` after each pass, ``smooth(track, p)``."""

    def __init__(self, iou_threshold: float = 0.3, max_distance: float = 0.6, max_missed: int = 5,
                 min_hits: int = 2, smoothing: float = 0.6, box_smoothing: float = 0.0):
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1]. Received: iou_threshold={iou_threshold}")
        if max_missed < 0 or min_hits < 1:
            raise ValueError(f"max_missed must be >= 0 and min_hits >= 1. "
                             f"Received: max_missed={max_missed}, min_hits={min_hits}")
        ema(None, np.zeros(1), smoothing)  # validates the strength
        ema(None, np.zeros(1), box_smoothing)
        self.iou_threshold = iou_threshold
        self.max_distance = max_distance
        self.max_missed = max_missed
        self.min_hits = min_hits
        self.smoothing = smoothing
        self.box_smoothing = box_smoothing
        self._tracks: list[Track] = []
        self._next_id = 1

    @property
    def tracks(self) -> list[Track]:
        """Confirmed tracks still alive (present or recently missed), by id."""
        return sorted((t for t in self._tracks if t.confirmed), key=lambda t: t.id)

    def candidates(self) -> list[Track]:
        """Every live track, those not yet confirmed (seen fewer than ``min_hits`` times) included."""
        return list(self._tracks)

    def present(self) -> list[Track]:
        """Confirmed tracks matched by the latest detection pass, by id."""
        return [t for t in self.tracks if t.present]

    def active(self, hold: int = 0) -> list[Track]:
        """Confirmed tracks missed by at most ``hold`` latest detection passes (their last box is carried), by id:
        Haar detectors miss a face now and then, and a face should not blink off for that."""
        return [t for t in self.tracks if t.missed <= hold]

    def reset(self) -> None:
        """Forget every track and start ids again at 1."""
        self._tracks = []
        self._next_id = 1

    def rescale(self, sx: float, sy: float) -> None:
        """Scale every track's box, when the video's resolution changes (a browser lowers it under load), so that the
        same faces keep their tracks and ids instead of being lost and found again under new ids."""
        if not (math.isfinite(sx) and math.isfinite(sy) and sx > 0 and sy > 0):
            raise ValueError(f"Scale factors must be positive and finite. Received: sx={sx}, sy={sy}")
        for t in self._tracks:
            x, y, w, h = t.box
            t.box = (round(x * sx), round(y * sy), max(1, round(w * sx)), max(1, round(h * sy)))

    def update(self, boxes: Sequence[Box]) -> list[Track | None]:
        """Match one detection pass; returns, per input box, its confirmed track (None while still tentative)."""
        boxes = [_as_box(b) for b in boxes]
        assigned: dict[int, Track] = {}
        free_tracks = list(self._tracks)
        free_boxes = list(range(len(boxes)))

        used_t: set[int] = set()
        used_b: set[int] = set()
        by_overlap = sorted(((iou(t.box, boxes[j]), ti, j) for ti, t in enumerate(free_tracks) for j in free_boxes),
                            reverse=True)
        for ti, j in _claim(by_overlap, lambda score: score >= self.iou_threshold, used_t, used_b):
            assigned[j] = free_tracks[ti]
        # then what is left by centre distance: faces that moved between two detection passes
        by_distance = sorted((centroid_distance(t.box, boxes[j]), ti, j) for ti, t in enumerate(free_tracks)
                             if ti not in used_t for j in free_boxes if j not in used_b)
        for ti, j in _claim(by_distance, lambda dist: dist <= self.max_distance, used_t, used_b):
            assigned[j] = free_tracks[ti]

        matched = set(id(t) for t in assigned.values())
        for t in self._tracks:
            if id(t) not in matched:
                t.missed += 1
        for j, t in assigned.items():
            t.box = _blend_box(t.box, boxes[j], self.box_smoothing)
            t.missed = 0
            t.hits += 1
        for j in range(len(boxes)):
            if j not in assigned:
                t = Track(box=boxes[j])
                self._tracks.append(t)
                assigned[j] = t
        for t in self._tracks:
            if not t.confirmed and t.hits >= self.min_hits:
                t.id = self._next_id
                self._next_id += 1
        # A tentative track must be seen in consecutive passes; a confirmed one survives max_missed misses.
        self._tracks = [t for t in self._tracks
                        if (t.confirmed and t.missed <= self.max_missed) or (not t.confirmed and t.missed == 0)]
        return [assigned[j] if assigned[j].confirmed else None for j in range(len(boxes))]

    def smooth(self, track: Track, probabilities: np.ndarray) -> np.ndarray:
        """Fold new probabilities into the track's moving average and return the smoothed row."""
        track.probabilities = ema(track.probabilities, probabilities, self.smoothing)
        return track.probabilities


def _claim(pairs, acceptable, used_t: set[int], used_b: set[int]) -> list[tuple[int, int]]:
    """Greedy one-to-one matching: walk ``pairs`` of (score, track index, box index), best first, taking each pair
    whose track and box are both still free (marking them used), until a score is no longer ``acceptable``."""
    taken = []
    for score, ti, j in pairs:
        if not acceptable(score):
            break
        if ti in used_t or j in used_b:
            continue
        used_t.add(ti)
        used_b.add(j)
        taken.append((ti, j))
    return taken


def _as_box(b) -> Box:
    try:
        x, y, w, h = (int(round(float(v))) for v in b)
    except (TypeError, ValueError):
        raise ValueError(f"A box must be 4 numbers (x, y, w, h). Received: box={b!r}") from None
    if w <= 0 or h <= 0:
        raise ValueError(f"A box needs a positive width and height. Received: box={(x, y, w, h)}")
    return x, y, w, h


def _blend_box(old: Box, new: Box, strength: float) -> Box:
    if strength <= 0:
        return new
    return tuple(int(round(strength * o + (1 - strength) * n)) for o, n in zip(old, new))  # type: ignore[return-value]
