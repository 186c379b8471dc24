"""How the detector's defaults were chosen: face recall on FER2013 vs false positives on face-free pictures.

    python benchmarks/calibrate_detector.py [--fer ../shared/data/fer2013/fer2013.csv.gz] [--n 800]
                                            [--grid clahe:2:5:1] [--detector scale_factor=1.2,min_size=64]

Positives: every 20th FER2013 image (48x48, many partly covered by hands), upscaled 4x with a reflected border so
the cascade sees the whole face. Negatives: scikit-image's face-free sample pictures at 3 scales. Scenes: the
astronaut alone, tiled 3x3, tiled 2x3 as a JPEG, letterboxed in a 4000x3000 frame, under-exposed. Prints recall,
false positives and faces found/extra per scene for each setting (the first is the classic one: histogram
equalisation, min_neighbors=5, no verification). ``--detector`` sets further FaceDetector fields for every setting
(``rotations=-15+15`` for a tuple); ``--yunet 0.6,0.8`` checks YuNetDetector at these score thresholds instead.
"""
from __future__ import annotations

import argparse
import gzip
import itertools
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fer_core.inference.haar import FaceDetector
from fer_core.inference.yunet import YuNetDetector  # noqa: E402

FACE_FREE = ("brick", "cat", "cell", "chelsea", "clock", "coffee", "coins", "colorwheel", "grass", "gravel", "horse",
             "hubble_deep_field", "immunohistochemistry", "logo", "microaneurysms", "moon", "page", "retina",
             "rocket", "text")


def fer_faces(path: str, n: int) -> list[np.ndarray]:
    out = []
    with gzip.open(path, "rt") as fh:
        next(fh)
        for line in itertools.islice(fh, 0, n * 20, 20):
            _, pixels, _ = line.strip().split(",")
            img = np.array(pixels.split(), dtype=np.uint8).reshape(48, 48)
            big = cv2.resize(img, (192, 192), interpolation=cv2.INTER_CUBIC)
            out.append(cv2.copyMakeBorder(big, 48, 48, 48, 48, cv2.BORDER_REFLECT))
    return out


