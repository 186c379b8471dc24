"""The YuNet CNN face detector run by OpenCV's DNN module ("yunet": finds turned, tilted, dim and partly covered faces
that Haar misses), with the shipped model file checked by its SHA-256."""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Sequence

import cv2
import numpy as np

from .boxes import Box, Detection, non_max_suppression, scale_box, sort_boxes
from .preprocessing import check_image

_local = threading.local()  # FaceDetectorYN keeps the input size between calls: one per thread

MODELS_DIR = Path(__file__).resolve().parents[2] / "models" / "detectors"
YUNET_FILE = MODELS_DIR / "face_detection_yunet_2023mar.onnx"
# opencv_zoo's face_detection_yunet_2023mar.onnx (its Git LFS pointer's oid); the shipped copy must be exactly it.
YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
YUNET_MIN_PX = 16  # YuNet finds faces from about 10 px; the search never shrinks a min_size face below this
# FER2013's 48x48 frame in YuNet-box units, measured on 2,728 training faces (upscaled 4x, padded; YuNet found 91 %,
# benchmarks/bench_detection.py --calibrate-frame): a square of 1.32 x the box width (IQR 1.21-1.45; the width varies
# less than the height), centred on the box (offset +0.4 % of the width, +1.5 % of the height).
FER_FRAME_SIDE = 1.32
FER_FRAME_DY = 0.015


class YuNetLoadError(ValueError):
    """The YuNet model file is missing, corrupt or not a YuNet face model; the message names the file."""


def load_yunet(path: str | Path | None = None, score_threshold: float = 0.8, nms_threshold: float = 0.3,
               top_k: int = 5000) -> "cv2.FaceDetectorYN":
    """OpenCV's ``FaceDetectorYN`` on ``path`` (the shipped file by default), one per thread and settings (the object
    keeps the input size between calls, so threads must not share it). ``YuNetLoadError`` names the file when it is
    missing, is not the shipped file's exact bytes (for the shipped path) or does not run as a YuNet model."""
    path = Path(YUNET_FILE if path is None else path)
    key = (str(path), float(score_threshold), float(nms_threshold), int(top_k))
    cache = _local.__dict__.setdefault("yunet", {})
    if key not in cache:
        _check_yunet_file(path)
        try:
            det = cv2.FaceDetectorYN.create(str(path), "", (64, 64), score_threshold, nms_threshold, top_k)
            det.detect(np.zeros((64, 64, 3), np.uint8))  # a file that parses as ONNX but is no YuNet fails here
        except cv2.error as e:
            raise YuNetLoadError(f"Could not load the YuNet face model {str(path)!r}: the file is corrupt or not a "
                                 f"YuNet ONNX model ({str(e).strip().splitlines()[-1][:160]})") from None
        cache[key] = det
    return cache[key]


_checked_files: dict[str, float] = {}


def _check_yunet_file(path: Path) -> None:
    if not path.is_file():
        raise YuNetLoadError(f"YuNet face model file not found. Expected the ONNX file shipped in {str(MODELS_DIR)!r} "
                             f"(or an existing .onnx path). Received: path={str(path)!r}")
    if path.resolve() == YUNET_FILE.resolve():
        mtime = path.stat().st_mtime
        if _checked_files.get(str(path)) != mtime:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != YUNET_SHA256:
                raise YuNetLoadError(f"The YuNet face model {str(path)!r} is corrupt: expected SHA-256 {YUNET_SHA256}. "
                                     f"Received: sha256={digest}, size={path.stat().st_size} bytes")
            _checked_files[str(path)] = mtime


