"""Face detection on real photos: recall, false boxes and time per detector and setting.

    python benchmarks/bench_detection.py                       # the standard table (Haar and YuNet settings)
    python benchmarks/bench_detection.py --detector yunet:score_threshold=0.7,max_side=480 --detector haar:min_neighbors=3
    python benchmarks/bench_detection.py --misses yunet        # list what a setting misses and its false boxes
    python benchmarks/bench_detection.py --draw /tmp/det       # PNGs: annotations (green, ignored orange), detections (red)
    python benchmarks/bench_detection.py --calibrate-frame     # where FER2013's 48x48 frame sits in YuNet's box
    python benchmarks/bench_detection.py --frame-side 640 --detector yunet:max_side=320 --detector yunet:max_side=640
                                                               # as live video sees them: photos first scaled to 640

The photos (``benchmarks/data/photos``, sources and licences in ``benchmarks/data/SOURCES.md``) have hand-checked boxes
in ``benchmarks/data/faces.json``: ``faces`` every detector should find, ``ignore`` real faces that are neither required
nor false (cut by a border, profile, upside down, tiny background people). A detection matches a face at IoU >= 0.35
(annotated boxes run hairline to chin, detector boxes are FER2013's square frame; a correct box has IoU 0.5-0.8).

- recall: the share of annotated faces at least ``--min-face`` (48) px wide that a detection matches;
- false boxes per photo: detections matching no annotated face, ignored face or smaller face;
- time: median (and 90th percentile) wall time of ``detect`` per photo (photos are at most 1024 px on their longer
  side), and the median on a 640x480 frame with one face (the webcam case). Run timings with nothing else running
  (a training or test run beside it skews the times).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from fer_core.inference.detection import make_detector  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
MATCH_IOU = 0.35

# name -> (method, settings). "haar (previous)" pins the defaults before this benchmark existed, so it stays comparable.
STANDARD = {
    "haar (previous)": ("haar", dict(cascades=("alt2",), scale_factor=1.2, min_neighbors=1, min_size=48,
                                     equalize="clahe", sure_neighbors=6, rotations=(), fallback_rotations=())),
    "haar": ("haar", {}),
    "yunet": ("yunet", {}),
    "yunet, score 0.6": ("yunet", dict(score_threshold=0.6)),
    "yunet, score 0.9": ("yunet", dict(score_threshold=0.9)),
    "yunet, max side 320": ("yunet", dict(max_side=320)),
    "yunet, max side 480": ("yunet", dict(max_side=480)),
    "yunet, max side 1024": ("yunet", dict(max_side=1024)),
}


def load_annotations(path: Path = DATA / "faces.json") -> dict[str, dict]:
    return json.loads(path.read_text())["images"]


def iou(a, b) -> float:
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter) if inter else 0.0


def match(dets, faces, ignore, min_face: int) -> tuple[list[bool], list[int]]:
    """Which required faces (``w >= min_face``) a detection found, and the indices of the false detections."""
    free = list(range(len(dets)))
    hit = []
    for f in sorted(faces, key=lambda b: -b[2]):  # big faces first, each detection matches one face
        best = max(free, key=lambda i: iou(dets[i], f), default=None)
        ok = best is not None and iou(dets[best], f) >= MATCH_IOU
        if ok:
            free.remove(best)
        if f[2] >= min_face:
            hit.append(ok)
    false = []
    for i in free:
        d = dets[i]
        cx, cy = d[0] + d[2] / 2, d[1] + d[3] / 2
        if not any(iou(d, g) >= MATCH_IOU or (g[0] <= cx <= g[0] + g[2] and g[1] <= cy <= g[1] + g[3]) for g in ignore):
            false.append(i)
    return hit, false


def frame_640x480() -> np.ndarray:
    """A 640x480 frame with one face about 150 px wide (scikit-image's astronaut, public domain), as in the webcam."""
    from skimage import data

    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[20:320, 110:350]
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[90:390, 200:440] = face
    return frame


def evaluate(detector, photos: dict[str, np.ndarray], ann: dict[str, dict], min_face: int, repeat: int = 1) -> dict:
    hits, false, times, per_image = [], 0, [], {}
    for name, img in photos.items():
        t = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            dets = detector.detect(img)
            t.append(time.perf_counter() - t0)
        times.append(min(t))
        h, f = match(dets, ann[name]["faces"], ann[name]["ignore"], min_face)
        hits += h
        false += len(f)
        per_image[name] = (dets, h, f)
    frame = frame_640x480()
    detector.detect(frame)
    ft = []
    for _ in range(max(30, repeat * 10)):  # fewer gave medians 10 ms apart between runs
        t0 = time.perf_counter()
        detector.detect(frame)
        ft.append(time.perf_counter() - t0)
    return {"recall": float(np.mean(hits)), "found": int(np.sum(hits)), "required": len(hits),
            "false_per_photo": false / len(photos), "false": false, "ms": 1000 * float(np.median(times)),
            "ms_p90": 1000 * float(np.percentile(times, 90)), "frame_ms": 1000 * float(np.median(ft)),
            "per_image": per_image}


def parse_detector(spec: str) -> tuple[str, str, dict]:
    """``method[:field=value,...]`` -> (label, method, settings)."""
    method, _, rest = spec.partition(":")
    settings = {}
    for item in filter(None, rest.split(",")):
        k, v = item.split("=", 1)
        if k == "cascades":
            settings[k] = tuple(v.split("+"))
        elif k in ("rotations", "fallback_rotations"):
            settings[k] = tuple(float(a) for a in v.split("+") if a)
        elif v in ("True", "False"):
            settings[k] = v == "True"
        else:
            try:
                settings[k] = int(v)
            except ValueError:
                try:
                    settings[k] = float(v)
                except ValueError:
                    settings[k] = v
    return spec, method, settings


def draw(out: Path, name: str, img: np.ndarray, a: dict, dets) -> None:
    vis = img.copy()
    for color, boxes in (((0, 200, 0), a["faces"]), ((0, 140, 255), a["ignore"]), ((0, 0, 255), dets)):
        for x, y, w, h in boxes:
            cv2.rectangle(vis, (int(x), int(y)), (int(x + w), int(y + h)), color, 2)
    cv2.imwrite(str(out / (Path(name).stem + ".png")), vis)


def calibrate_frame(n: int = 3000) -> None:
    """Where FER2013's 48x48 frame sits relative to YuNet's box (training faces, upscaled 4x and border-padded)."""
    from fer_core.training.data import load_fer2013
    from fer_core.inference.yunet import load_yunet

    ds = load_fer2013(DATA.parent.parent.parent / "shared/data/fer2013/fer2013.csv.gz", usage="Training")
    idx = np.random.default_rng(0).choice(len(ds), n, replace=False)
    yn = load_yunet(score_threshold=0.5)
    yn.setInputSize((384, 384))
    rows = []
    for i in idx:
        g = cv2.copyMakeBorder(cv2.resize(ds.images[i], (192, 192), interpolation=cv2.INTER_CUBIC),
                               96, 96, 96, 96, cv2.BORDER_REPLICATE)
        _, f = yn.detect(cv2.cvtColor(g, cv2.COLOR_GRAY2BGR))
        if f is not None:
            b = f[np.argmin(np.hypot(f[:, 0] + f[:, 2] / 2 - 192, f[:, 1] + f[:, 3] / 2 - 192))]
            rows.append(b[:4])
    x, y, w, h = np.array(rows).T
    q = lambda a: np.percentile(a, [25, 50, 75]).round(3).tolist()  # noqa: E731
    print(f"YuNet found {len(rows)} of {n} faces")
    print(f"frame side / box width {q(192 / w)}; / box height {q(192 / h)}")
    print(f"frame centre - box centre: x {q((192 - x - w / 2) / w)} (box widths), y {q((192 - y - h / 2) / h)} (box heights)")


def scale_to_frame(ann: dict[str, dict], photos: dict[str, np.ndarray], side: int):
    """Photos no longer than ``side`` px on their longer side, with their annotated boxes scaled alike."""
    out_ann, out_photos = {}, {}
    for name, img in photos.items():
        s = min(1.0, side / max(img.shape[:2]))
        out_photos[name] = img if s == 1.0 else cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)),
                                                           interpolation=cv2.INTER_AREA)
        out_ann[name] = {k: [[v * s for v in b] for b in ann[name][k]] for k in ("faces", "ignore")}
    return out_ann, out_photos


