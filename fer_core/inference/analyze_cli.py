"""Command line: emotions of every face in image files.

    python -m fer_core.analyze IMAGE... [--json] [--model RUN_OR_KERAS] [--detector haar|yunet] [--min-size PX]
                                        [--min-neighbors N] [--scale-factor F]

Text output lists each face; ``--json`` prints ``[{"file": path, "faces": [DeepFace-style dicts]}, ...]`` (an
unreadable file gets ``"error"`` instead of ``"faces"``). Exit code 1 when an input could not be read (the other
inputs are still analysed), 2 when the model cannot be loaded.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fer_core.analyze", description="Detect faces and classify their emotions.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (JPEG, PNG, WebP, BMP, GIF, TIFF)")
    p.add_argument("--json", action="store_true", help="print JSON (DeepFace-style per face) instead of text")
    p.add_argument("--model", default=None, help="run folder or .keras file (default: the shipped model)")
    p.add_argument("--detector", default=None, choices=["haar", "yunet"],
                   help="face detector (default: yunet; haar, the classic cascades, when a Haar option below is given)")
    p.add_argument("--min-neighbors", type=int, default=None, help="Haar strictness (higher = fewer, surer faces)")
    p.add_argument("--scale-factor", type=float, default=None, help="Haar pyramid step, e.g. 1.1")
    p.add_argument("--min-size", type=int, default=None, help="smallest face in pixels")
    p.add_argument("--whole-image", action="store_true", help="treat each image as one face crop (no detection)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .analysis import analyze
    from .classifier import ModelLoadError, load_classifier
    from .detection import DEFAULT_DETECTOR, make_detector
    from .preprocessing import ImageDecodeError, decode_image

    haar_only = {k: v for k, v in (("min_neighbors", args.min_neighbors), ("scale_factor", args.scale_factor))
                 if v is not None}
    method = args.detector or ("haar" if haar_only else DEFAULT_DETECTOR)
    if haar_only and method != "haar":
        print(f"error: --min-neighbors and --scale-factor are Haar settings. Expected --detector haar. "
              f"Received: --detector {method}", file=sys.stderr)
        return 2
    settings = {**haar_only, **({"min_size": args.min_size} if args.min_size is not None else {})}
    try:
        detector = make_detector(method, **settings)
    except ValueError as e:  # bad settings, or a YuNet model file that is missing or corrupt (named)
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        classifier = load_classifier(args.model)
    except (ModelLoadError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    failed = False
    report = []
    for path in args.images:
        try:
            image = decode_image(Path(path).read_bytes(), name=path)
        except (OSError, ImageDecodeError) as e:
            failed = True
            msg = str(e) if isinstance(e, ImageDecodeError) else f"{path}: cannot read the file ({e.strerror or e})"
            print(f"error: {msg}", file=sys.stderr)
            report.append({"file": path, "error": msg})
            continue
        results = analyze(image, classifier, detector, whole_image=args.whole_image)
        report.append({"file": path, "faces": [r.to_dict() for r in results]})
        if not args.json:
            h, w = image.shape[:2]
            print(f"{path} ({w}x{h}): {len(results)} face{'s' if len(results) != 1 else ''}")
            for i, r in enumerate(results, start=1):
                top = sorted(r.emotions.items(), key=lambda kv: -kv[1])[:3]
                print(f"  #{i} box={r.box} face {r.face_confidence:.2f} {r.dominant_emotion} "
                      + ", ".join(f"{k} {100 * v:.1f}%" for k, v in top))
    if args.json:
        print(json.dumps(report, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
