"""Does levelling the eyes (YuNet's landmarks) before classifying change accuracy on detected faces?

    python benchmarks/bench_alignment.py [--model RUN] [--n 0] [--tilt 20] [--seed 0]

Each labelled face (FER2013 PublicTest, and CK+48's six FER emotions when ``../shared/data/CK+48`` exists) is upscaled
4x, padded with its reflected border (so it reads as a face in a larger photo), and YuNet finds it. Three copies are
scored with the shipped model and its own test-time augmentation: as the dataset gives it (the reference), the
detected crop as is (``analyze(..., align=False)``), and the detected crop turned so the eyes are level
(``align=True``). The same is repeated with every photo turned by a random angle in [-tilt, tilt] degrees, as a head
tilts in a real photo (the dataset faces are roughly upright already). Only faces YuNet finds in both copies count.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from fer_core.inference.analysis import analyze  # noqa: E402
from fer_core.inference.classifier import load_classifier  # noqa: E402
from fer_core.training.data import load_fer2013, load_image_folder  # noqa: E402
from fer_core.inference.yunet import YuNetDetector  # noqa: E402

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def as_photo(face: np.ndarray, angle: float) -> np.ndarray:
    """A 48x48 grey face -> a 384x384 BGR 'photo': upscaled 4x, reflected border, turned by ``angle`` degrees."""
    big = cv2.resize(face, (192, 192), interpolation=cv2.INTER_CUBIC)
    img = cv2.copyMakeBorder(big, 96, 96, 96, 96, cv2.BORDER_REFLECT)
    if angle:
        m = cv2.getRotationMatrix2D((192, 192), angle, 1.0)
        img = cv2.warpAffine(img, m, (384, 384), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)


def central(results, size: int = 384):
    """The result nearest the photo's centre (the dataset face), or None."""
    if not results:
        return None
    return min(results, key=lambda r: abs(r.box[0] + r.box[2] / 2 - size / 2) + abs(r.box[1] + r.box[3] / 2 - size / 2))


def run(name: str, images: np.ndarray, labels: np.ndarray, names: tuple[str, ...], clf, det, tilt: float,
        rng: np.random.Generator) -> None:
    want = np.array([clf.labels.index(names[k]) for k in labels])
    ref = clf.predict_proba(list(images)).argmax(1)
    print(f"{name}: {len(images)} faces; as given: {100 * np.mean(ref == want):.1f}%")
    for label, angles in (("upright", np.zeros(len(images))), (f"tilted +-{tilt:g} deg", rng.uniform(-tilt, tilt, len(images)))):
        rows = []
        for img, a, y in zip(images, angles, want):
            photo = as_photo(img, a)
            plain = central(analyze(photo, clf, det, align=False))
            if plain is None:
                continue
            levelled = central(analyze(photo, clf, det, align=True))
            rows.append((y, plain.probabilities.argmax(), levelled.probabilities.argmax()))
        y, p, q = np.array(rows).T
        print(f"  {label}: detected {len(rows)}/{len(images)}; not aligned {100 * np.mean(p == y):.1f}%, "
              f"aligned {100 * np.mean(q == y):.1f}% (changed {np.sum(p != q)} answers: {np.sum((q == y) & (p != y))} "
              f"now right, {np.sum((p == y) & (q != y))} now wrong)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="run folder (default: the shipped default model)")
    ap.add_argument("--n", type=int, default=0, help="faces per dataset (0: all)")
    ap.add_argument("--tilt", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    clf = load_classifier(args.model) if args.model else load_classifier()
    det = YuNetDetector()
    rng = np.random.default_rng(args.seed)
    print(f"model {clf.name} ({clf.backend}), detector {det}")
    fer = load_fer2013(SHARED / "fer2013" / "fer2013.csv.gz", usage="PublicTest")
    idx = np.arange(len(fer)) if not args.n else rng.choice(len(fer), args.n, replace=False)
    run("FER2013 PublicTest", fer.images[idx], fer.labels[idx], fer.label_names, clf, det, args.tilt, rng)
    if (SHARED / "CK+48").is_dir():
        ck = load_image_folder(SHARED / "CK+48")
        keep = np.array([n in clf.labels for n in ck.label_names])[ck.labels]
        idx = np.flatnonzero(keep)
        if args.n:
            idx = rng.choice(idx, min(args.n, len(idx)), replace=False)
        run("CK+48 (no contempt)", ck.images[idx], ck.labels[idx], ck.label_names, clf, det, args.tilt, rng)


if __name__ == "__main__":
    main()
