"""Head pose from five landmarks (fer_core.inference.head_pose): conventions, accuracy on generated turned faces, the
correction of YuNet's landmarks on held-out generated faces, facing_screen, input checks. The full error tables are in
benchmarks/bench_head_pose.py."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_core.inference import head_pose as hp
from fer_core.inference.detection import Detection, YuNetDetector
from tests.factories import load_bench

REPO = Path(__file__).resolve().parents[2]
PHOTOS = REPO / "benchmarks" / "data" / "photos"
PHOTO = PHOTOS / "openface_lennon_2.jpg"  # a frontal face (Apache-2.0, SOURCES.md)
# Frontal faces of the benchmark's evaluation set: YUNET_SIDEWAYS_GAIN was chosen on other photos (checked below).
HELD_OUT = ("openface_lennon_2.jpg", "facerec_alex_lacamoire1.jpg", "facerec_rose_leslie_img2.jpg")
SIZE = (640, 480)


def project(yaw, pitch, roll=0.0, shift=(0.0, -10.0, 600.0), size=SIZE):
    """FACE_MODEL_MM turned by (yaw, pitch, roll) about HEAD_CENTRE_MM and seen by the default camera."""
    rot = hp.rotation_from_angles(yaw, pitch, roll)
    pts = (hp.FACE_MODEL_MM - hp.HEAD_CENTRE_MM) @ rot.T + np.array(hp.HEAD_CENTRE_MM) + np.array(shift)
    cam = hp.camera_matrix(size)
    return pts[:, :2] * cam[0, 0] / pts[:, 2:3] + cam[:2, 2]


@pytest.mark.parametrize("angles", [(0, 0, 0), (10, 20, 5), (-40, -15, 20), (60, 30, -10), (-75, 45, 30)])
def test_angles_round_trip(angles):
    assert np.allclose(hp.angles_from_rotation(hp.rotation_from_angles(*angles)), angles, atol=1e-9)


def test_sign_conventions():
    eyes_mid = lambda q: (q[0] + q[1]) / 2  # noqa: E731
    front = project(0, 0)
    right = project(20, 0)   # yaw > 0: the nose points to the image's right
    assert right[2, 0] - eyes_mid(right)[0] > front[2, 0] - eyes_mid(front)[0] + 5
    up = project(0, 20)      # pitch > 0: the nose points up (nearer the eyes in the image)
    assert up[2, 1] - eyes_mid(up)[1] < front[2, 1] - eyes_mid(front)[1] - 5
    cw = project(0, 0, 20)   # roll > 0: clockwise in the image (the image-right eye goes down)
    assert cw[1, 1] > cw[0, 1] + 10
    for yaw, pitch, roll in [(20, 0, 0), (0, 20, 0), (0, 0, 20), (-30, -20, 10)]:
        pose = hp.estimate_head_pose(project(yaw, pitch, roll), SIZE)
        assert np.allclose(pose.angles, (yaw, pitch, roll), atol=0.01)
        assert pose.reprojection_px < 0.01 and pose.translation_mm[2] > 0


def test_model_points_with_noise_within_10_degrees():
    """Level 1: the model's points turned, projected (eyes ~67 px apart) and jittered by 2 px."""
    rng = np.random.default_rng(0)
    for yaw in (-45, -30, -15, 0, 15, 30, 45):
        errors = []
        for pitch in (-30, -15, 0, 15, 30):
            for _ in range(8):
                q = project(yaw, pitch, rng.uniform(-10, 10), (rng.uniform(-100, 100), rng.uniform(-60, 40), 600))
                pose = hp.estimate_head_pose(q + rng.normal(0, 2.0, q.shape), SIZE)
                errors.append((pose.yaw_deg - yaw, pose.pitch_deg - pitch))
        errors = np.abs(errors)
        assert errors[:, 0].mean() < 10 and errors[:, 1].mean() < 10, (yaw, errors.mean(axis=0))
        assert errors.max() < 20, (yaw, errors.max(axis=0))


def test_far_turned_noisy_face_still_fits_in_front_of_the_camera():
    """Five points have a mirror solution; the solver must not end behind the camera or flip the yaw's sign."""
    rng = np.random.default_rng(3)
    for _ in range(100):
        q = project(60, rng.choice([-30, 30]), rng.uniform(-10, 10)) + rng.normal(0, 2.0, (5, 2))
        pose = hp.estimate_head_pose(q, SIZE)
        assert pose.translation_mm[2] > 0 and pose.yaw_deg > 35


@pytest.fixture(scope="module")
def photo():
    img = cv2.imread(str(PHOTO))
    assert img is not None, PHOTO
    det = max(YuNetDetector().detect_scored(img), key=lambda d: d.box[2])
    return img, det.landmarks


