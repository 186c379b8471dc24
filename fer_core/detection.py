"""Face detection with OpenCV's Haar cascades: contrast-normalised, searched at reduced size, merged and sorted."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from .preprocessing import to_gray

Box = tuple[int, int, int, int]  # x, y, w, h in pixels of the image given to the detector

# Short names for the cascades that ship with OpenCV (cv2.data.haarcascades).
CASCADES: dict[str, str] = {
    "default": "haarcascade_frontalface_default.xml",
    "alt2": "haarcascade_frontalface_alt2.xml",
    "profile": "haarcascade_profileface.xml",
    "eye": "haarcascade_eye.xml",
}
EQUALIZE = ("clahe", "hist", "none")


class CascadeLoadError(ValueError):
    """A Haar cascade file is missing or not a cascade; the message names the file."""


_local = threading.local()  # CascadeClassifier is not safe to share between threads (webrtc runs its own).


def cascade_path(name: str) -> Path:
    """A short name from ``CASCADES`` -> the file in ``cv2.data.haarcascades``; anything else is taken as a path."""
    if name in CASCADES:
        return Path(cv2.data.haarcascades) / CASCADES[name]
    return Path(name)


def load_cascade(name: str) -> cv2.CascadeClassifier:
    """The loaded cascade ``name`` (short name or .xml path), cached per thread."""
    cache = _local.__dict__.setdefault("cascades", {})
    if name not in cache:
        path = cascade_path(name)
        if not path.is_file():
            raise CascadeLoadError(
                f"Haar cascade file not found. Expected one of {sorted(CASCADES)} or an existing .xml file. "
                f"Received: cascade={name!r} (path={str(path)!r})")
        cascade = cv2.CascadeClassifier()
        try:
            ok = cascade.load(str(path))
        except cv2.error:
            ok = False
        if not ok or cascade.empty():
            raise CascadeLoadError(f"Could not load the Haar cascade {str(path)!r}: the file is corrupt or not a cascade.")
        cache[name] = cascade
    return cache[name]


@dataclass
class FaceDetector:
    """Haar-cascade face detector with the knobs that matter; call it on a BGR, BGRA or grey image.

    - ``min_neighbors``: how many overlapping hits a face needs (higher = fewer false positives, fewer faces).
    - ``cascades``: which cascades search the image (``alt2`` by default; their boxes are merged by NMS).
    - ``min_size``: smallest face, in pixels of the input image. The image is searched downscaled so that such a
      face spans the cascade's native window (20 px for ``alt2``, 24 px for ``default``; the largest of the
      cascades used): small faces are not lost and big images are searched fast. ``max_side`` caps the searched
      image's longer side (bounding the time on huge photos; faces smaller than ``window * long_side / max_side``
      may then be missed).
    - ``equalize``: contrast normalisation before the search: CLAHE (local, the default), global histogram
      equalisation (which fails on photos with large flat areas, e.g. a portrait letterboxed in a big frame) or none.
    - ``verify_neighbors``: boxes of a frontal cascade are re-checked by the other one (``alt2`` by ``default`` and
      vice versa, ``VERIFIER``) on the box region (rescaled to a 48 px face) and dropped below this many hits; None
      (the default) uses the calibrated threshold for the cascade (``VERIFY_NEIGHBORS``: 5 for ``alt2`` boxes, 6 for
      ``default`` boxes), 0 disables.
    - ``sure_neighbors``: a box with at least this many neighbours in the search is kept without the re-check (0:
      re-check all). Face-free pictures never gave ``alt2`` more than 3; real faces a median of 14.
    - ``eye_check``: a box verified only weakly (fewer than ``SURE_VERIFY`` hits) must also show an eye.

    The defaults (``alt2`` searched at 20/48 of the size, CLAHE, pyramid step 1.2, 1 neighbour; boxes with fewer
    than 6 neighbours re-checked by ``default`` with 5 hits, then the eye check) were picked with
    ``benchmarks/calibrate_detector.py``: on 800 hard, often hand-covered FER2013 faces (48 px, upscaled 4x) they find
    66.5 %, with no false face on 66 face-free pictures and every face, nothing else, in the astronaut scenes (alone,
    dim, 3x3-tiled, 2x3 JPEG, letterboxed in a 4000x3000 frame; in the 5x5 gallery of 384 px tiles after a JPEG round
    trip 24 of 25 faces: the cascade proposes nothing for one). Skipping the re-check of sure boxes saves ~5 ms per
    face. The former re-check threshold (3 hits, every box) found 66.0 % but 5 false faces on that JPEG gallery.
    The former default cascade (``cascades=("default",)``, searched at 24/48, verified by ``alt2`` with 6 hits;
    still available) costs ~1.3x the detection CPU time on a 640x480 frame (alt2's smaller window allows a ~30 %
    smaller search image and it rejects windows faster).
    Rejected: step 1.25 (67.0 % and ~20 % faster, but it misses the hand-over-mouth face of the tests), step 1.3
    (64.6 %), 1.4 (misses a tiled face), an octave pyramid with a 2 px scan step at every scale (55 %: big faces
    need OpenCV's 1 px step above 2x the window). With ``alt2``, the classic setting (histogram equalisation,
    ``min_neighbors=5``, nothing re-checked) finds 60.6 % and no false face; CLAHE with 3 neighbours unverified 63.6 %
    and one extra box on the 3x3 tiles (with ``default`` the classic setting found 7 false faces on the face-free
    pictures and 3 on the 3x3 tiles, and missed the letterboxed astronaut).
    """

    cascades: Sequence[str] = ("alt2",)
    scale_factor: float = 1.2
    min_neighbors: int = 1
    min_size: int = 48
    max_side: int = 1280
    equalize: str = "clahe"
    verify_neighbors: int | None = None
    eye_check: bool = True
    iou_threshold: float = 0.3
    sure_neighbors: int = 6

    def __post_init__(self) -> None:
        if isinstance(self.cascades, str):
            self.cascades = (self.cascades,)
        self.cascades = tuple(self.cascades)
        if not self.cascades:
            raise ValueError("FaceDetector needs at least one cascade. Received: cascades=()")
        if not 1.01 <= self.scale_factor <= 2.0:
            raise ValueError(f"scale_factor must be in [1.01, 2.0]. Received: scale_factor={self.scale_factor}")
        if self.min_neighbors < 0 or (self.verify_neighbors is not None and self.verify_neighbors < 0):
            raise ValueError(f"min_neighbors and verify_neighbors must be >= 0. "
                             f"Received: min_neighbors={self.min_neighbors}, verify_neighbors={self.verify_neighbors}")
        if self.sure_neighbors < 0:
            raise ValueError(f"sure_neighbors must be >= 0. Received: sure_neighbors={self.sure_neighbors}")
        if self.min_size < 8:
            raise ValueError(f"min_size must be >= 8 pixels. Received: min_size={self.min_size}")
        if self.max_side < 64:
            raise ValueError(f"max_side must be >= 64 pixels. Received: max_side={self.max_side}")
        if self.equalize not in EQUALIZE:
            raise ValueError(f"equalize must be one of {EQUALIZE}. Received: equalize={self.equalize!r}")
        for name in self.cascades:
            load_cascade(name)  # fail at construction, naming the file
        verified = [n for n in self.cascades if n in VERIFIER and self.verify_threshold(n)]
        for name in verified:
            load_cascade(VERIFIER[name])
        if verified and self.eye_check:
            load_cascade("eye")

    def __call__(self, image: np.ndarray) -> list[Box]:
        return self.detect(image)

    def detect(self, image: np.ndarray) -> list[Box]:
        """Face boxes ``(x, y, w, h)`` in ``image`` pixels, in reading order (rows top to bottom, left to right)."""
        return [c.box for c in self.candidates(image) if c.kept]

    def candidates(self, image: np.ndarray) -> list["Candidate"]:
        """Every box the cascades proposed, with its scores and whether it survived verification and NMS (for tuning)."""
        gray = to_gray(image)
        h, w = gray.shape[:2]
        scale = self.search_scale(gray.shape)
        small = gray if scale == 1.0 else cv2.resize(gray, (max(round(w * scale), 1), max(round(h * scale), 1)),
                                                      interpolation=cv2.INTER_AREA)
        small = self._normalise(small)
        min_px = max(int(round(self.min_size * scale)), 1)
        found: list[Candidate] = []
        for name in self.cascades:
            for b, n in _run_cascade(load_cascade(name), small, self.scale_factor, self.min_neighbors, min_px,
                                     mirrored=(name == "profile")):
                box = _scale_box(b, 1.0 / scale, w, h)
                if box[2] < 1 or box[3] < 1:
                    continue
                verify, eyes, kept = -1, -1, True
                sure = self.sure_neighbors and n >= self.sure_neighbors
                if name in VERIFIER and self.verify_threshold(name) and not sure:
                    verify = verify_score(gray, box, VERIFIER[name])
                    kept = verify >= self.verify_threshold(name)
                    if kept and self.eye_check and verify < SURE_VERIFY:
                        eyes = count_eyes(gray, box)
                        kept = eyes >= 1
                found.append(Candidate(box, name, n, verify, kept, eyes))
        alive = [c for c in found if c.kept]
        if alive:
            keep = set(non_max_suppression(np.array([c.box for c in alive], dtype=np.float64),
                                           np.array([c.neighbors for c in alive], dtype=np.float64), self.iou_threshold))
            for i, c in enumerate(alive):
                c.kept = i in keep
        order = {b: i for i, b in enumerate(sort_boxes([c.box for c in found if c.kept]))}
        return sorted(found, key=lambda c: (not c.kept, order.get(c.box, 0)))

    def verify_threshold(self, cascade: str) -> int:
        """Verification hits a box of ``cascade`` needs (0 = not verified): ``verify_neighbors``, or if that is None
        the calibrated value for the cascade's verifier (``VERIFY_NEIGHBORS``)."""
        if cascade not in VERIFIER:
            return 0
        return VERIFY_NEIGHBORS[cascade] if self.verify_neighbors is None else self.verify_neighbors

    def search_scale(self, shape: tuple[int, ...]) -> float:
        """Scale (<= 1) at which the image is searched: a ``min_size`` face spans the largest native window of the
        cascades (20-24 px), capped by ``max_side``."""
        long_side = max(shape[:2])
        window = max(_window(name) for name in self.cascades)
        return min(1.0, window / self.min_size, self.max_side / long_side)

    def _normalise(self, gray: np.ndarray) -> np.ndarray:
        if self.equalize == "hist":
            return cv2.equalizeHist(gray)
        if self.equalize == "clahe":
            return _clahe().apply(gray)
        return gray