@dataclass
class YuNetDetector:
    """YuNet (a 75k-parameter CNN from libfacedetection, run by OpenCV's ``FaceDetectorYN``): faces of any skin tone,
    turned up to about 60 degrees, tilted, dim, behind glasses or hands, with a 0-1 score and five landmarks.

    - ``score_threshold``: the least face score kept (YuNet's own default is 0.6; see ``DEFAULTS_NOTE``).
    - ``min_size``: boxes narrower than this (px of the input image) are dropped.
    - ``max_side``: the image is searched downscaled so its longer side is at most this (the cost grows with the
      pixels searched), but never so far that a ``min_size`` face would shrink below ``YUNET_MIN_PX``; when that floor
      applies, a second pass at ``max_side`` catches faces too big for the first one.
    - ``model_path``: the ONNX file (the shipped one by default; checked against its SHA-256).

    Boxes come in FER2013's framing (``FER_FRAME_SIDE``): a square around the face like Haar's, which the classifier
    was trained on; ``detect_scored`` adds the scores and landmarks. Colour images are used as they are; grey ones are
    searched as grey (YuNet was trained on colour, so give it colour when there is colour).
    """

    score_threshold: float = 0.7
    nms_threshold: float = 0.3
    min_size: int = 48
    max_side: int = 640
    model_path: str | Path | None = None  # None: the shipped file (YUNET_FILE)

    color_input: ClassVar[bool] = True  # live pipelines pass it the colour frame rather than the grey one

    def __post_init__(self) -> None:
        if not 0.0 < self.score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in (0, 1). Received: score_threshold={self.score_threshold}")
        if not 0.0 < self.nms_threshold < 1.0:
            raise ValueError(f"nms_threshold must be in (0, 1). Received: nms_threshold={self.nms_threshold}")
        if self.min_size < 8:
            raise ValueError(f"min_size must be >= 8 pixels. Received: min_size={self.min_size}")
        if self.max_side < 64:
            raise ValueError(f"max_side must be >= 64 pixels. Received: max_side={self.max_side}")
        self.model_path = Path(YUNET_FILE if self.model_path is None else self.model_path)
        self._model()  # fail at construction, naming the file

    def _model(self):
        return load_yunet(self.model_path, self.score_threshold, self.nms_threshold)

    def __call__(self, image: np.ndarray) -> list[Box]:
        return self.detect(image)

    def detect(self, image: np.ndarray) -> list[Box]:
        """Face boxes ``(x, y, w, h)`` in ``image`` pixels (FER2013 framing), in reading order."""
        return [d.box for d in self.detect_scored(image)]

    def search_scales(self, shape: tuple[int, ...]) -> list[float]:
        """Scales (<= 1) the image is searched at: ``max_side`` bounds the first unless a ``min_size`` face would
        fall below ``YUNET_MIN_PX``; then a second, coarser pass at ``max_side`` catches the biggest faces."""
        long_side = max(shape[:2])
        cap = min(1.0, self.max_side / long_side)
        first = min(1.0, max(cap, YUNET_MIN_PX / self.min_size))
        return [first] if cap >= 0.75 * first else [first, cap]

    def detect_scored(self, image: np.ndarray) -> list[Detection]:
        """``Detection`` per face (box, score, landmarks), in reading order."""
        img = check_image(image)
        if img.ndim == 3 and img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
        elif img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        h, w = img.shape[:2]
        if min(h, w) < self.min_size:  # no face of min_size fits (and YuNet's output on slivers is not stable)
            return []
        model = self._model()
        rows = []
        for scale in self.search_scales(img.shape):
            small = img if scale == 1.0 else cv2.resize(img, (max(round(w * scale), 1), max(round(h * scale), 1)),
                                                        interpolation=cv2.INTER_AREA)
            model.setInputSize((small.shape[1], small.shape[0]))
            _, faces = model.detect(small)
            if faces is not None:
                rows.append(faces[:, :15] / np.array([scale] * 14 + [1.0], np.float32))
        if not rows:
            return []
        faces = np.concatenate(rows)
        faces = faces[faces[:, 2] >= self.min_size]
        if len(rows) > 1 and len(faces):
            faces = faces[non_max_suppression(faces[:, :4].astype(np.float64), faces[:, 14].astype(np.float64),
                                              self.nms_threshold)]
        found = []
        for f in faces:
            box = fer_frame(f[:4], w, h)
            if box[2] >= 1 and box[3] >= 1:
                found.append(Detection(box, float(np.clip(f[14], 0.0, 1.0)),
                                       tuple((float(f[4 + 2 * k]), float(f[5 + 2 * k])) for k in range(5))))
        order = {b: i for i, b in enumerate(sort_boxes([d.box for d in found]))}
        return sorted(found, key=lambda d: order[d.box])


def fer_frame(yunet_box: Sequence[float], width: int, height: int) -> Box:
    """A YuNet box (x, y, w, h) -> the square FER2013 frame around it (``FER_FRAME_SIDE``), clipped to the image."""
    x, y, w, h = (float(v) for v in yunet_box)
    side = FER_FRAME_SIDE * w
    cx, cy = x + w / 2, y + h / 2 + FER_FRAME_DY * h
    return scale_box((cx - side / 2, cy - side / 2, side, side), 1.0, width, height)


