"""Images in and faces out: decoding uploaded bytes safely, colour/bit-depth normalisation, resizing and face crops.

Crop margin (``FACE_MARGIN``): FER2013's 48x48 faces are, within a few per cent, exactly the box OpenCV's default
frontal Haar cascade draws. Measured by running that cascade on 3000 FER2013 training images (upscaled 4x and
border-padded so the cascade can see the whole face): the box is a median 0.98 of the image side (IQR 0.89-1.04),
centred (0.50, 0.50); the alt2 cascade's box is 1.5 % smaller (0.96), close enough to share the margin. So the
model sees the Haar box plus about 1 % per side, i.e. essentially the box itself.
"""
from __future__ import annotations

import io
import struct
import warnings
from typing import Sequence

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

FACE_MARGIN = 0.01  # fraction of the box side added on every side of a face crop (see module docstring)
MAX_PIXELS = 50_000_000  # larger images are refused before their pixels are decoded (decompression bombs)


# What Pillow raises on broken data besides UnidentifiedImageError (it varies by format plugin).
_PIL_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError, TypeError)


class ImageDecodeError(ValueError):
    """Bytes that are empty, not an image, corrupt or too large; the message says which."""


class ImageTooLargeError(ImageDecodeError):
    """An image whose header declares more than ``max_pixels``: refused before its pixels are decoded."""


def decode_image(data: bytes, *, name: str = "image", max_pixels: int = MAX_PIXELS, gray: bool = False) -> np.ndarray:
    """Encoded image bytes (JPEG, PNG, WebP, GIF, BMP, TIFF ...) -> uint8 BGR ``(H, W, 3)`` (or ``(H, W)`` if ``gray``).

    EXIF orientation is applied; transparency is flattened onto white; palette, 1-bit, 16-bit, 32-bit, CMYK and
    other modes are converted. Nothing touches the disk. ``name`` only appears in error messages.
    """
    if not data:
        raise ImageDecodeError(f"{name}: the file is empty. Received: 0 bytes")
    try:
        with warnings.catch_warnings():  # sizes are checked below, with a clearer message
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageDecodeError(f"{name}: not an image file Pillow can read (expected JPEG, PNG, WebP, GIF, BMP or TIFF). "
                               f"Received: {len(data)} bytes starting {data[:8]!r}") from None
    except Image.DecompressionBombError as e:  # Pillow's own limit (2x Image.MAX_IMAGE_PIXELS)
        raise ImageTooLargeError(f"{name}: image too large; the limit is {max_pixels / 1e6:g} MP. Received: {e}") from None
    except _PIL_ERRORS as e:  # a known format whose header is broken
        raise ImageDecodeError(f"{name}: the image data is corrupt or truncated ({e}). "
                               f"Received: {len(data)} bytes starting {data[:8]!r}") from None
    w, h = img.size
    if w * h > max_pixels:
        raise ImageTooLargeError(f"{name}: image too large ({w}x{h} = {w * h / 1e6:.1f} MP); the limit is "
                                 f"{max_pixels / 1e6:g} MP. Received: size={w}x{h}")
    if w < 1 or h < 1:
        raise ImageDecodeError(f"{name}: image has no pixels. Received: size={w}x{h}")
    try:
        img.load()
        img = ImageOps.exif_transpose(img)
    except _PIL_ERRORS as e:  # truncated / corrupt data
        raise ImageDecodeError(f"{name}: the image data is corrupt or truncated ({e}). "
                               f"Received: format={img.format}, size={w}x{h}") from None
    return pil_to_array(img, gray=gray)