def negatives() -> list[np.ndarray]:
    from skimage import data

    imgs = [getattr(data, n)() for n in FACE_FREE] + list(data.stereo_motorcycle()[:2])
    out = []
    for img in imgs:
        if img.dtype != np.uint8:
            img = (img / img.max() * 255).astype(np.uint8)
        if img.ndim == 3:
            img = cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2BGR)
        out += [cv2.resize(img, None, fx=f, fy=f) for f in (0.5, 1.0, 2.0)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fer", default=str(Path(__file__).resolve().parent.parent.parent / "shared/data/fer2013/fer2013.csv.gz"))
    ap.add_argument("--n", type=int, default=800)
    ap.add_argument("--grid", default="hist:5:0:0,clahe:3:0:0,clahe:3:5:0,clahe:1:auto:1",
                    help="settings to compare, each equalize:min_neighbors:verify_neighbors:eye_check "
                         "(verify_neighbors 'auto' = the calibrated value for each cascade)")
    ap.add_argument("--detector", default="", help="other FaceDetector fields for every setting, e.g. scale_factor=1.2")
    ap.add_argument("--yunet", default="", help="check YuNetDetector at these score thresholds (e.g. 0.6,0.8) instead")
    args = ap.parse_args()
    extra = {}
    for item in filter(None, args.detector.split(",")):
        key, value = item.split("=")
        extra[key] = float(value) if "." in value else int(value) if value.isdigit() else value
    if isinstance(extra.get("cascades"), str):
        extra["cascades"] = tuple(extra["cascades"].split("+"))  # e.g. cascades=default+alt2
    for key in ("rotations", "fallback_rotations"):
        if key in extra:
            extra[key] = tuple(float(a) for a in str(extra[key]).split("+") if a)  # e.g. rotations=-15+15
    from skimage import data

    pos, neg = fer_faces(args.fer, args.n), negatives()
    portrait = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    face = (175, 65, 97, 97)
    letterboxed = np.full((3000, 4000, 3), 90, np.uint8)
    letterboxed[1000:2536, 2000:3536] = cv2.resize(portrait, (1536, 1536))
    scenes = {  # name: (image, expected face boxes)
        "astronaut": (portrait, [face]),
        "3x3 tiles": (np.tile(portrait, (3, 3, 1)), [_shift(face, dx, dy) for dy in (0, 512, 1024) for dx in (0, 512, 1024)]),
        "letterboxed 4000x3000": (letterboxed, [_shift(face, 2000, 1000, 3)]),
        "dim": ((portrait * 0.35).astype(np.uint8), [face]),
        "2x3 JPEG": (cv2.imdecode(cv2.imencode(".jpg", np.tile(portrait, (2, 3, 1)))[1], cv2.IMREAD_COLOR),
                     [_shift(face, dx, dy) for dy in (0, 512) for dx in (0, 512, 1024)]),
        "5x5 gallery JPEG": (gallery_jpeg(portrait), [_shift(face, dx, dy, 0.75) for dy in range(0, 1920, 384)
                                                       for dx in range(0, 1920, 384)]),
    }
    print(f"{len(pos)} FER2013 faces, {len(neg)} face-free pictures; scenes: " + ", ".join(scenes))
    if extra:
        print("every setting with", extra)
    print(f"{'equalize':>8} {'min_nb':>6} {'verify':>6} {'eyes':>4} {'FER recall':>10} {'false pos.':>10}  " +
          "  ".join(f"{k} found/extra" for k in scenes))
    settings = [f"yunet:{t}" for t in args.yunet.split(",")] if args.yunet else args.grid.split(",")
    for setting in settings:
        if setting.startswith("yunet:"):
            det = YuNetDetector(score_threshold=float(setting[6:]), **extra)
            eq, mn, verify, eyes = "yunet", setting[6:], "-", 0
        else:
            eq, mn, verify, eyes = setting.split(":")
            mn, verify, eyes = int(mn), None if verify == "auto" else int(verify), bool(int(eyes))
            det = FaceDetector(min_neighbors=mn, verify_neighbors=verify, equalize=eq, eye_check=eyes, **extra)
        hits = sum(any(abs(x + w / 2 - 144) < 30 and abs(y + h / 2 - 144) < 30 and w > 120 for x, y, w, h in det(img))
                   for img in pos)
        fps = sum(len(det(img)) for img in neg)
        cells = []
        for img, want in scenes.values():
            boxes = det(img)
            found = sum(any(_iou(b, wb) > 0.5 for b in boxes) for wb in want)
            cells.append(f"{found}/{len(want)} +{len(boxes) - found}")
        print(f"{eq:>8} {mn:>6} {'auto' if verify is None else verify:>6} {eyes:>4d} {hits / len(pos):>10.3f} {fps:>10d}  " + "  ".join(cells))


def gallery_jpeg(portrait: np.ndarray) -> np.ndarray:
    """The 25-face frame of bench_analyze.py (5x5 tiles of 384 px) after a JPEG round trip at quality 90."""
    tiles = np.tile(cv2.resize(portrait, (384, 384), interpolation=cv2.INTER_AREA), (5, 5, 1))
    return cv2.imdecode(cv2.imencode(".jpg", tiles, [cv2.IMWRITE_JPEG_QUALITY, 90])[1], cv2.IMREAD_COLOR)


def _shift(box, dx, dy, scale=1):
    x, y, w, h = box
    return x * scale + dx, y * scale + dy, w * scale, h * scale


def _iou(a, b) -> float:
    iw = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return iw * ih / (a[2] * a[3] + b[2] * b[3] - iw * ih)


if __name__ == "__main__":
    main()
