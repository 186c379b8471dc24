"""Face boxes as every part of the pipeline sees them: ``Box`` (x, y, w, h in pixels), ``Detection`` (a box with its
score and landmarks), and the geometry the detectors and the tracker share: clipping, non-maximum suppression,
reading order, overlap and centre distance."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

Box = tuple[int, int, int, int]  # x, y, w, h in pixels of the image given to the detector


@dataclass(frozen=True)
class Detection:
    """One face: its box ``(x, y, w, h)`` (FER2013 framing), how sure the detector is (0-1) and, from YuNet, five
    landmarks ``((x, y), ...)`` in image pixels: the eye on the image's left, the other eye, the nose tip, the mouth
    corner on the image's left, the other corner (None from Haar, which has none)."""

    box: Box
    score: float = 1.0
    landmarks: tuple[tuple[float, float], ...] | None = None

    @property
    def eyes(self) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """The two eye centres (image-left first), or None."""
        return None if self.landmarks is None else (self.landmarks[0], self.landmarks[1])




def scale_box(box: Box, factor: float, width: int, height: int) -> Box:
    x, y, w, h = (v * factor for v in box)
    x0, y0 = max(int(round(x)), 0), max(int(round(y)), 0)
    x1, y1 = min(int(round(x + w)), width), min(int(round(y + h)), height)
    return x0, y0, x1 - x0, y1 - y0



def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.3) -> list[int]:
    """Indices of boxes ``(N, 4)`` (x, y, w, h) kept by greedy NMS, best score first.

    A box is also dropped when most of it (> 60 %) lies inside a kept box: Haar cascades often fire on a
    face and on a patch within it, whose IoU alone is small.
    """
    if len(boxes) == 0:
        return []
    x0, y0 = boxes[:, 0], boxes[:, 1]
    x1, y1 = x0 + boxes[:, 2], y0 + boxes[:, 3]
    area = boxes[:, 2] * boxes[:, 3]
    order = np.lexsort((-area, -scores))  # best score first; larger box first on ties
    keep: list[int] = []
    while len(order):
        i, rest = order[0], order[1:]
        keep.append(int(i))
        iw = np.clip(np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]), 0, None)
        ih = np.clip(np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]), 0, None)
        inter = iw * ih
        iou = inter / (area[i] + area[rest] - inter)
        inside = inter / np.minimum(area[i], area[rest])
        order = rest[(iou <= iou_threshold) & (inside <= 0.6)]
    return keep


def sort_boxes(boxes: Sequence[Box]) -> list[Box]:
    """Reading order: boxes whose vertical centres are within half a median face height share a row."""
    if len(boxes) < 2:
        return [tuple(int(v) for v in b) for b in boxes]
    boxes = sorted((tuple(int(v) for v in b) for b in boxes), key=lambda b: b[1] + b[3] / 2)
    tol = float(np.median([b[3] for b in boxes])) / 2
    rows: list[list[Box]] = []
    for b in boxes:
        cy = b[1] + b[3] / 2
        if rows and cy - (rows[-1][0][1] + rows[-1][0][3] / 2) <= tol:
            rows[-1].append(b)
        else:
            rows.append([b])
    return [b for row in rows for b in sorted(row, key=lambda b: b[0])]


