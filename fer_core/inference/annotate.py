"""Drawing results on images: one colour per emotion, boxes with a label tag (shared by photo, webcam and video)."""
from __future__ import annotations

import zlib
from typing import Sequence

import cv2
import numpy as np

from .preprocessing import to_bgr

# One colour per emotion (hex RGB, used by Plotly charts as well as by the OpenCV drawing below).
EMOTION_COLORS: dict[str, str] = {
    "angry": "#d62728",
    "disgust": "#2ca02c",
    "fear": "#9467bd",
    "happy": "#f2b701",
    "sad": "#1f77b4",
    "surprise": "#ff7f0e",
    "neutral": "#7f7f7f",
    "contempt": "#8c564b",
}
_FALLBACK = ("#17becf", "#e377c2", "#bcbd22", "#393b79", "#637939", "#843c39")


def emotion_color(label: str) -> str:
    """Hex RGB colour of ``label``; labels outside ``EMOTION_COLORS`` get a stable colour from a fallback palette."""
    return EMOTION_COLORS.get(label) or _FALLBACK[zlib.crc32(label.encode()) % len(_FALLBACK)]


def emotion_color_bgr(label: str) -> tuple[int, int, int]:
    h = emotion_color(label).lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return b, g, r


def draw_faces(image: np.ndarray, boxes: Sequence[Sequence[int]], labels: Sequence[str],
               scores: Sequence[float] | None = None, numbers: bool = False, copy: bool = True) -> np.ndarray:
    """BGR image with each box outlined in its label's colour and tagged ``"[#n] label [87%]"``.

    Line width and text size follow the image size so tags stay readable on phone photos and webcam frames alike.
    """
    out = to_bgr(image)
    if copy or out is image:
        out = out.copy()
    if len(boxes) != len(labels) or (scores is not None and len(scores) != len(labels)):
        raise ValueError(f"Need one label (and score) per box. Received: {len(boxes)} boxes, {len(labels)} labels, "
                         f"{None if scores is None else len(scores)} scores")
    side = max(out.shape[:2])
    thick = max(1, round(side / 400))
    font_scale = max(0.4, side / 1400)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for i, (box, label) in enumerate(zip(boxes, labels)):
        x, y, w, h = (int(v) for v in box)
        color = emotion_color_bgr(label)
        cv2.rectangle(out, (x, y), (x + w, y + h), color, thick)
        text = f"#{i + 1} {label}" if numbers else label
        if scores is not None:
            text += f" {100 * float(scores[i]):.0f}%"
        (tw, th), base = cv2.getTextSize(text, font, font_scale, max(1, thick // 2))
        pad = max(2, thick)
        top = y - th - base - 2 * pad
        if top < 0:  # no room above the box: put the tag just inside its top edge
            top = y
        left = max(0, min(x, out.shape[1] - tw - 2 * pad))  # keep the tag inside the image
        cv2.rectangle(out, (left, top), (left + tw + 2 * pad, top + th + base + 2 * pad), color, -1)
        text_color = (0, 0, 0) if _luminance(color) > 140 else (255, 255, 255)
        cv2.putText(out, text, (left + pad, top + pad + th), font, font_scale, text_color, max(1, thick // 2),
                    cv2.LINE_AA)
    return out


def draw_results(image: np.ndarray, results: Sequence, numbers: bool = False, scores: bool = True) -> np.ndarray:
    """``draw_faces`` for ``FaceResult`` objects (box, dominant emotion, its probability)."""
    return draw_faces(image, [r.box for r in results], [r.dominant_emotion for r in results],
                      [r.confidence for r in results] if scores else None, numbers=numbers)


def _luminance(bgr: tuple[int, int, int]) -> float:
    b, g, r = bgr
    return 0.299 * r + 0.587 * g + 0.114 * b
