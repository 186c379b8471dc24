"""``analyze(image)``: detect every face, crop it like the training faces, classify all crops in one batch."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .detection import Box, FaceDetector, default_detector
from .preprocessing import FACE_MARGIN, check_image, crop_faces


@dataclass(frozen=True)
class FaceResult:
    """One face: its box ``(x, y, w, h)`` and the model's probabilities, aligned with ``labels``."""

    box: Box
    probabilities: np.ndarray
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        probs = np.asarray(self.probabilities, dtype=np.float32).ravel()
        if len(probs) != len(self.labels):
            raise ValueError(f"Need one probability per label. Received: {len(probs)} probabilities for labels={list(self.labels)}")
        object.__setattr__(self, "probabilities", probs)
        object.__setattr__(self, "box", tuple(int(v) for v in self.box))
        object.__setattr__(self, "labels", tuple(self.labels))

    @property
    def dominant_emotion(self) -> str:
        return self.labels[int(np.argmax(self.probabilities))]

    @property
    def confidence(self) -> float:
        """Probability of the dominant emotion (0-1)."""
        return float(np.max(self.probabilities))

    @property
    def emotions(self) -> dict[str, float]:
        """``{label: probability 0-1}`` in the model's label order."""
        return {k: float(v) for k, v in zip(self.labels, self.probabilities)}

    def to_dict(self) -> dict:
        """DeepFace's shape: ``{"region": {x, y, w, h}, "emotion": {label: percent}, "dominant_emotion": label}``."""
        x, y, w, h = self.box
        return {
            "region": {"x": x, "y": y, "w": w, "h": h},
            "emotion": {k: round(100.0 * v, 4) for k, v in self.emotions.items()},
            "dominant_emotion": self.dominant_emotion,
        }


_classifier = None
_classifier_lock = threading.Lock()


def default_classifier():
    """The shipped default model, loaded once per process."""
    global _classifier
    with _classifier_lock:
        if _classifier is None:
            from .classifier import load_classifier

            _classifier = load_classifier()
        return _classifier


def analyze(image: np.ndarray, classifier=None, detector: FaceDetector | None = None, *,
            boxes: Sequence[Box] | None = None, whole_image: bool = False,
            margin: float = FACE_MARGIN, tta: bool | str | None = None) -> list[FaceResult]:
    """Every face in ``image`` (BGR, BGRA or grey uint8 as OpenCV reads it, any size), in reading order.

    ``classifier`` defaults to the shipped model and ``detector`` to ``FaceDetector()``. ``boxes`` skips detection
    (e.g. boxes tracked from an earlier frame); ``whole_image`` treats the whole image as one face crop (for images
    that already are crops, like dataset samples). All crops go to the model in one batch. ``tta`` overrides the
    classifier's test-time augmentation (``"none"``, ``"flip"``, ``"crops"``; None = the classifier's own).
    """
    image = check_image(image)
    if whole_image:
        h, w = image.shape[:2]
        boxes, margin = [(0, 0, w, h)], 0.0
    elif boxes is None:
        boxes = (detector or default_detector()).detect(image)
    if not boxes:
        return []
    clf = classifier if classifier is not None else default_classifier()
    probs = clf.predict_proba(crop_faces(image, boxes, margin), tta=tta)
    return [FaceResult(tuple(b), p, clf.labels) for b, p in zip(boxes, probs)]


def to_records(results: Sequence[FaceResult], **extra) -> list[dict]:
    """Flat rows (face number, box, dominant emotion, confidence, one column per label) for tables and CSV."""
    rows = []
    for i, r in enumerate(results, start=1):
        x, y, w, h = r.box
        rows.append({**extra, "face": i, "x": x, "y": y, "w": w, "h": h, "dominant_emotion": r.dominant_emotion,
                     "confidence": round(r.confidence, 4), **{k: round(v, 4) for k, v in r.emotions.items()}})
    return rows


def distribution(results: Sequence[FaceResult], labels: Sequence[str] | None = None) -> dict[str, int]:
    """How many faces have each dominant emotion (every label present, zeros included)."""
    labels = tuple(labels) if labels is not None else (results[0].labels if results else ())
    counts = {k: 0 for k in labels}
    for r in results:
        counts[r.dominant_emotion] = counts.get(r.dominant_emotion, 0) + 1
    return counts
