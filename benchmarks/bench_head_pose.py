"""Head pose from YuNet's five landmarks (``fer_core.inference.head_pose``): the error in degrees on generated, turned faces and,
when given, on AFLW2000-3D images with their ground-truth pose. Prints markdown tables.

    python benchmarks/bench_head_pose.py                   # generated faces: model points, fit set, evaluation set
    python benchmarks/bench_head_pose.py --quick           # one evaluation photo, fewer angles, no fit set (~15 s)
    python benchmarks/bench_head_pose.py --fit             # also choose YUNET_SIDEWAYS_GAIN again on the fit set
    python benchmarks/bench_head_pose.py --aflw DIR        # also AFLW2000-3D: DIR holds imageNNNNN.jpg and .mat files

Generated faces, two levels:

1. *Model points*: ``FACE_MODEL_MM`` turned by a known pose, projected by the camera (640x480, focal length 640 px,
   600 mm away: eyes ~67 px apart, a webcam at arm's length) with Gaussian noise of ``--noise`` (2) px per coordinate.
   This checks the solver and the sign conventions (50 random rolls within +-10 degrees and positions per angle).
2. *Rendered photos*: a frontal photo from ``benchmarks/data/photos`` painted on a 3D head
   (``render_turned_face``), turned, re-rendered at the same camera, then YuNet (default settings) finds the face and
   its landmarks. Landmark sources: "exact" (where the photo's own landmark pixels land: an ideal detector; what is
   left is the person's face against the generic model, ``estimate_head_pose``), "YuNet" (``pose_from_detection`` as
   the app runs it: YuNet's landmarks after the shipped correction, ``correct_yunet_landmarks`` with
   ``YUNET_SIDEWAYS_GAIN``) and "YuNet, uncorrected" (YuNet's landmarks as they come, ``sideways_gain=1``).
   "nose x0.75 / x1.25": the rendered nose stands out 25 % less or more than the model's (people differ), exact
   landmarks.

   Two sets of photos, no photo in both. The *fit set* (``FIT_PHOTOS``: every face YuNet finds there at full
   resolution with the eyes >= 45 px apart, nose within 5 % of the eye spacing from the eyes' midline, score >= 0.8)
   is what ``YUNET_SIDEWAYS_GAIN`` was chosen on (``--fit`` chooses it again: the smallest gain whose mean |yaw error|
   is under 10 degrees at every yaw from -45 to +45, pitch 0; it also prints the gain with the least error overall,
   which over-turns real faces). The *evaluation set* (``EVAL_FACES``, five photos) is held out: the bar is read
   there. Both are rendered at the same poses.

Error = |estimated - true| in degrees, mean and max over the photos (and the pitch or yaw mixed in, see the tables).

AFLW2000-3D (Zhu et al. 2016; images from AFLW, Koestinger et al. 2011: "for non-commercial research purposes only";
nothing of it is in this repository, pass its folder): ``Pose_Para`` holds (pitch, yaw, roll) in radians; its yaw is
the opposite of ours (positive: turned towards the image's left), pitch and roll agree. The face is the YuNet
detection nearest the annotated nose tip. "GT landmarks" takes the five points from the dataset's own 68 landmarks
(eye centres: the mean of each eye's six points; nose tip 30; mouth corners 48, 54): the model's error without the
detector's.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from fer_core.inference import head_pose as hp  # noqa: E402
from fer_core.inference.detection import YuNetDetector  # noqa: E402

PHOTOS = Path(__file__).resolve().parent / "data" / "photos"
# Evaluation set (held out: nothing is fitted on it): frontal faces, the biggest face of each photo.
EVAL_FACES = ("openface_lennon_2.jpg", "facerec_alex_lacamoire1.jpg", "openface_lennon_1.jpg",
              "facerec_rose_leslie_img2.jpg", "deepface_img67.jpg")
# Fit set (YUNET_SIDEWAYS_GAIN): other photos of benchmarks/data/photos, every face in them that passes FIT_RULE.
FIT_PHOTOS = ("deepface_img24.jpg", "dlib_2008_002506.jpg", "esrgan_00017_gray.jpg", "facerec_obama_480p.jpg",
              "openface_adams.jpg", "ulfd_2.jpg", "ulfd_23.jpg", "ulfd_5.jpg", "ulfd_9.jpg")
# A fit face: eyes >= 45 px apart in the photo (the rendered face, ~67 px, is not blown up much), the nose tip within
# 5 % of the eye spacing from the eyes' midline (frontal: the render's true yaw is the photo's plus the turn), a sure
# detection. Roll does not matter: render_turned_face levels the eyes.
FIT_RULE = {"min_eyes_px": 45.0, "max_nose_offset": 0.05, "min_score": 0.8}
SIZE = (640, 480)
DISTANCE_MM = 600.0
YAWS = (-60, -45, -30, -15, 0, 15, 30, 45, 60)
PITCHES = (-30, -15, 0, 15, 30)


def fmt(errors) -> str:
    e = np.abs(np.asarray(errors, dtype=np.float64))
    e = e[np.isfinite(e)]
    return "–" if not len(e) else f"{e.mean():.1f} / {e.max():.1f}"


# --- level 1: model points --------------------------------------------------------------------------------------------
def model_points_table(noise_px: float, trials: int = 50, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    cam = hp.camera_matrix(SIZE)
    lines = [f"**Model points**, noise {noise_px:g} px per coordinate (eyes ~67 px apart), {trials} trials per cell: "
             "yaw error / pitch error, mean / max (degrees)", "",
             "| true yaw \\ pitch | " + " | ".join(f"{p:+d}" for p in PITCHES) + " |",
             "|---|" + "---|" * len(PITCHES)]
    for yaw in YAWS:
        cells = []
        for pitch in PITCHES:
            ey, ep = [], []
            for _ in range(trials):
                rot = hp.rotation_from_angles(yaw, pitch, rng.uniform(-10, 10))
                shift = np.array([rng.uniform(-120, 120), rng.uniform(-80, 60), DISTANCE_MM + rng.uniform(-100, 200)])
                pts = (hp.FACE_MODEL_MM - hp.HEAD_CENTRE_MM) @ rot.T + np.array(hp.HEAD_CENTRE_MM) + shift
                q = pts[:, :2] * cam[0, 0] / pts[:, 2:3] + cam[:2, 2] + rng.normal(0, noise_px, (5, 2))
                pose = hp.estimate_head_pose(q, SIZE)
                ey.append(pose.yaw_deg - yaw)
                ep.append(pose.pitch_deg - pitch)
            cells.append(f"{np.mean(np.abs(ey)):.1f}/{np.max(np.abs(ey)):.0f} · {np.mean(np.abs(ep)):.1f}/"
                         f"{np.max(np.abs(ep)):.0f}")
        lines.append(f"| {yaw:+d} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- level 2: rendered photos -----------------------------------------------------------------------------------------
def _read(name: str) -> np.ndarray:
    img = cv2.imread(str(PHOTOS / name))
    if img is None:
        raise SystemExit(f"Missing photo {PHOTOS / name}")
    return img


def load_faces(names, detector) -> list[tuple[str, np.ndarray, tuple]]:
    """The biggest face of each photo (the evaluation set)."""
    faces = []
    for name in names:
        img = _read(name)
        found = detector.detect_scored(img)
        if not found:
            raise SystemExit(f"YuNet finds no face in {name}")
        faces.append((name, img, max(found, key=lambda d: d.box[2]).landmarks))
    return faces


def load_fit_faces(names=FIT_PHOTOS, rule=FIT_RULE) -> list[tuple[str, np.ndarray, tuple]]:
    """Every face in the fit photos that passes ``FIT_RULE``, found by YuNet at full resolution (small faces too)."""
    if set(names) & set(EVAL_FACES):
        raise SystemExit(f"The fit set must not share photos with the evaluation set. Received: "
                         f"{sorted(set(names) & set(EVAL_FACES))}")
    finder = YuNetDetector(min_size=20, max_side=2048)
    faces = []
    for name in names:
        img = _read(name)
        for det in finder.detect_scored(img):
            lm = np.asarray(det.landmarks, dtype=np.float64)
            eyes = lm[1] - lm[0]
            iod = float(np.linalg.norm(eyes))
            nose = float(np.dot(lm[2] - (lm[0] + lm[1]) / 2, eyes / iod)) / iod
            if iod >= rule["min_eyes_px"] and abs(nose) <= rule["max_nose_offset"] and det.score >= rule["min_score"]:
                number = sum(f[0].split("#")[0] == name for f in faces) + 1
                faces.append((f"{name}#{number}", img, det.landmarks))
    return faces


def render_rows(faces, detector, poses, nose_scale: float = 1.0) -> list[dict]:
    rows = []
    for name, img, lm in faces:
        for yaw, pitch in poses:
            out, info = hp.render_turned_face(img, lm, yaw, pitch, out_size=SIZE, distance_mm=DISTANCE_MM,
                                              nose_scale=nose_scale)
            row = {"face": name, "yaw": yaw, "pitch": pitch, "exact": hp.estimate_head_pose(info["landmarks"], SIZE)}
            found = detector.detect_scored(out)
            if found:  # the detection nearest the true nose tip
                det = min(found, key=lambda d: np.linalg.norm(np.subtract(d.landmarks[2], info["landmarks"][2])))
                row["landmarks"] = np.asarray(det.landmarks, dtype=np.float64)
                row["yunet"] = hp.pose_from_detection(det, SIZE)  # the shipped correction
                row["raw"] = hp.pose_from_detection(det, SIZE, sideways_gain=1.0)
            rows.append(row)
    return rows


def _errs(sel, key, attr, truth):
    return [getattr(r[key], attr) - r[truth] if key in r else np.nan for r in sel]


def _facing_truth(r) -> bool:
    return abs(r["yaw"]) <= hp.MAX_YAW_DEG and abs(r["pitch"]) <= hp.MAX_PITCH_DEG


def _axis_rows(rows, axis: str, angles) -> list[str]:
    """Table rows for faces turned about one axis only ("yaw" or "pitch"; the other angle 0), one per true angle."""
    other = "pitch" if axis == "yaw" else "yaw"
    out = []
    for angle in angles:
        sel = [r for r in rows if r[axis] == angle and r[other] == 0]
        if not sel:
            continue
        found = [r for r in sel if "yunet" in r]
        mean = np.mean([getattr(r["yunet"], f"{axis}_deg") for r in found]) if found else np.nan
        facing = sum(hp.facing_screen(r["yunet"]) for r in found)
        facing_raw = sum(hp.facing_screen(r["raw"]) for r in found)
        out.append(f"| {angle:+d} | {len(found)}/{len(sel)} | {fmt(_errs(sel, 'exact', f'{axis}_deg', axis))} | "
                   f"{fmt(_errs(sel, 'yunet', f'{axis}_deg', axis))} | {mean:+.1f} | "
                   f"{fmt(_errs(sel, 'raw', f'{axis}_deg', axis))} | "
                   f"{fmt(_errs(sel, 'yunet', f'{other}_deg', other))} | {facing}/{len(found)} ({facing_raw}) |")
    return out


def rendered_tables(rows, title: str = "Rendered photos") -> str:
    faces = len({r["face"] for r in rows})
    out = [f"**{title}, turned sideways** (pitch 0; {faces} faces): error, mean / max (degrees), and how many "
           "YuNet's pose calls facing the screen (corrected; uncorrected in brackets)", "",
           "| true yaw | found by YuNet | yaw, exact landmarks | yaw, YuNet | mean YuNet yaw | "
           "yaw, YuNet uncorrected | pitch, YuNet | facing the screen |", "|---|---|---|---|---|---|---|---|",
           *_axis_rows(rows, "yaw", YAWS)]
    mixed = [r for r in rows if abs(r["yaw"]) <= 45 and r["yaw"] and r["pitch"]]
    if mixed:
        out.append(f"| \\|yaw\\| 15-45 with pitch +-15, +-30 | {sum('yunet' in r for r in mixed)}/{len(mixed)} | "
                   f"{fmt(_errs(mixed, 'exact', 'yaw_deg', 'yaw'))} | {fmt(_errs(mixed, 'yunet', 'yaw_deg', 'yaw'))}"
                   f" | | {fmt(_errs(mixed, 'raw', 'yaw_deg', 'yaw'))} | "
                   f"{fmt(_errs(mixed, 'yunet', 'pitch_deg', 'pitch'))} (uncorrected "
                   f"{fmt(_errs(mixed, 'raw', 'pitch_deg', 'pitch'))}) | |")
    out += ["", f"**{title}, turned up and down** (yaw 0): error, mean / max (degrees)", "",
            "| true pitch | found by YuNet | pitch, exact landmarks | pitch, YuNet | mean YuNet pitch | "
            "pitch, YuNet uncorrected | yaw, YuNet | facing the screen |", "|---|---|---|---|---|---|---|---|",
            *_axis_rows(rows, "pitch", PITCHES)]
    found = [r for r in rows if "yunet" in r]
    clear = [r for r in found if abs(abs(r["yaw"]) - hp.MAX_YAW_DEG) > 1e-9]  # +-30 sits on the threshold
    if clear:
        agree = np.mean([hp.facing_screen(r["yunet"]) == _facing_truth(r) for r in clear])
        agree_raw = np.mean([hp.facing_screen(r["raw"]) == _facing_truth(r) for r in clear])
        out += ["", f"- facing_screen agrees with the truth (|yaw| <= {hp.MAX_YAW_DEG:g} and |pitch| <= "
                f"{hp.MAX_PITCH_DEG:g}) on {agree:.0%} of the {len(clear)} renders off the yaw threshold (true yaw "
                f"not +-30; {sum(map(_facing_truth, clear))} facing), {agree_raw:.0%} uncorrected"]
    return "\n".join(out)


BAR_DEG = 10.0  # the bar: mean |yaw error| within 10 degrees at every yaw up to +-45


def fit_sideways_gain(rows, gains=None, bar: float = BAR_DEG) -> tuple[float | None, float, dict[float, dict]]:
    """Gains for ``correct_yunet_landmarks`` from the fit renders with YuNet's landmarks, |yaw| <= 45 and pitch 0:
    the smallest gain whose mean |yaw error| is under ``bar`` at every yaw (what ships as ``YUNET_SIDEWAYS_GAIN``:
    the least correction that meets the bar, because renders are pulled harder than real faces; None if no gain
    does), the gain with the least mean |yaw error| overall, and per gain {"mean": ..., "worst": ..., yaw: ...}."""
    gains = np.round(np.arange(1.0, 3.0001, 0.05), 2) if gains is None else gains
    sel = [r for r in rows if "landmarks" in r and abs(r["yaw"]) <= 45 and r["pitch"] == 0]
    if not sel:
        raise SystemExit("No fit render with YuNet's landmarks")
    table = {}
    for gain in gains:
        err = [abs(hp.estimate_head_pose(hp.correct_yunet_landmarks(r["landmarks"], gain), SIZE).yaw_deg - r["yaw"])
               for r in sel]
        per_yaw = {y: float(np.mean([e for e, r in zip(err, sel) if r["yaw"] == y])) for y in sorted({r["yaw"]
                                                                                                     for r in sel})}
        table[float(gain)] = {"mean": float(np.mean(err)), "worst": max(per_yaw.values()), **per_yaw}
    meets = [g for g in sorted(table) if table[g]["worst"] < bar]
    return (meets[0] if meets else None), min(table, key=lambda g: table[g]["mean"]), table


def nose_table(faces, detector) -> str:
    out = ["**Nose relief unlike the model's** (rendered photos, pitch 0, exact landmarks): yaw error, mean / max",
           "", "| rendered nose | " + " | ".join(f"{y:+d}" for y in (-45, -30, 30, 45)) + " |", "|---|---|---|---|---|"]
    for scale in (0.75, 1.0, 1.25):
        rows = render_rows(faces, detector, [(y, 0) for y in (-45, -30, 30, 45)], nose_scale=scale)
        cells = [fmt([r["exact"].yaw_deg - y for r in rows if r["yaw"] == y]) for y in (-45, -30, 30, 45)]
        out.append(f"| x{scale:g} | " + " | ".join(cells) + " |")
    return "\n".join(out)


# --- AFLW2000-3D ------------------------------------------------------------------------------------------------------
def load_aflw(folder: Path) -> list[dict]:
    try:
        from scipy.io import loadmat
    except ImportError:  # pragma: no cover
        raise SystemExit("--aflw needs scipy (scipy.io.loadmat reads the .mat annotations)") from None
    mats = {p.stem: p for p in folder.rglob("*.mat")}
    items = []
    for jpg in sorted(folder.rglob("*.jpg")):
        if jpg.stem not in mats:
            continue
        m = loadmat(str(mats[jpg.stem]))
        pitch, yaw, roll = np.degrees(m["Pose_Para"][0][:3])
        pts = m["pt3d_68"][:2].T
        gt5 = np.array([pts[36:42].mean(0), pts[42:48].mean(0), pts[30], pts[48], pts[54]])
        items.append({"name": jpg.name, "path": jpg, "yaw": -yaw, "pitch": pitch, "roll": roll, "gt5": gt5})
    if not items:
        raise SystemExit(f"No imageNNNNN.jpg with its .mat under {folder}")
    return items


def aflw_rows(items, detector) -> list[dict]:
    for it in items:
        img = cv2.imread(str(it["path"]))
        size = (img.shape[1], img.shape[0])
        it["gt_pose"] = hp.estimate_head_pose(it["gt5"], size)
        iod = np.linalg.norm(it["gt5"][1] - it["gt5"][0])
        near = [d for d in detector.detect_scored(img)
                if np.linalg.norm(np.subtract(d.landmarks[2], it["gt5"][2])) < 0.5 * iod + 10]
        if near:
            det = min(near, key=lambda d: np.linalg.norm(np.subtract(d.landmarks[2], it["gt5"][2])))
            it["yunet"] = hp.pose_from_detection(det, size)
            it["raw"] = hp.pose_from_detection(det, size, sideways_gain=1.0)
    return items


def aflw_table(items) -> str:
    ok = [it for it in items if abs(it["pitch"]) <= 90 and abs(it["yaw"]) <= 90]
    bins = [(0, 15), (15, 30), (30, 45), (45, 60), (60, 91)]
    out = [f"**AFLW2000-3D** ({len(items)} images; {len(items) - len(ok)} with |pitch| or |yaw| > 90 left out): "
           "mean / max absolute error (degrees)", "",
           "| true \\|yaw\\| | images | found by YuNet | yaw, GT landmarks | yaw, YuNet | yaw, YuNet uncorrected | "
           "pitch, GT landmarks | pitch, YuNet | roll, YuNet |", "|---|---|---|---|---|---|---|---|---|"]
    for lo, hi in bins + [(0, 45)]:
        sel = [it for it in ok if lo <= abs(it["yaw"]) < hi]
        label = f"**{lo}-{hi}**" if (lo, hi) == (0, 45) else f"{lo}-{min(hi, 90)}"
        out.append(f"| {label} | {len(sel)} | {sum('yunet' in it for it in sel)} | "
                   f"{fmt(_errs(sel, 'gt_pose', 'yaw_deg', 'yaw'))} | {fmt(_errs(sel, 'yunet', 'yaw_deg', 'yaw'))} | "
                   f"{fmt(_errs(sel, 'raw', 'yaw_deg', 'yaw'))} | {fmt(_errs(sel, 'gt_pose', 'pitch_deg', 'pitch'))} | "
                   f"{fmt(_errs(sel, 'yunet', 'pitch_deg', 'pitch'))} | "
                   f"{fmt(_errs(sel, 'yunet', 'roll_deg', 'roll'))} |")
    found = [it for it in ok if "yunet" in it]
    out.append("")
    for key, label in (("yunet", "YuNet"), ("raw", "YuNet uncorrected"), ("gt_pose", "GT landmarks")):
        sel = [it for it in found if 15 <= abs(it["yaw"]) <= 60]
        ratio = np.mean([it[key].yaw_deg / it["yaw"] for it in sel]) if sel else np.nan
        slope = np.polyfit([it["pitch"] for it in found], [it[key].pitch_deg for it in found], 1)[0]
        out.append(f"- {label}: estimated / true yaw, mean over the {len(sel)} faces with |yaw| 15-60: {ratio:.2f}; "
                   f"slope of the estimated pitch against the true one (all {len(found)}): {slope:.2f}")
    truth_facing = [abs(it["yaw"]) <= hp.MAX_YAW_DEG and abs(it["pitch"]) <= hp.MAX_PITCH_DEG for it in found]
    said = [hp.facing_screen(it["yunet"]) for it in found]
    said_raw = [hp.facing_screen(it["raw"]) for it in found]
    agree = np.mean(np.equal(truth_facing, said)) if found else np.nan
    agree_raw = np.mean(np.equal(truth_facing, said_raw)) if found else np.nan
    out.append(f"- facing_screen on YuNet's pose agrees with the truth's (|yaw| <= {hp.MAX_YAW_DEG:g} and |pitch| <= "
               f"{hp.MAX_PITCH_DEG:g}) on {agree:.0%} of the {len(found)} faces found ({sum(truth_facing)} facing); "
               f"uncorrected {agree_raw:.0%}")
    return "\n".join(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="one evaluation photo, fewer angles, no fit set")
    ap.add_argument("--fit", action="store_true", help="choose YUNET_SIDEWAYS_GAIN again on the fit set and print it")
    ap.add_argument("--noise", type=float, default=2.0, help="landmark noise for the model-point level (px)")
    ap.add_argument("--aflw", type=Path, help="AFLW2000-3D folder (imageNNNNN.jpg and .mat files, any depth)")
    ap.add_argument("--only-aflw", action="store_true", help="skip the generated faces")
    args = ap.parse_args(argv)

    detector = YuNetDetector()
    print(f"Camera: {SIZE[0]}x{SIZE[1]}, focal length {SIZE[0]} px, face {DISTANCE_MM:g} mm away; facing the screen: "
          f"|yaw| <= {hp.MAX_YAW_DEG:g} and |pitch| <= {hp.MAX_PITCH_DEG:g}.\n")
    t0 = time.perf_counter()
    if not args.only_aflw:
        faces = load_faces(EVAL_FACES[:1] if args.quick else EVAL_FACES, detector)
        print(model_points_table(args.noise, trials=20 if args.quick else 50) + "\n")
        poses = [(y, 0) for y in YAWS] + [(0, p) for p in PITCHES if p]
        if not args.quick:
            poses += [(y, p) for y in YAWS if y and abs(y) <= 45 for p in PITCHES if p]
            fit_faces = load_fit_faces()
            fit_rows = render_rows(fit_faces, detector, poses)
            print(f"Fit set: {len(fit_faces)} faces from {len({f[0].split('#')[0] for f in fit_faces})} photos "
                  f"({', '.join(FIT_PHOTOS)}), {len(fit_rows)} renders. Shipped: YUNET_SIDEWAYS_GAIN = "
                  f"{hp.YUNET_SIDEWAYS_GAIN:g}.")
            if args.fit:
                chosen, least, table = fit_sideways_gain(fit_rows)
                shown = [g for g in sorted(table) if round(g * 100) % 25 == 0 or g in (chosen, least)]
                print(f"Fit (pitch 0, |yaw| <= 45): the least correction under {BAR_DEG:g} degrees at every yaw: "
                      f"gain {chosen if chosen is None else f'{chosen:.2f}'}; least mean error: gain {least:.2f} "
                      f"({table[least]['mean']:.2f}). Per gain, mean / worst yaw: "
                      + ", ".join(f"{g:.2f}: {table[g]['mean']:.1f} / {table[g]['worst']:.1f}" for g in shown))
            print("\n" + rendered_tables(fit_rows, "Fit set") + "\n")
        print(rendered_tables(render_rows(faces, detector, poses),
                              "Rendered photos" if args.quick else "Evaluation set (held out)") + "\n")
        if not args.quick:
            print(nose_table(faces, detector) + "\n")
    if args.aflw:
        print(aflw_table(aflw_rows(load_aflw(args.aflw), detector)) + "\n")
    t = time.perf_counter()
    for _ in range(200):
        hp.estimate_head_pose(hp.FACE_MODEL_MM[:, :2] * 1.2 + 300, SIZE)
    per_call = (time.perf_counter() - t) / 200 * 1e3
    print(f"estimate_head_pose: {per_call:.2f} ms per face. Total {time.perf_counter() - t0:.0f} s.")


if __name__ == "__main__":
    main()
