"""How the photo path's choices change accuracy on real photos: crop framing, eye alignment, equalisation and
test-time augmentation, for one or more models.

    python benchmarks/bench_photo_pipeline.py --data FOLDER [FOLDER ...] [--models RUN ...] [--out results.json]

Each FOLDER holds ``<class>/<photo>`` (full photos, class names as FER2013's: angry ... neutral). Every photo goes
through the app's detector (YuNet at full resolution, as the Upload page runs it); the largest face is the labelled
one, and photos with no face are counted and left out. Then each variant changes one thing from the app's defaults
(``FACE_MARGIN`` crop, no alignment, the run's equalisation, the run's TTA) and scores every model on the same faces:
top-1 accuracy, macro-F1 over the classes present, and recall per class, per folder and for all folders pooled.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from fer_core.inference.classifier import load_classifier  # noqa: E402
from fer_core.inference.detection import detect_scored  # noqa: E402
from fer_core.inference.preprocessing import FACE_MARGIN, crop_face, crop_face_aligned  # noqa: E402
from fer_core.inference.yunet import YuNetDetector  # noqa: E402
from fer_core.labels import canonical_label  # noqa: E402

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}


@dataclass
class Face:
    source: str
    path: str
    label: str
    image: np.ndarray
    box: tuple
    eyes: tuple | None


# name -> (margin, align, equalize: "run" | "none" | "hist" | "clahe", tta: None (the run's) | mode)
VARIANTS = {
    "app default": (FACE_MARGIN, False, "run", None),
    "tighter crop (-5%/side)": (-0.05, False, "run", None),
    "wider crop (+10%/side)": (0.10, False, "run", None),
    "wider crop (+20%/side)": (0.20, False, "run", None),
    "eyes levelled": (FACE_MARGIN, True, "run", None),
    "no equalisation": (FACE_MARGIN, False, "none", None),
    "CLAHE instead": (FACE_MARGIN, False, "clahe", None),
    "TTA none": (FACE_MARGIN, False, "run", "none"),
    "TTA flip": (FACE_MARGIN, False, "run", "flip"),
    "TTA ten views (crops)": (FACE_MARGIN, False, "run", "crops"),
}


def load_faces(folders: list[Path]) -> tuple[list[Face], dict]:
    det = YuNetDetector()
    faces, missed = [], {}
    for folder in folders:
        for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            label = canonical_label(class_dir.name)
            for path in sorted(class_dir.iterdir()):
                if path.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                image = cv2.imread(str(path), cv2.IMREAD_COLOR)
                found = detect_scored(det, image) if image is not None else []
                if not found:
                    missed[folder.name] = missed.get(folder.name, 0) + 1
                    continue
                d = max(found, key=lambda d: d.box[2] * d.box[3])
                faces.append(Face(folder.name, str(path), label, image, tuple(d.box), d.eyes))
    return faces, missed


def crops_for(faces: list[Face], margin: float, align: bool, equalize: str) -> list[np.ndarray]:
    out = []
    for f in faces:
        crop = (crop_face_aligned(f.image, f.box, f.eyes, margin) if align and f.eyes is not None
                else crop_face(f.image, f.box, margin))
        if equalize == "clahe":
            grey = cv2.cvtColor(cv2.resize(crop, (48, 48), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
            crop = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)).apply(grey)
        out.append(crop)
    return out


def scores(y: list[str], p: list[str]) -> dict:
    y, p = np.array(y), np.array(p)
    classes = sorted(set(y))
    recall = {c: float(np.mean(p[y == c] == c)) for c in classes}
    f1 = []
    for c in classes:
        tp = np.sum((p == c) & (y == c))
        prec = tp / max(np.sum(p == c), 1)
        f1.append(0.0 if tp == 0 else 2 * prec * recall[c] / (prec + recall[c]))
    return {"n": int(len(y)), "accuracy": float(np.mean(y == p)), "macro_f1": float(np.mean(f1)), "recall": recall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", required=True, type=Path, help="folders of <class>/<photo>")
    ap.add_argument("--models", nargs="*", default=[None], help="run folders (default: the shipped default)")
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--out", type=Path, help="write every score as JSON here")
    args = ap.parse_args()
    faces, missed = load_faces(args.data)
    sources = sorted({f.source for f in faces})
    print(f"{len(faces)} faces found ({sum(missed.values())} photos without a face: {missed or 'none'}); "
          + ", ".join(f"{s}: {sum(f.source == s for f in faces)}" for s in sources))
    results = {}
    for model in args.models:
        clf = load_classifier(model) if model else load_classifier()
        own_eq = clf.equalize
        print(f"\n## {model or 'default'} ({clf.backend}; equalisation {own_eq}, TTA {clf.tta})")
        print("| variant | all: top-1 | all: macro-F1 | " + " | ".join(f"{s}: top-1" for s in sources) + " |")
        print("|---|---|---|" + "---|" * len(sources))
        for name in args.variants:
            margin, align, equalize, tta = VARIANTS[name]
            crops = crops_for(faces, margin, align, equalize)
            clf.equalize = own_eq if equalize == "run" else ("none" if equalize == "clahe" else equalize)
            probs = clf.predict_proba(crops, tta=tta, photo=True)
            clf.equalize = own_eq
            pred = [clf.labels[i] for i in probs.argmax(1)]
            y = [f.label for f in faces]
            r = {"all": scores(y, pred)}
            for s in sources:
                idx = [i for i, f in enumerate(faces) if f.source == s]
                r[s] = scores([y[i] for i in idx], [pred[i] for i in idx])
            results.setdefault(model or "default", {})[name] = r
            print(f"| {name} | {100 * r['all']['accuracy']:.1f}% | {r['all']['macro_f1']:.3f} | "
                  + " | ".join(f"{100 * r[s]['accuracy']:.1f}%" for s in sources) + " |", flush=True)
        rec = results[model or "default"]["app default"]["all"]["recall"]
        print("recall (app default): " + ", ".join(f"{k} {v:.2f}" for k, v in rec.items()))
    if args.out:
        args.out.write_text(json.dumps({"faces": len(faces), "missed": missed, "results": results}, indent=1))
        print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