VERIFIER = {"default": "alt2", "alt2": "default"}  # which cascade re-checks the boxes of a frontal cascade
VERIFY_NEIGHBORS = {"default": 6, "alt2": 5}  # calibrated verification hits for boxes of each frontal cascade
VERIFY_SIDE = 48  # px the face spans in the region re-checked by the verifying cascade
SURE_VERIFY = 15  # verification hits above which a face needs no eye check (real faces score 20-70)
EYE_SIDE = 96  # px the face spans when looking for eyes


@dataclass
class Candidate:
    """A proposed box: which cascade found it, its neighbour count, verification hits and eyes (-1 = not checked)."""

    box: Box
    cascade: str
    neighbors: float
    verify: int
    kept: bool
    eyes: int = -1


def verify_score(gray: np.ndarray, box: Box, cascade: str = "alt2") -> int:
    """Hits of ``cascade`` on the box region (plus 25 % context) rescaled so the face is ``VERIFY_SIDE`` px.

    Normalising the size makes the count comparable across face sizes; real faces score in the tens, background
    textures that fooled the first cascade mostly score 0-2.
    """
    x, y, w, h = box
    pad = int(round(0.25 * max(w, h)))
    ih, iw = gray.shape[:2]
    roi = gray[max(0, y - pad):min(ih, y + h + pad), max(0, x - pad):min(iw, x + w + pad)]
    f = VERIFY_SIDE / max(w, h)
    roi = cv2.resize(roi, (max(round(roi.shape[1] * f), 1), max(round(roi.shape[0] * f), 1)),
                     interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    roi = cv2.equalizeHist(roi)
    lo, hi = int(VERIFY_SIDE * 0.7), int(VERIFY_SIDE * 1.4)
    hits, counts = load_cascade(cascade).detectMultiScale2(roi, scaleFactor=1.05, minNeighbors=1,
                                                           minSize=(lo, lo), maxSize=(hi, hi))
    return int(np.max(counts)) if len(hits) else 0


def count_eyes(gray: np.ndarray, box: Box) -> int:
    """Eyes (0-2) the eye cascade finds in the upper part of the box, the face rescaled to ``EYE_SIDE`` px.

    The tie-breaker for weakly verified boxes: a hand over the mouth leaves the eyes visible, while the background
    textures that fool both face cascades (clouds, folds of cloth) have none.
    """
    x, y, w, h = box
    ih, iw = gray.shape[:2]
    roi = gray[max(0, y):min(ih, y + int(h * 0.6)), max(0, x):min(iw, x + w)]
    if roi.size == 0:
        return 0
    f = EYE_SIDE / max(w, h)
    roi = cv2.resize(roi, (max(round(roi.shape[1] * f), 1), max(round(roi.shape[0] * f), 1)),
                     interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    eyes = load_cascade("eye").detectMultiScale(cv2.equalizeHist(roi), scaleFactor=1.05, minNeighbors=2,
                                                minSize=(12, 12), maxSize=(40, 40))
    return min(len(eyes), 2)


def _clahe() -> cv2.CLAHE:
    if not hasattr(_local, "clahe"):
        _local.clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    return _local.clahe


def _window(name: str) -> int:
    """The cascade's native (smallest) window side in px: 24 for ``default``, 20 for ``alt2`` and ``profile``."""
    return max(load_cascade(name).getOriginalWindowSize())


def _run_cascade(cascade: cv2.CascadeClassifier, gray: np.ndarray, scale_factor: float, min_neighbors: int,
                 min_px: int, mirrored: bool) -> list[tuple[Box, float]]:
    """Boxes with their neighbour counts; ``mirrored`` also runs on the flipped image (the profile cascade is one-sided)."""
    found = []
    passes = (False, True) if mirrored else (False,)
    w = gray.shape[1]
    for flip in passes:
        img = cv2.flip(gray, 1) if flip else gray
        boxes, counts = cascade.detectMultiScale2(img, scaleFactor=scale_factor, minNeighbors=min_neighbors,
                                                  minSize=(min_px, min_px))
        for (x, y, bw, bh), n in zip(np.asarray(boxes).reshape(-1, 4), np.asarray(counts).ravel()):
            x = w - x - bw if flip else x
            found.append(((int(x), int(y), int(bw), int(bh)), float(n)))
    return found


def _scale_box(box: Box, factor: float, width: int, height: int) -> Box:
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


_default_detector: FaceDetector | None = None


def default_detector() -> FaceDetector:
    """A shared ``FaceDetector()`` with default settings (its cascades load once)."""
    global _default_detector
    if _default_detector is None:
        _default_detector = FaceDetector()
    return _default_detector


def detect_faces(image: np.ndarray, detector: FaceDetector | None = None, **settings) -> list[Box]:
    """Face boxes ``(x, y, w, h)`` in ``image`` (BGR, BGRA or grey, any size), in reading order.

    ``settings`` are ``FaceDetector`` fields (``scale_factor``, ``min_neighbors``, ``min_size``, ``cascades`` ...).
    """
    if detector is not None and settings:
        raise ValueError(f"Pass either a detector or settings, not both. Received: settings={sorted(settings)}")
    if detector is None:
        detector = FaceDetector(**settings) if settings else default_detector()
    return detector.detect(image)
