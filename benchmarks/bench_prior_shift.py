"""Does correcting for FER2013's class prior help out of its domain? The model's probabilities divided by the training
class shares to the power ``tau`` (tau 0: as shipped; 1: a flat prior), scored on FER2013 PublicTest, on a folder
dataset of face crops (CK+48: posed, balanced differently, no neutral) and on real photos through the photo path.

    python benchmarks/bench_prior_shift.py --fer CSV [--folder CK+48] [--photos DIR ...] [--model RUN] [--tau ...]

FER2013 Training is 25% happy and 1.5% disgust; a set of photos with its classes in other shares (the kept-back real
photos: all seven classes) may be served better by a model whose outputs lean less on that prior. Prints a markdown
table: top-1 / macro-F1 and recall per class for each tau.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

import bench_photo_pipeline as photo  # noqa: E402
from fer_core.inference.classifier import load_classifier  # noqa: E402
from fer_core.training.data import load_fer2013, load_image_folder  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fer", required=True, help="FER2013 CSV: Training gives the prior, PublicTest is scored")
    ap.add_argument("--folder", help="a folder of class folders of face crops (e.g. CK+48)")
    ap.add_argument("--photos", nargs="*", default=[], type=Path, help="folders of <class>/<photo> (real photos)")
    ap.add_argument("--model", help="run folder (default: the shipped default)")
    ap.add_argument("--tau", nargs="*", type=float, default=[0.0, 0.25, 0.5, 0.75, 1.0])
    args = ap.parse_args()

    clf = load_classifier(args.model) if args.model else load_classifier()
    labels = list(clf.labels)
    train = load_fer2013(args.fer, usage="Training")
    counts = np.bincount([labels.index(train.label_names[i]) for i in train.labels], minlength=len(labels))
    prior = counts / counts.sum()
    sets = {}
    test = load_fer2013(args.fer, usage="PublicTest")
    sets["PublicTest"] = (clf.predict_proba(list(test.images)),
                          np.array([labels.index(test.label_names[i]) for i in test.labels]))
    if args.folder:
        ds = load_image_folder(args.folder)
        keep = [i for i, c in enumerate(ds.labels) if ds.label_names[c] in labels]
        sets[Path(args.folder).name] = (clf.predict_proba([ds.images[i] for i in keep]),
                                        np.array([labels.index(ds.label_names[ds.labels[i]]) for i in keep]))
    if args.photos:
        faces, _ = photo.load_faces(args.photos)
        crops = photo.crops_for(faces, photo.FACE_MARGIN, False, "run")
        sets["real photos"] = (clf.predict_proba(crops, photo=True), np.array([labels.index(f.label) for f in faces]))
    print(f"Model {clf.name or 'default'}; prior (FER2013 Training): "
          + ", ".join(f"{c} {p:.3f}" for c, p in zip(labels, prior)))
    print("\n| tau | " + " | ".join(f"{k} (n={len(v[1])}): top-1 / macro-F1" for k, v in sets.items()) + " |")
    print("|---|" + "---|" * len(sets))
    recalls = []
    for tau in args.tau:
        cells = []
        for name, (probs, y) in sets.items():
            r = photo.scores([labels[i] for i in y], [labels[i] for i in (probs / prior ** tau).argmax(1)])
            cells.append(f"{100 * r['accuracy']:.1f}% / {r['macro_f1']:.3f}")
            recalls.append(f"- tau {tau:g}, {name}: " + ", ".join(f"{c} {v:.2f}" for c, v in r["recall"].items()))
        print(f"| {tau:g} | " + " | ".join(cells) + " |", flush=True)
    print("\nRecall per class:\n" + "\n".join(recalls))


if __name__ == "__main__":
    main()