def live_recall(photos: dict[str, np.ndarray], ann: dict[str, dict], min_face: int, frames: int) -> None:
    """Each photo as a still video through the Webcam page's pipeline (detection every frame): the faces boxed on
    the last frame, per live search setting (LiveSettings.detect_width / wide_width)."""
    from fer_core.live.processor import LiveProcessor, LiveSettings

    class Uniform:
        labels = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
        name, backend = "uniform", "none"

        def predict_proba(self, faces, tta=None, photo=False):
            return np.full((len(faces), 7), 1 / 7, np.float32)

    settings = {"adaptive 320/640 (live default)": {}, "320 only": dict(wide_width=320),
                "480 only": dict(detect_width=480, wide_width=480), "640 only": dict(detect_width=640, wide_width=640)}
    print(f"| live search | recall on the last of {frames} frames (faces >= {min_face} px) | false boxes | "
          f"ms / frame (median) |")
    print("|---|---|---|---|")
    for label, extra in settings.items():
        hits, false, times = [], 0, []
        for name, img in photos.items():
            proc = LiveProcessor(Uniform(), LiveSettings(detect_every=1, mirror=False, annotate=False, **extra),
                                 warm_up=False)
            for _ in range(frames):
                t0 = time.perf_counter()
                proc.process(img)
                times.append(time.perf_counter() - t0)
            boxes = [f.box for f in proc.snapshot().faces]
            h, f = match(boxes, ann[name]["faces"], ann[name]["ignore"], min_face)
            hits += h
            false += len(f)
        print(f"| {label} | {100 * np.mean(hits):.1f}% ({int(np.sum(hits))}/{len(hits)}) | {false} | "
              f"{1000 * np.median(times):.1f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--detector", action="append", default=[], help="method[:field=value,...]; repeatable")
    ap.add_argument("--min-face", type=int, default=48, help="faces at least this wide (px) count for recall")
    ap.add_argument("--repeat", type=int, default=1, help="time each photo this many times (the minimum is kept)")
    ap.add_argument("--misses", metavar="SETTING", help="list the missed faces and false boxes of this setting")
    ap.add_argument("--draw", type=Path, help="write each photo with annotations and the last setting's detections")
    ap.add_argument("--json", type=Path, help="also write the table as JSON")
    ap.add_argument("--calibrate-frame", action="store_true", help="measure FER_FRAME_SIDE on FER2013 and exit")
    ap.add_argument("--live", type=int, default=0, metavar="FRAMES",
                    help="instead: each photo as a still live video of FRAMES frames through LiveProcessor (its "
                         "adaptive YuNet search), recall of the faces shown on the last frame")
    ap.add_argument("--frame-side", type=int, default=0,
                    help="first scale every photo (and its annotations) down to this longer side, as the live "
                         "pipeline does with frames (LiveSettings.max_frame_side, 640); --min-face counts in those px")
    args = ap.parse_args()
    if args.calibrate_frame:
        calibrate_frame()
        return
    cv2.setNumThreads(max(1, os.cpu_count() or 1))
    ann = load_annotations()
    photos = {n: cv2.imread(str(DATA / "photos" / n)) for n in sorted(ann)}
    if args.frame_side:
        ann, photos = scale_to_frame(ann, photos, args.frame_side)
        print(f"photos scaled to a longer side of at most {args.frame_side} px (as live frames)")
    if args.live:
        live_recall(photos, ann, args.min_face, args.live)
        return
    specs = [(k, m, s) for k, (m, s) in STANDARD.items()] if not args.detector else [parse_detector(d) for d in args.detector]
    n_req = sum(1 for a in ann.values() for f in a["faces"] if f[2] >= args.min_face)
    print(f"{len(photos)} photos, {n_req} faces >= {args.min_face} px wide "
          f"({sum(len(a['faces']) for a in ann.values())} annotated, {sum(len(a['ignore']) for a in ann.values())} ignored)")
    print(f"| detector | settings | recall (faces >= {args.min_face} px) | false boxes / photo | median ms / photo "
          f"(p90) | ms / 640x480 frame |")
    print("|---|---|---|---|---|---|")
    table = []
    for label, method, settings in specs:
        det = make_detector(method, **settings)
        r = evaluate(det, photos, ann, args.min_face, args.repeat)
        shown = ", ".join(f"{k}={v}" for k, v in settings.items()) or "defaults"
        print(f"| {label} | {shown} | {100 * r['recall']:.1f}% ({r['found']}/{r['required']}) | "
              f"{r['false_per_photo']:.3f} ({r['false']}) | {r['ms']:.1f} ({r['ms_p90']:.1f}) | {r['frame_ms']:.1f} |",
              flush=True)
        table.append({"label": label, "method": method, "settings": {k: str(v) for k, v in settings.items()},
                      **{k: v for k, v in r.items() if k != "per_image"}})
        if args.misses == label:
            for name, (dets, h, f) in r["per_image"].items():
                req = sorted((b for b in ann[name]["faces"] if b[2] >= args.min_face), key=lambda b: -b[2])
                missed = [b for b, ok in zip(req, h) if not ok]
                if missed or f:
                    print(f"    {name}: missed {missed}, false {[tuple(dets[i]) for i in f]}")
        if args.draw:
            args.draw.mkdir(parents=True, exist_ok=True)
            for name, (dets, _, _) in r["per_image"].items():
                draw(args.draw, name, photos[name], ann[name], dets)
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
