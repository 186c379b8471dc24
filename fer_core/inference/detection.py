"""Face detection, two detectors behind one interface: OpenCV's Haar cascades (``FaceDetector``, "haar": the classic,
contrast-normalised, searched at reduced size, merged and sorted) and the YuNet CNN run by OpenCV's DNN module
(``YuNetDetector``, "yunet": finds turned, tilted, dim and partly covered faces that Haar misses). ``detect_faces(image,
method=...)`` runs either; ``list_detectors()`` names them; ``DEFAULT_DETECTOR`` is the one the real-photo benchmark
(``benchmarks/bench_detection.py``) justifies. Both return boxes in the same framing (FER2013's face crop), so the
classifier sees the same crop whichever detector found the face.

The detectors live in ``haar.py`` and ``yunet.py``, the boxes they return in ``boxes.py``; this module names them and
picks one."""
from __future__ import annotations

import threading

import numpy as np

from .boxes import Box, Detection
from .haar import FaceDetector
from .yunet import YuNetDetector

DETECTORS: dict[str, type] = {"haar": FaceDetector, "yunet": YuNetDetector}
DEFAULT_DETECTOR = "yunet"


def list_detectors() -> list[str]:
    """The detector names ``detect_faces``, ``make_detector`` and the app accept."""
    return list(DETECTORS)


def make_detector(method: str | None = None, **settings):
    """A new detector by name (None: ``DEFAULT_DETECTOR``) with ``settings`` (its dataclass fields)."""
    name = DEFAULT_DETECTOR if method is None else method
    if name not in DETECTORS:
        raise ValueError(f"Unknown face detector. Expected one of {list_detectors()}. Received: method={method!r}")
    return DETECTORS[name](**settings)


_shared: dict[str, object] = {}
_shared_lock = threading.Lock()


def default_detector(method: str | None = None):
    """A shared detector with default settings for ``method`` (None: ``DEFAULT_DETECTOR``), built once per process."""
    name = DEFAULT_DETECTOR if method is None else method
    with _shared_lock:
        if name not in _shared:
            _shared[name] = make_detector(name)
        return _shared[name]


def resolve_detector(detector=None):
    """A detector object from a name ("haar", "yunet"), None (the shared default) or a detector object (as is)."""
    if detector is None or isinstance(detector, str):
        return default_detector(detector)
    if not callable(getattr(detector, "detect", None)):
        raise ValueError(f"A detector must be one of {list_detectors()} or an object with .detect(image). "
                         f"Received: {type(detector).__name__}")
    return detector


def detect_scored(detector, image: np.ndarray) -> list[Detection]:
    """``Detection``s from any detector: its own ``detect_scored`` or, for one with only ``detect``, score 1.0."""
    if callable(getattr(detector, "detect_scored", None)):
        return detector.detect_scored(image)
    return [Detection(tuple(int(v) for v in b)) for b in detector.detect(image)]


def detect_faces(image: np.ndarray, method=None, **settings) -> list[Box]:
    """Face boxes ``(x, y, w, h)`` in ``image`` (BGR, BGRA or grey, any size), in reading order.

    ``method``: "haar", "yunet" or None (``DEFAULT_DETECTOR``); a detector object is also accepted. ``settings`` are
    the detector's fields (Haar: ``scale_factor``, ``min_neighbors``, ``min_size``, ``cascades`` ...; YuNet:
    ``score_threshold``, ``min_size``, ``max_side`` ...).
    """
    if method is not None and not isinstance(method, str):
        if settings:
            raise ValueError(f"Pass either a detector or settings, not both. Received: settings={sorted(settings)}")
        return resolve_detector(method).detect(image)
    if method is not None and method not in DETECTORS:
        raise ValueError(f"Unknown face detector. Expected one of {list_detectors()}. Received: method={method!r}")
    detector = make_detector(method, **settings) if settings else default_detector(method)
    return detector.detect(image)