def pil_to_array(img: Image.Image, gray: bool = False) -> np.ndarray:
    """A PIL image of any mode -> uint8 BGR ``(H, W, 3)`` or grey ``(H, W)``."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = _high_depth_to_uint8(np.asarray(img), mode)
        return arr if gray else cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode == "PA":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "RGBa", "La"):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    if img.mode == "1":
        img = img.convert("L")
    if img.mode == "L":
        arr = np.asarray(img, dtype=np.uint8)
        return arr.copy() if gray else cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)
    rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY if gray else cv2.COLOR_RGB2BGR)


def _high_depth_to_uint8(arr: np.ndarray, mode: str) -> np.ndarray:
    if mode.startswith("I;16"):
        return (arr.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    # 32-bit int / float: the range is not standard, so stretch what is there.
    arr = arr.astype(np.float64)
    lo, hi = float(arr.min()), float(arr.max())
    if hi <= lo:
        return np.zeros(arr.shape, dtype=np.uint8)
    if lo >= 0 and hi <= 255 and mode == "I":
        return arr.astype(np.uint8)
    return ((arr - lo) * (255.0 / (hi - lo))).round().astype(np.uint8)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """uint16 (full range), float (0-1 or 0-255; NaN reads as 0, infinities saturate) or bool arrays -> uint8; uint8
    passes through. ``ValueError`` for a dtype that is not numeric (complex, text, dates, objects)."""
    a = np.asarray(image)
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.uint16:
        return (a.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.floating):
        finite = a[np.isfinite(a)]
        a = a.astype(np.float64) * 255.0 if finite.size and finite.max() <= 1.0 else a
        return np.clip(np.nan_to_num(a, nan=0.0), 0, 255).round().astype(np.uint8)
    if np.issubdtype(a.dtype, np.integer):
        return np.clip(a, 0, 255).astype(np.uint8)
    raise ValueError(f"Expected a numeric image array. Received: dtype={a.dtype}")


def check_image(image: np.ndarray) -> np.ndarray:
    """Validate a numpy image as OpenCV reads it: ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` BGR or ``(H, W, 4)`` BGRA."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise ValueError(f"Expected an image (H, W), (H, W, 3) BGR or (H, W, 4) BGRA. Received: shape={a.shape}")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"Expected a non-empty image. Received: shape={a.shape}")
    return to_uint8(a)


def to_gray(image: np.ndarray) -> np.ndarray:
    """Any accepted image -> uint8 ``(H, W)``."""
    a = check_image(image)
    if a.ndim == 2:
        return a
    return cv2.cvtColor(a, cv2.COLOR_BGRA2GRAY if a.shape[2] == 4 else cv2.COLOR_BGR2GRAY)


def to_bgr(image: np.ndarray) -> np.ndarray:
    """Any accepted image -> uint8 ``(H, W, 3)`` BGR."""
    a = check_image(image)
    if a.ndim == 2:
        return cv2.cvtColor(a, cv2.COLOR_GRAY2BGR)
    if a.shape[2] == 4:
        return cv2.cvtColor(a, cv2.COLOR_BGRA2BGR)
    return a


def resize_max_side(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Downscale so the longer side is at most ``max_side``; returns the image and the scale applied (<= 1)."""
    h, w = image.shape[:2]
    long_side = max(h, w)
    if long_side <= max_side:
        return image, 1.0
    scale = max_side / long_side
    size = (max(int(round(w * scale)), 1), max(int(round(h * scale)), 1))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


INPUT_EQUALIZATIONS = ("none", "hist")  # a run's inference.equalize: how photo crops are brought to its training images
EQUALIZED_FLATNESS = 0.05  # histogram_flatness below this: the images were histogram-equalised (see below)


def histogram_flatness(images: np.ndarray) -> float:
    """Mean distance between each uint8 image's cumulative histogram and a straight line: ~0 for histogram-equalised
    images (the shared FER2013 copy: 0.017), ~0.13 for camera pictures and the public FER2013 (0.135)."""
    flat = np.asarray(images).reshape(len(images), -1)
    if not len(flat):
        return float("nan")
    line = np.linspace(0.0, 1.0, 256)
    cdfs = [np.cumsum(np.bincount(row, minlength=256)[:256]) / row.size for row in flat.astype(np.uint8)]
    return float(np.mean([np.abs(c - line).mean() for c in cdfs]))


def equalize_crop(crop: np.ndarray) -> np.ndarray:
    """Histogram-equalise a uint8 grey ``(H, W)``/``(H, W, 1)`` crop, or the luma of a BGR one."""
    if crop.ndim == 2 or crop.shape[2] == 1:
        return cv2.equalizeHist(crop.reshape(crop.shape[:2])).reshape(crop.shape)
    ycc = cv2.cvtColor(crop, cv2.COLOR_BGR2YCrCb)
    ycc[..., 0] = cv2.equalizeHist(ycc[..., 0])
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2BGR)


def crop_face(image: np.ndarray, box: Sequence[int], margin: float = FACE_MARGIN) -> np.ndarray:
    """The square region around ``box`` (x, y, w, h) grown by ``margin`` of its side on every side.

    Square because the model's input is; where the region leaves the image the border is replicated, so the face
    stays centred as in the training crops. ``ValueError`` for a box that is not 4 finite numbers, has no area, lies
    outside the image or is more than 4 times the image's longer side (its padding alone could exhaust memory).
    """
    try:
        x, y, w, h = (int(v) for v in box)
    except (TypeError, ValueError, OverflowError):  # not 4 numbers, NaN, infinity
        raise ValueError(f"A face box must be 4 finite numbers (x, y, w, h). Received: box={box!r}") from None
    if w < 1 or h < 1:
        raise ValueError(f"A face box needs a positive width and height. Received: box={tuple(box)}")
    ih, iw = image.shape[:2]
    if max(w, h) > 4 * max(ih, iw):
        raise ValueError(f"A face box may be at most 4 times the image's longer side. Received: box={tuple(box)}, "
                         f"image size={iw}x{ih}")
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = max(int(round(side)), 1)
    x1, y1 = x0 + s, y0 + s
    pad = (max(-y0, 0), max(y1 - ih, 0), max(-x0, 0), max(x1 - iw, 0))
    crop = image[max(y0, 0):min(y1, ih), max(x0, 0):min(x1, iw)]
    if crop.size == 0:
        raise ValueError(f"The face box lies outside the image. Received: box={tuple(box)}, image size={iw}x{ih}")
    if any(pad):
        crop = cv2.copyMakeBorder(crop, *pad, cv2.BORDER_REPLICATE)
    return crop


def crop_faces(image: np.ndarray, boxes: Sequence[Sequence[int]], margin: float = FACE_MARGIN) -> list[np.ndarray]:
    return [crop_face(image, b, margin) for b in boxes]


def crop_face_aligned(image: np.ndarray, box: Sequence[int], eyes: Sequence[Sequence[float]],
                      margin: float = FACE_MARGIN) -> np.ndarray:
    """``crop_face`` turned so that the eyes are level: the same square around ``box``, rotated about the box centre
    by the tilt of the line through ``eyes`` (two eye centres, image-left first; e.g. YuNet's landmarks)."""
    try:
        x, y, w, h = (int(v) for v in box)
        (lx, ly), (rx, ry) = ((float(a), float(b)) for a, b in eyes)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"Expected a box (x, y, w, h) and two eye points ((x, y), (x, y)). "
                         f"Received: box={box!r}, eyes={eyes!r}") from None
    ih, iw = image.shape[:2]
    if w < 1 or h < 1 or not all(np.isfinite((lx, ly, rx, ry))):
        raise ValueError(f"Expected a box with a positive size and finite eye points. Received: box={tuple(box)}, "
                         f"eyes={eyes!r}")
    if max(w, h) > 4 * max(ih, iw) or x >= iw or y >= ih or x + w <= 0 or y + h <= 0:
        raise ValueError(f"The face box must overlap the image and be at most 4 times its longer side. "
                         f"Received: box={tuple(box)}, image size={iw}x{ih}")
    angle = float(np.degrees(np.arctan2(ry - ly, rx - lx)))
    side = max(w, h) * (1 + 2 * margin)
    s = max(int(round(side)), 1)
    cx, cy = x + w / 2, y + h / 2
    m = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
    m[0, 2] += s / 2 - cx
    m[1, 2] += s / 2 - cy
    return cv2.warpAffine(image, m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def encode_png(image: np.ndarray) -> bytes:
    """A BGR or grey uint8 image -> PNG bytes (in memory)."""
    ok, buf = cv2.imencode(".png", check_image(image))
    if not ok:
        raise ValueError(f"Could not encode the image as PNG. Received: shape={np.shape(image)}")
    return buf.tobytes()