@pytest.fixture(scope="module")
def renders(photo):
    img, lm = photo
    detector = YuNetDetector()
    out = {}
    for yaw, pitch in [(0, 0), (-45, 0), (-30, 0), (30, 0), (45, 0), (0, -30), (0, 30), (-60, 0), (60, 0)]:
        image, info = hp.render_turned_face(img, lm, yaw, pitch, out_size=SIZE)
        found = detector.detect_scored(image)
        out[yaw, pitch] = image, info, found
    return out


def test_rendered_faces_with_exact_landmarks_within_10_degrees(renders):
    """Level 2, ideal detector: where the photo's own landmarks land in the turned, re-rendered face."""
    for (yaw, pitch), (image, info, _) in renders.items():
        assert image.shape == (SIZE[1], SIZE[0], 3)
        pose = hp.estimate_head_pose(info["landmarks"], SIZE)
        assert abs(pose.yaw_deg - yaw) <= 10 and abs(pose.pitch_deg - pitch) <= 10, ((yaw, pitch), pose.angles)


def test_rendered_faces_through_yunet(renders):
    """Level 2, end to end: YuNet finds every rendered face; its landmarks give the right direction. YuNet pulls its
    landmarks towards the middle of a turned face, so the yaw comes out short (see the benchmark): checked loosely."""
    for (yaw, pitch), (_, info, found) in renders.items():
        assert found, (yaw, pitch)
        det = min(found, key=lambda d: np.linalg.norm(np.subtract(d.landmarks[2], info["landmarks"][2])))
        pose = hp.pose_from_detection(det, SIZE)
        if yaw:
            assert np.sign(pose.yaw_deg) == np.sign(yaw) and abs(pose.yaw_deg) >= abs(yaw) / 4, (yaw, pose.angles)
            assert abs(pose.yaw_deg - yaw) <= 25, (yaw, pose.angles)
        else:
            assert abs(pose.yaw_deg) <= 8, (pitch, pose.angles)
    front = hp.pose_from_detection(renders[0, 0][2][0], SIZE)
    assert hp.facing_screen(front)
    for yaw in (-60, 60):
        assert not hp.facing_screen(hp.pose_from_detection(renders[yaw, 0][2][0], SIZE)), yaw


@pytest.fixture(scope="module")
def held_out():
    """Three held-out photos turned sideways (-45..45 by 15, pitch 0) and rendered; YuNet's landmarks of each."""
    bench = load_bench("bench_head_pose")
    assert not set(HELD_OUT) & set(bench.FIT_PHOTOS) and set(HELD_OUT) <= set(bench.EVAL_FACES)
    detector = YuNetDetector()
    rows = []
    for name in HELD_OUT:
        img = cv2.imread(str(PHOTOS / name))
        assert img is not None, name
        lm = max(detector.detect_scored(img), key=lambda d: d.box[2]).landmarks
        for yaw in (-45, -30, -15, 0, 15, 30, 45):
            image, info = hp.render_turned_face(img, lm, yaw, 0.0, out_size=SIZE)
            found = detector.detect_scored(image)
            assert found, (name, yaw)
            det = min(found, key=lambda d: np.linalg.norm(np.subtract(d.landmarks[2], info["landmarks"][2])))
            rows.append((name, yaw, det))
    return rows


def test_shipped_yaw_within_10_degrees_on_held_out_faces(held_out):
    """The bar: the pose as the app computes it from YuNet's landmarks (corrected by ``YUNET_SIDEWAYS_GAIN``) is within
    10 degrees on average at every |yaw| up to 45 on faces rendered from photos the gain was not chosen on;
    uncorrected it falls short (about 0.6 of the yaw) and further off."""
    errors, raw = {}, {}
    for _, yaw, det in held_out:
        corrected = hp.pose_from_detection(det, SIZE)
        errors.setdefault(abs(yaw), []).append(corrected.yaw_deg - yaw)
        raw.setdefault(abs(yaw), []).append((yaw, hp.pose_from_detection(det, SIZE, sideways_gain=1.0).yaw_deg))
    for yaw in (0, 15, 30, 45):
        assert np.mean(np.abs(errors[yaw])) <= 10, (yaw, np.round(errors[yaw], 1))
    for yaw in (30, 45):  # uncorrected: short, and further off
        assert np.mean([est / true for true, est in raw[yaw]]) < 0.8, (yaw, raw[yaw])
        assert np.mean([abs(est - true) for true, est in raw[yaw]]) > np.mean(np.abs(errors[yaw])), (yaw, raw[yaw])


