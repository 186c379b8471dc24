"""OpenCV's Haar cascades as a face detector ("haar": the classic, contrast-normalised, searched at reduced size,
verified, merged and sorted), and the eye cascade that both the detector and the engagement monitor use."""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from .boxes import Box, Detection, non_max_suppression, scale_box, sort_boxes
from .preprocessing import to_gray

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
    - ``rotations``: the image is also searched turned by these angles (degrees) for tilted heads; those boxes must
      pass stricter checks (``_search(strict=True)``: always re-checked, both eyes or one eye and ``TURNED_VERIFY``
      hits). ``fallback_rotations``: angles searched only when the upright search (and ``rotations``) found nothing.

    Tuned on real photos (``benchmarks/bench_detection.py``: 57 photos, 140 faces of 48 px or more): the search turned
    by -20 and +20 degrees and a pyramid step of 1.15 find 93.6 % of the faces with one false box in 57 photos,
    against 89.3 % and two for the former defaults (step 1.2, upright only), at about 3x the time of the upright
    search; on the FER2013 faces below they find 72.5 % (from 66.5 %), still with no false face on the face-free
    pictures and every face of every scene (25 of 25 in the JPEG gallery). Turning by 15 or 25 degrees instead
    measured the same, 10 degrees less; without the stricter checks the turned searches found 3 faces in the
    face-free pictures. Rejected on the photos: step 1.1 (92.9 % upright, 6 false boxes), ``min_neighbors`` 2-3 (fewer
    faces, as many false), histogram or no equalisation, ``cascades=("default",)`` or both frontal cascades (more
    false boxes: up to 10), no eye check (the same faces), a second pass only when nothing was found (every photo has
    a face that the upright search finds, so it never ran). The live pipeline searches upright only (its own
    settings, ``fer_core.live.processor.LiveSettings.detector_params``): the turned searches triple the cost of a frame.

    The earlier defaults (``alt2`` searched at 20/48 of the size, CLAHE, pyramid step 1.2, 1 neighbour; boxes with fewer
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
    scale_factor: float = 1.15
    min_neighbors: int = 1
    min_size: int = 48
    max_side: int = 1280
    equalize: str = "clahe"
    verify_neighbors: int | None = None
    eye_check: bool = True
    iou_threshold: float = 0.3
    sure_neighbors: int = 6
    rotations: Sequence[float] = (-20.0, 20.0)
    fallback_rotations: Sequence[float] = ()

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
        self.rotations, self.fallback_rotations = tuple(self.rotations), tuple(self.fallback_rotations)
        if any(not 0 < abs(a) <= 45 for a in self.rotations + self.fallback_rotations):
            raise ValueError(f"rotations must be non-zero angles within +-45 degrees. Received: rotations="
                             f"{self.rotations}, fallback_rotations={self.fallback_rotations}")
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

    def detect_scored(self, image: np.ndarray) -> list["Detection"]:
        """``detect`` as ``Detection``s with score 1.0: a cascade's answer is yes or no (its neighbour counts are no
        probability), and every box returned has passed the calibrated checks. No landmarks."""
        return [Detection(b) for b in self.detect(image)]

    def candidates(self, image: np.ndarray) -> list["Candidate"]:
        """Every box the cascades proposed, with its scores and whether it survived verification and NMS (for tuning)."""
        gray = to_gray(image)
        h, w = gray.shape[:2]
        found = self._search(gray)
        angles = tuple(self.rotations)
        if self.fallback_rotations and not any(c.kept for c in found):
            angles += tuple(a for a in self.fallback_rotations if a not in angles)
        for angle in angles:  # tilted faces: search the image turned the other way, map the boxes back
            rotated, back = _rotate(gray, angle)
            for c in self._search(rotated, strict=True):
                c.box, c.angle = _map_box(c.box, back, w, h), float(angle)
                if c.box[2] >= 1 and c.box[3] >= 1:
                    found.append(c)
        alive = [c for c in found if c.kept]
        if alive:
            keep = set(non_max_suppression(np.array([c.box for c in alive], dtype=np.float64),
                                           np.array([c.neighbors for c in alive], dtype=np.float64), self.iou_threshold))
            for i, c in enumerate(alive):
                c.kept = i in keep
        order = {b: i for i, b in enumerate(sort_boxes([c.box for c in found if c.kept]))}
        return sorted(found, key=lambda c: (not c.kept, order.get(c.box, 0)))

    def _search(self, gray: np.ndarray, strict: bool = False) -> list["Candidate"]:
        """The upright search of a grey image: cascade hits, verified (``kept``), before NMS. ``strict`` (the turned
        searches, whose extra windows found face-like textures in the face-free pictures): every box is re-checked,
        however many neighbours it has, and must show both eyes, or one eye and ``TURNED_VERIFY`` verification hits."""
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
                box = scale_box(b, 1.0 / scale, w, h)
                if box[2] < 1 or box[3] < 1:
                    continue
                verify, eyes, kept = -1, -1, True
                sure = self.sure_neighbors and n >= self.sure_neighbors and not strict
                if name in VERIFIER and self.verify_threshold(name) and not sure:
                    verify = verify_score(gray, box, VERIFIER[name])
                    kept = verify >= self.verify_threshold(name)
                    if kept and strict:
                        eyes = count_eyes(gray, box)
                        kept = eyes >= 2 or (eyes >= 1 and verify >= TURNED_VERIFY)
                    elif kept and self.eye_check and verify < SURE_VERIFY:
                        eyes = count_eyes(gray, box)
                        kept = eyes >= 1
                found.append(Candidate(box, name, n, verify, kept, eyes))
        return found

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
# A box from a turned search needs both eyes, or one eye and this many verification hits: on the face-free pictures
# the turned searches' survivors had one eye and 11-19 hits; the tilted faces they add in the benchmark photos, 28-133
# hits with one eye (or two eyes).
TURNED_VERIFY = 25
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
    angle: float = 0.0  # the image was searched turned by this many degrees (0: upright)


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
    textures that fool both face cascades (clouds, folds of cloth) have none. (The engagement monitor counts eyes its
    own way, one per half of the face: ``fer_core.live.engagement.EyeDetector``.)
    """
    x, y, w, h = box
    roi = face_band(gray, box, int(h * 0.6))
    if roi.size == 0:
        return 0
    f = EYE_SIDE / max(w, h)
    roi = cv2.resize(roi, (max(round(roi.shape[1] * f), 1), max(round(roi.shape[0] * f), 1)),
                     interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    eyes = find_eyes(cv2.equalizeHist(roi), scale_factor=1.05, min_neighbors=2, min_size=12, max_size=40)
    return min(len(eyes), 2)


def face_band(gray: np.ndarray, box: Box, rows: int) -> np.ndarray:
    """The top ``rows`` rows of a face box (where the eyes are), clipped to the image (a view, maybe empty)."""
    x, y, w, _ = box
    ih, iw = gray.shape[:2]
    return gray[max(0, y):min(ih, y + rows), max(0, x):min(iw, x + w)]


def find_eyes(roi: np.ndarray, scale_factor: float, min_neighbors: int, min_size: int, max_size: int) -> np.ndarray:
    """Eye boxes ``(N, 4)`` (x, y, w, h in ``roi``'s pixels) that OpenCV's eye cascade (cached per thread) finds in a
    grey face region, e.g. a ``face_band``; the one place that runs the eye cascade."""
    eyes = load_cascade("eye").detectMultiScale(roi, scaleFactor=scale_factor, minNeighbors=min_neighbors,
                                                minSize=(min_size, min_size), maxSize=(max_size, max_size))
    return np.asarray(eyes).reshape(-1, 4)


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


def _rotate(gray: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """``gray`` turned by ``angle`` degrees (counter-clockwise) on a canvas that holds all of it (border replicated),
    and the 2x3 matrix mapping its pixels back to ``gray``'s."""
    h, w = gray.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(math.ceil(w * cos + h * sin)), int(math.ceil(w * sin + h * cos))
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    rotated = cv2.warpAffine(gray, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return rotated, cv2.invertAffineTransform(m)


def _map_box(box: Box, back: np.ndarray, width: int, height: int) -> Box:
    """A box found in a rotated image -> the same-sized box around its centre in the original image."""
    x, y, w, h = box
    cx, cy = back @ np.array([x + w / 2, y + h / 2, 1.0])
    return scale_box((cx - w / 2, cy - h / 2, w, h), 1.0, width, height)


