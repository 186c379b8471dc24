"""``analyze(image)``: detect every face, crop it like the training faces, classify all crops in one batch."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .boxes import Box, Detection
from .detection import detect_scored, resolve_detector
from .preprocessing import FACE_MARGIN, check_image, crop_face, crop_face_aligned

# Level the eyes (YuNet's landmarks) before classifying? Off: it changes nothing measurable. With the shipped model on
# the faces YuNet finds (benchmarks/bench_alignment.py; dataset faces upscaled 4x in a reflected border, the model's
# own flip TTA; fer_vgg_wide_s1's 7-bit int8 file), accuracy without / with alignment: FER2013 PublicTest 64.0 / 64.8 %
# (3,206 faces; 119 answers turned right, 94 wrong, p = 0.10), the same photos turned by up to +-20 degrees
# 62.7 / 63.3 % (150 vs 131); CK+48 without contempt 67.1 / 65.9 % (927 faces; 7 vs 18, p = 0.04), turned
# 64.3 / 65.2 % (28 vs 20). No consistent gain. The likely reason: YuNet's landmarks hardly
# follow an in-plane tilt (a head turned by 20 degrees gives an eye line of 1.5 degrees, by 30 degrees 7), so the crop
# is barely turned. ``align=True`` stays available (any detector giving eye points, e.g. a better landmark model).
ALIGN_DEFAULT = False


@dataclass(frozen=True)
class FaceResult:
    """One face: its box ``(x, y, w, h)``, the model's probabilities (aligned with ``labels``) and how sure the
    detector is that it is a face (``face_confidence``, 0-1: YuNet's score; 1.0 for Haar, whose cascades answer yes
    or no, and for boxes given by the caller)."""

    box: Box
    probabilities: np.ndarray
    labels: tuple[str, ...]
    face_confidence: float = 1.0

    def __post_init__(self) -> None:
        conf = float(self.face_confidence)
        if not 0.0 <= conf <= 1.0:
            raise ValueError(f"face_confidence must be in [0, 1]. Received: face_confidence={self.face_confidence!r}")
        object.__setattr__(self, "face_confidence", conf)
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
        """DeepFace's shape: ``{"region": {x, y, w, h}, "emotion": {label: percent}, "dominant_emotion": label,
        "face_confidence": 0-1}``."""
        x, y, w, h = self.box
        return {
            "region": {"x": x, "y": y, "w": w, "h": h},
            "emotion": {k: round(100.0 * v, 4) for k, v in self.emotions.items()},
            "dominant_emotion": self.dominant_emotion,
            "face_confidence": round(self.face_confidence, 4),
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


def analyze(image: np.ndarray, classifier=None, detector=None, *,
            boxes: Sequence[Box] | None = None, whole_image: bool = False,
            margin: float = FACE_MARGIN, tta: bool | str | None = None, align: bool | None = None) -> list[FaceResult]:
    """Every face in ``image`` (BGR, BGRA or grey uint8 as OpenCV reads it, any size), in reading order.

    ``classifier`` defaults to the shipped model. ``detector``: a detector object (``FaceDetector``, ``YuNetDetector``
    or anything with ``.detect(image)``), a name from ``fer_core.inference.detection.list_detectors()`` ("haar", "yunet") or
    None (``DEFAULT_DETECTOR``). ``boxes`` skips detection (e.g. boxes tracked from an earlier frame);
    ``whole_image`` treats the whole image as one face crop (for images that already are crops, like dataset
    samples). ``align`` levels the eyes before classifying when the detector gives landmarks (YuNet; None:
    ``ALIGN_DEFAULT``). All crops go to the model in one batch. ``tta`` overrides the classifier's test-time
    augmentation (``"none"``, ``"flip"``, ``"crops"``; None = the classifier's own).
    """
    image = check_image(image)
    if whole_image:
        h, w = image.shape[:2]
        found, margin = [Detection((0, 0, w, h))], 0.0
    elif boxes is None:
        found = detect_scored(resolve_detector(detector), image)
    else:
        found = [Detection(tuple(b)) for b in boxes]
    if not found:
        return []
    align = ALIGN_DEFAULT if align is None else align
    crops = [crop_face_aligned(image, d.box, d.eyes, margin) if align and d.eyes is not None
             else crop_face(image, d.box, margin) for d in found]
    clf = classifier if classifier is not None else default_classifier()
    probs = clf.predict_proba(crops, tta=tta, photo=True)
    return [FaceResult(tuple(d.box), p, clf.labels, d.score) for d, p in zip(found, probs)]


def to_records(results: Sequence[FaceResult], **extra) -> list[dict]:
    """Flat rows (face number, box, the detector's face confidence, dominant emotion and its probability, one column
    per label) for tables and CSV."""
    rows = []
    for i, r in enumerate(results, start=1):
        x, y, w, h = r.box
        rows.append({**extra, "face": i, "x": x, "y": y, "w": w, "h": h, "face_confidence": round(r.face_confidence, 4),
                     "dominant_emotion": r.dominant_emotion,
                     "confidence": round(r.confidence, 4), **{k: round(v, 4) for k, v in r.emotions.items()}})
    return rows


def distribution(results: Sequence[FaceResult], labels: Sequence[str] | None = None) -> dict[str, int]:
    """How many faces have each dominant emotion (every label present, zeros included)."""
    labels = tuple(labels) if labels is not None else (results[0].labels if results else ())
    counts = {k: 0 for k in labels}
    for r in results:
        counts[r.dominant_emotion] = counts.get(r.dominant_emotion, 0) + 1
    return counts