def test_yunet_correction_keeps_facing_screen(held_out):
    """Held-out faces at 0 and +-15 degrees face the screen, at +-45 they do not (+-30 is the threshold itself)."""
    for name, yaw, det in held_out:
        if abs(yaw) != 30:
            assert hp.facing_screen(hp.pose_from_detection(det, SIZE)) == (abs(yaw) <= 15), (name, yaw)


def test_fit_sideways_gain_takes_the_least_correction_that_meets_the_bar():
    """The benchmark's rule for YUNET_SIDEWAYS_GAIN on landmarks pulled to 1/2.5 of their sideways offset (noise-free
    model points): the least-error gain is 2.5 itself; the gain that ships is the smallest one under the bar at every
    yaw, which is smaller, and None when the bar is out of reach."""
    bench = load_bench("bench_head_pose")
    rows = [{"yaw": yaw, "pitch": 0, "landmarks": hp.correct_yunet_landmarks(project(yaw, 0), 1 / 2.5)}
            for yaw in (-45, -30, -15, 0, 15, 30, 45)]
    chosen, least, table = bench.fit_sideways_gain(rows)
    assert least == pytest.approx(2.5) and table[least]["worst"] < 0.1
    assert 1.0 < chosen < 2.5 and table[chosen]["worst"] < bench.BAR_DEG
    assert table[round(chosen - 0.05, 2)]["worst"] >= bench.BAR_DEG
    assert bench.fit_sideways_gain(rows, bar=0.0)[0] is None


def test_facing_screen_thresholds():
    def pose(yaw, pitch):
        return hp.HeadPose(yaw, pitch, 0.0, hp.rotation_from_angles(yaw, pitch), np.array([0, 0, 600.0]), 0.0, 60.0,
                           yaw, pitch)

    assert (hp.MAX_YAW_DEG, hp.MAX_PITCH_DEG) == (30.0, 25.0)
    assert hp.facing_screen(pose(0, 0)) and hp.facing_screen(pose(-30, 25)) and hp.facing_screen(pose(29, -24))
    assert not hp.facing_screen(pose(31, 0)) and not hp.facing_screen(pose(-60, 0))
    assert not hp.facing_screen(pose(0, -26)) and not hp.facing_screen(pose(0, 40))
    assert hp.facing_screen(pose(40, 0), max_yaw=45) and not hp.facing_screen(pose(0, 20), max_pitch=15)
    assert not hp.facing_screen(None)
    with pytest.raises(ValueError, match="Received: max_yaw=-1"):
        hp.facing_screen(pose(0, 0), max_yaw=-1)
    assert hp.facing_screen(hp.estimate_head_pose(project(0, 0), SIZE))
    assert not hp.facing_screen(hp.estimate_head_pose(project(60, 0), SIZE))


def test_facing_is_measured_against_the_line_of_sight():
    """A head near the edge of the frame that looks into the lens is facing it, though turned against the camera's
    axes by its bearing; one in the middle turned by as much is not."""
    cam = hp.camera_matrix(SIZE)
    for where in [(250.0, 0.0, 600.0), (-200.0, 150.0, 500.0)]:
        ray = np.array(where) / np.linalg.norm(where)
        sight = hp.rotation_from_angles(np.degrees(np.arctan2(-ray[0], ray[2])), np.degrees(np.arcsin(ray[1])), 0)
        for extra in [(0.0, 0.0), (20.0, -10.0), (40.0, 0.0)]:
            pts = hp.FACE_MODEL_MM @ (sight @ hp.rotation_from_angles(*extra)).T + np.array(where)
            pose = hp.estimate_head_pose(pts[:, :2] * cam[0, 0] / pts[:, 2:3] + cam[:2, 2], SIZE)
            assert (pose.yaw_to_camera_deg, pose.pitch_to_camera_deg) == pytest.approx(extra, abs=0.01)
            assert hp.facing_screen(pose) == (extra[0] <= 30)
    bearing = hp.estimate_head_pose(project(0, 0, shift=(250.0, 0.0, 600.0)), SIZE)  # centred axes, off to the side
    assert abs(bearing.yaw_deg) < 0.01 and bearing.yaw_to_camera_deg > 20


@pytest.mark.parametrize("bad, message", [
    (np.zeros((4, 2)), r"shape \(5, 2\)\. Received: shape=\(4, 2\)"),
    (np.zeros((5, 3)), r"Received: shape=\(5, 3\)"),
    (np.zeros(10), r"Received: shape=\(10,\)"),
    ([[1, 2], [3, 4], [5, 6], [7, 8], [9, float("nan")]], r"finite \(no NaN or inf\)\. Received:"),
    ([[1, 2], [3, 4], [5, 6], [7, 8], [9, float("inf")]], r"finite"),
    ([[100, 100], [100.5, 100], [100, 130], [90, 150], [110, 150]], r"eye landmarks coincide"),
    ("five points", r"Received: (shape=\(\)|str)"),
    (None, r"Received: "),
])
def test_bad_landmarks_raise_value_error(bad, message):
    with pytest.raises(ValueError, match=message):
        hp.estimate_head_pose(bad, SIZE)


@pytest.mark.parametrize("size", [(0, 480), (-640, 480), (640,), (640.5, 480), "640x480", None, (640, 480, 3)])
def test_bad_image_size_raises_value_error(size):
    with pytest.raises(ValueError, match=r"image_size must be \(width, height\).*Received: image_size="):
        hp.estimate_head_pose(project(0, 0), size)


def test_other_bad_inputs():
    with pytest.raises(ValueError, match="focal_length"):
        hp.estimate_head_pose(project(0, 0), SIZE, focal_length=0)
    with pytest.raises(ValueError, match=r"model_points.*Received: shape=\(4, 3\)"):
        hp.estimate_head_pose(project(0, 0), SIZE, model_points=np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"Received: shape=\(2, 2\)"):
        hp.angles_from_rotation(np.eye(2))
    with pytest.raises(ValueError, match=r"BGR.*Received: shape=\(48, 48\)"):
        hp.render_turned_face(np.zeros((48, 48), np.uint8), project(0, 0), 0, 0)


def test_pose_from_detection():
    assert hp.pose_from_detection(Detection((0, 0, 10, 10)), SIZE) is None  # Haar: no landmarks
    # YuNet-like landmarks: the model's nose and mouth pulled towards the middle as YuNet does; the shipped correction
    # (as the app runs it: the default gain) undoes it
    pulled = hp.correct_yunet_landmarks(project(20, 0), 1 / hp.YUNET_SIDEWAYS_GAIN)
    landmarks = tuple(map(tuple, pulled))
    det = Detection((250, 150, 140, 140), 0.9, landmarks)
    pose = hp.pose_from_detection(det, SIZE)
    assert hp.YUNET_SIDEWAYS_GAIN > 1
    assert abs(pose.yaw_deg - 20) < 0.01 and pose.interocular_px == pytest.approx(
        np.linalg.norm(np.subtract(landmarks[1], landmarks[0])))
    raw = hp.pose_from_detection(det, SIZE, sideways_gain=1.0)  # as YuNet gives them: the plain fit, short
    assert raw.angles == pytest.approx(hp.estimate_head_pose(pulled, SIZE).angles) and raw.yaw_deg < 17
    exact = hp.pose_from_detection(Detection((250, 150, 140, 140), 0.9, tuple(map(tuple, project(20, 0)))), SIZE,
                                   sideways_gain=1.0)  # exact landmarks need no correction
    assert abs(exact.yaw_deg - 20) < 0.01


def test_correct_yunet_landmarks():
    """Only the nose's and the mouth's offset along the eye line (from the eyes' midpoint) grows, by the gain."""
    frontal = project(0, 0)
    assert np.allclose(hp.correct_yunet_landmarks(frontal, hp.YUNET_SIDEWAYS_GAIN), frontal)  # nothing to move
    q = project(25, 10, 20)  # turned, tilted, rolled
    out = hp.correct_yunet_landmarks(q, 2.0)
    mid = (q[0] + q[1]) / 2
    along = (q[1] - q[0]) / np.linalg.norm(q[1] - q[0])
    across = np.array([-along[1], along[0]])
    assert np.allclose(out[:2], q[:2])
    assert np.allclose((out[2:] - mid) @ across, (q[2:] - mid) @ across)
    assert np.dot(out[2] - mid, along) == pytest.approx(2 * np.dot(q[2] - mid, along))
    mouth = lambda p: (p[3] + p[4]) / 2  # noqa: E731
    assert np.dot(mouth(out) - mid, along) == pytest.approx(2 * np.dot(mouth(q) - mid, along))
    assert np.allclose(out[4] - out[3], q[4] - q[3])  # the mouth's width stays
    assert np.allclose(hp.correct_yunet_landmarks(q, 1.0), q)
    assert np.allclose(hp.correct_yunet_landmarks(out, 0.5), q)
    for bad in (0, -1.5, float("nan"), float("inf"), "2", None):
        with pytest.raises(ValueError, match=r"gain must be a positive finite number\. Received: gain="):
            hp.correct_yunet_landmarks(q, bad)
    with pytest.raises(ValueError, match=r"Received: shape=\(4, 2\)"):
        hp.correct_yunet_landmarks(np.zeros((4, 2)))


def test_module_stays_light():
    code = ("import sys; import fer_core.inference.head_pose; "
            "bad = [m for m in ('tensorflow', 'streamlit', 'fer_core.live', 'fer_core.classroom') "
            "if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)
