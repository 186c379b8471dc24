"""Head pose (yaw, pitch, roll) from YuNet's five landmarks, and whether a face is turned towards the screen.

``estimate_head_pose(landmarks5, image_size)`` fits a generic five-point 3D face (``FACE_MODEL_MM``) to the two eye
centres, the nose tip and the two mouth corners that YuNet finds (``fer_core.detection.Detection.landmarks``) with
``cv2.solvePnP`` and a pinhole camera; ``facing_screen(pose)`` says whether the head is turned towards the camera /
screen within ``MAX_YAW_DEG`` and ``MAX_PITCH_DEG``. ``render_turned_face`` makes test images: a frontal photo
painted on a 3D head surface, turned by a known yaw / pitch / roll and re-rendered (tests, benchmarks, fake cameras).

Angles, in degrees, in image terms (a mirrored selfie view mirrors yaw and roll):

    yaw    > 0: the nose points towards the image's right (on an unmirrored camera: the person turned to their own left)
    pitch  > 0: the nose points up (the person looks up)
    roll   > 0: the face is turned clockwise in the image

They are the Tait-Bryan angles of ``R = Ry(-yaw) @ Rx(-pitch) @ Rz(roll)`` (camera axes: x right, y down, z forward),
so yaw and pitch are exactly the direction the nose points in and roll is the turn about that direction.

The 3D model (``FACE_MODEL_MM``, mm, same axes as the camera when the face looks straight into it; origin between the
eyes) is read off MediaPipe's canonical face mesh (``mediapipe/modules/face_geometry/data/canonical_face_model.obj``,
Apache-2.0, metric, in cm) at the points YuNet marks, on the face's right side and mirrored to the left: an eye
centre is the mean of the eye's two corners and the middles of its upper and lower lid (vertices 33, 133, 159, 145),
the nose tip is vertex 1, a mouth corner vertex 61. That gives eyes 63.3 mm apart (the adult mean is 61-64 mm), the
nose tip 37.5 mm below the eye line and 38.3 mm in front of the eyes, the mouth corners 49.1 mm apart, 69.7 mm below
the eye line and 6.4 mm in front of the eyes. The depths carry the yaw: a face whose nose stands out 25 % less than
the model's gets a yaw about a fifth short (8-10 degrees at 30-45; ``benchmarks/bench_head_pose.py``, "nose x0.75").
On AFLW2000-3D faces with their annotated landmarks the model recovers the yaw within 1.5 degrees on average
(|yaw| <= 45) - the error that is left comes from the detector's landmarks (see the benchmark's README table).

Camera: focal length = image width in pixels (a 53 degree horizontal field of view; webcams have 55-78), principal
point at the centre. A focal length 30 % off moves the angles by 2-3 degrees for a face in the middle of the frame,
up to 6-7 near its edge.

Solver: ``cv2.SOLVEPNP_ITERATIVE`` (Levenberg-Marquardt) started from a frontal head at the distance the eye spacing
implies; if that ends behind the camera or fits badly (``PLAUSIBLE_FIT``), SQPnP's answer is taken when it fits
better. With five points there is a mirror solution (the same 2D points from a head turned the other way); starting
frontal finds the plausible one. On the model's points with 2 px of noise (eyes ~67 px apart) both solvers err by
~2 degrees on average up to 60 degrees of yaw; EPnP errs by up to 36 (five points are too few for it) and
``SOLVEPNP_ITERATIVE`` without a start needs six points.

What YuNet's landmarks allow (``benchmarks/bench_head_pose.py``): YuNet places its nose and mouth landmarks nearer
the middle of a turned face than they are, so their yaw comes out short (on AFLW2000-3D about 0.77 of the truth for
|yaw| 15-60; 0.5-0.85 on the generated faces); ``pose_from_detection`` corrects that (``correct_yunet_landmarks``
with ``YUNET_SIDEWAYS_GAIN``, which says how the gain was chosen). Their pitch hardly moves (slope ~0.2 against the
truth on real and generated faces) and is not corrected: a head bowed to a phone reads as nearly level.
``facing_screen`` therefore works mostly from the yaw.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

# --- the model --------------------------------------------------------------------------------------------------------
# YuNet's order: the eye on the image's left, the other eye, the nose tip, the mouth corner on the image's left, the
# other one (see fer_core.detection.Detection). x right (image), y down, z away from the camera: the nose is at z < 0.
LANDMARK_NAMES = ("eye (image left)", "eye (image right)", "nose tip", "mouth corner (image left)",
                  "mouth corner (image right)")
FACE_MODEL_MM = np.array([
    [-31.64, 0.00, 0.00],
    [31.64, 0.00, 0.00],
    [0.00, 37.54, -38.29],
    [-24.56, 69.70, -6.38],
    [24.56, 69.70, -6.38],
], dtype=np.float64)
INTEROCULAR_MM = float(FACE_MODEL_MM[1, 0] - FACE_MODEL_MM[0, 0])
# A fit whose landmarks sit within this share of the eye spacing (mean) of the model's projection is kept as it is.
PLAUSIBLE_FIT = 0.1

# --- "facing the screen" ----------------------------------------------------------------------------------------------
# A laptop or monitor screen seen from 50-70 cm spans about +-15 degrees across and +-10 degrees up and down around its
# centre, and the webcam sits on its top edge; people turn the head only part of the way to what they look at (the
# eyes do the rest). Looking anywhere on the screen therefore keeps the head within about +-15 degrees of yaw and
# between about -20 and +5 degrees of pitch relative to the camera. The thresholds add the estimator's error on real
# faces (about 5-10 degrees, benchmarks/bench_head_pose.py) to that: a head turned past 30 degrees sideways, or past
# 25 degrees up or down, is looking away (at a neighbour, a phone, notes on the desk, out of the window).
MAX_YAW_DEG = 30.0
MAX_PITCH_DEG = 25.0

# --- YuNet's landmarks ------------------------------------------------------------------------------------------------
# YuNet places the nose tip and the mouth corners nearer the middle of a turned face than they are: their sideways
# offset from the eyes' midpoint (along the eye line), which carries the yaw, comes out short, and so does the yaw.
# correct_yunet_landmarks multiplies that offset by a gain before the fit. For the yaw that is a model whose nose and
# mouth stand out 1/gain as far; the model itself is not made shallower because that loosens the pitch as well (a nearly
# flat face tilted up or down projects like a shorter face: frontal faces then read as bowed by ~20 degrees), and
# YuNet's pitch hardly moves anyway, so it is left as it is.
# How much: YuNet pulls the rendered faces (render_turned_face) harder than real ones. On the renders of the fit set
# (``python benchmarks/bench_head_pose.py --fit``: FIT_PHOTOS, 11 faces from 9 photos the benchmark does not evaluate
# on) the least mean |yaw error| comes at a gain of 2.35, and that gain over-turns real faces (AFLW2000-3D, measured
# and never fitted on: estimated / true yaw 1.41). So the gain is the *least correction that meets the bar* on the fit
# renders: the smallest gain (steps of 0.05) with a mean |yaw error| under 10 degrees at every yaw from -45 to +45
# (pitch 0). That is 1.50 (worst 9.7 degrees, at -30; uncorrected 16.1 at -45). Measured after the choice: the
# held-out renders 2.3-5.8 degrees at every yaw up to +-45 (uncorrected up to 12.3), and on AFLW2000-3D estimated /
# true yaw 1.05 (uncorrected 0.77), the yaw error for |yaw| 60-90 9.1 degrees (14.2), for |yaw| <= 45 3.8 (3.6).
YUNET_SIDEWAYS_GAIN = 1.5


@dataclass(frozen=True)
class HeadPose:
    """A head's pose from five landmarks: angles in degrees (conventions in the module docstring) against the
    camera's axes, the rotation (3x3, head model -> camera), the head's position (``translation_mm``: the model's
    origin, between the eyes, in mm on the camera's axes; ``[2]`` is the distance, right for an adult-sized face) and
    the mean distance in pixels between the landmarks and the fitted model's projection (``reprojection_px``; compare
    with ``interocular_px``: a poor fit is a face the model does not explain).

    ``yaw_to_camera_deg`` / ``pitch_to_camera_deg``: the same angles against the line from the head to the camera
    (0, 0: looking straight into the lens, wherever the face is in the frame). A head at the side of the frame that
    looks at the camera is turned against the camera's axes by its bearing (up to ~26 degrees at the edge of a
    640-px-wide frame with the default focal length), not against the line of sight; ``facing_screen`` uses these."""

    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    rotation: np.ndarray
    translation_mm: np.ndarray
    reprojection_px: float
    interocular_px: float
    yaw_to_camera_deg: float = 0.0
    pitch_to_camera_deg: float = 0.0

    @property
    def angles(self) -> tuple[float, float, float]:
        return self.yaw_deg, self.pitch_deg, self.roll_deg


def rotation_from_angles(yaw_deg: float, pitch_deg: float, roll_deg: float = 0.0) -> np.ndarray:
    """The rotation (head model -> camera) of a head at these angles: ``Ry(-yaw) @ Rx(-pitch) @ Rz(roll)``."""
    y, p, r = (math.radians(-yaw_deg), math.radians(-pitch_deg), math.radians(roll_deg))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return ry @ rx @ rz


def angles_from_rotation(rotation: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a rotation, the inverse of ``rotation_from_angles`` (pitch in [-90, 90])."""
    r = np.asarray(rotation, dtype=np.float64)
    if r.shape != (3, 3) or not np.all(np.isfinite(r)):
        raise ValueError(f"rotation must be a finite 3x3 matrix. Received: shape={r.shape}")
    yaw = math.degrees(math.atan2(-r[0, 2], r[2, 2]))
    pitch = math.degrees(math.asin(float(np.clip(r[1, 2], -1.0, 1.0))))
    roll = math.degrees(math.atan2(r[1, 0], r[1, 1]))
    return yaw, pitch, roll


def camera_matrix(image_size: Sequence[int], focal_length: float | None = None) -> np.ndarray:
    """The pinhole camera for an image of ``image_size`` = (width, height): focal length ``focal_length`` pixels
    (None: the image width), principal point at the centre."""
    width, height = _check_size(image_size)
    f = float(width if focal_length is None else focal_length)
    if not (math.isfinite(f) and f > 0):
        raise ValueError(f"focal_length must be a positive number of pixels. Received: focal_length={focal_length!r}")
    return np.array([[f, 0, width / 2.0], [0, f, height / 2.0], [0, 0, 1]], dtype=np.float64)


def estimate_head_pose(landmarks5, image_size: Sequence[int], focal_length: float | None = None,
                       model_points: np.ndarray | None = None) -> HeadPose:
    """The head pose from five landmarks.

    - ``landmarks5``: (5, 2) pixel coordinates in YuNet's order (eye on the image's left, other eye, nose tip, mouth
      corner on the image's left, other corner), e.g. ``Detection.landmarks``;
    - ``image_size``: (width, height) of the image the landmarks are in (OpenCV's order, as ``cv2.resize`` takes it);
    - ``focal_length``: pixels (None: the image width); ``model_points``: a (5, 3) model in mm (None:
      ``FACE_MODEL_MM``).

    Raises ``ValueError`` for landmarks that are not five finite (x, y) points, or whose eyes coincide.
    """
    pts = _check_landmarks(landmarks5)
    model = FACE_MODEL_MM if model_points is None else np.asarray(model_points, dtype=np.float64)
    if model.shape != (5, 3) or not np.all(np.isfinite(model)):
        raise ValueError(f"model_points must be five finite (x, y, z) points, shape (5, 3). "
                         f"Received: shape={model.shape}")
    cam = camera_matrix(image_size, focal_length)
    iod = float(np.linalg.norm(pts[1] - pts[0]))
    # Start: a frontal head at the distance its eye spacing implies, its eye midpoint on the ray through the landmarks'.
    model_iod = float(np.linalg.norm(model[1] - model[0]))
    z = cam[0, 0] * model_iod / iod
    eyes = (pts[0] + pts[1]) / 2
    eyes_model = (model[0] + model[1]) / 2
    tvec0 = np.array([(eyes[0] - cam[0, 2]) * z / cam[0, 0], (eyes[1] - cam[1, 2]) * z / cam[1, 1], z]) - eyes_model
    candidates = []
    for flags, guess in ((cv2.SOLVEPNP_ITERATIVE, True), (cv2.SOLVEPNP_SQPNP, False)):
        try:
            if guess:
                ok, rvec, tvec = cv2.solvePnP(model, pts, cam, None, np.zeros((3, 1)), tvec0.reshape(3, 1).copy(),
                                              useExtrinsicGuess=True, flags=flags)
            else:
                ok, rvec, tvec = cv2.solvePnP(model, pts, cam, None, flags=flags)
        except cv2.error:  # pragma: no cover (degenerate input the checks above let through)
            continue
        if not ok or not (np.all(np.isfinite(rvec)) and np.all(np.isfinite(tvec))) or float(tvec[2, 0]) <= 0:
            continue
        projected, _ = cv2.projectPoints(model, rvec, tvec, cam, None)
        candidates.append((float(np.mean(np.linalg.norm(projected.reshape(5, 2) - pts, axis=1))), rvec, tvec))
        if guess and candidates[-1][0] <= PLAUSIBLE_FIT * iod:
            break  # the frontal start fitted: keep it (SQPnP may pick the mirror solution, which fits as well)
    if not candidates:
        raise ValueError(f"No head pose in front of the camera fits these landmarks. "
                         f"Received: landmarks={pts.round(1).tolist()}")
    error, rvec, tvec = min(candidates, key=lambda c: c[0])
    rotation, _ = cv2.Rodrigues(rvec)
    yaw, pitch, roll = angles_from_rotation(rotation)
    # The line of sight: the rotation that turns the optical axis towards the head (a head looking into the lens from
    # there has exactly this rotation); the pose against it is its transpose times the pose.
    ray = tvec.reshape(3) + rotation @ ((model[0] + model[1]) / 2)
    ray = ray / np.linalg.norm(ray)
    sight = rotation_from_angles(math.degrees(math.atan2(-ray[0], ray[2])), math.degrees(math.asin(ray[1])), 0.0)
    yaw_cam, pitch_cam, _ = angles_from_rotation(sight.T @ rotation)
    return HeadPose(yaw, pitch, roll, rotation, tvec.reshape(3).copy(), error, iod, yaw_cam, pitch_cam)


def correct_yunet_landmarks(landmarks5, gain: float = YUNET_SIDEWAYS_GAIN) -> np.ndarray:
    """YuNet's five landmarks with the nose tip and the mouth moved sideways, along the eye line, ``gain`` times as far
    from the eyes' midpoint as YuNet put them (the eyes, the mouth's width and everything across the eye line stay).

    YuNet pulls the nose and the mouth towards the middle of a turned face, so their sideways offset, which is what
    carries the yaw, comes out short; the head's up-and-down tilt is left alone (``YUNET_SIDEWAYS_GAIN``)."""
    pts = _check_landmarks(landmarks5).copy()
    if not (isinstance(gain, numbers.Real) and math.isfinite(gain) and gain > 0):
        raise ValueError(f"gain must be a positive finite number. Received: gain={gain!r}")
    gain = float(gain)
    mid = (pts[0] + pts[1]) / 2
    along = (pts[1] - pts[0]) / np.linalg.norm(pts[1] - pts[0])
    pts[2] += (gain - 1.0) * float(np.dot(pts[2] - mid, along)) * along
    pts[3:5] += (gain - 1.0) * float(np.dot((pts[3] + pts[4]) / 2 - mid, along)) * along
    return pts


def pose_from_detection(detection, image_size: Sequence[int], focal_length: float | None = None,
                        sideways_gain: float = YUNET_SIDEWAYS_GAIN) -> HeadPose | None:
    """The head pose of a face found by YuNet (a ``fer_core.detection.Detection``, or anything with its five
    ``landmarks``); None for a detection without landmarks (Haar's).

    YuNet's landmarks are corrected first (``correct_yunet_landmarks`` with ``sideways_gain``, default
    ``YUNET_SIDEWAYS_GAIN``): YuNet places the nose and the mouth nearer the middle of a turned face than they are,
    which reads its yaw short. ``sideways_gain=1`` keeps them as YuNet gives them. Landmarks from elsewhere (annotated,
    another detector) go to ``estimate_head_pose`` as they are."""
    landmarks = getattr(detection, "landmarks", None)
    if landmarks is None:
        return None
    if sideways_gain != 1.0:
        landmarks = correct_yunet_landmarks(landmarks, sideways_gain)
    return estimate_head_pose(landmarks, image_size, focal_length)


def facing_screen(pose: HeadPose | None, max_yaw: float = MAX_YAW_DEG, max_pitch: float = MAX_PITCH_DEG) -> bool:
    """Whether a head is turned towards the screen: ``|yaw| <= max_yaw`` and ``|pitch| <= max_pitch`` (degrees;
    defaults 30 and 25, reasons at ``MAX_YAW_DEG``), measured against the line of sight to the camera
    (``yaw_to_camera_deg``, ``pitch_to_camera_deg``). No pose (no face) is not facing the screen."""
    if pose is None:
        return False
    if not (max_yaw >= 0 and max_pitch >= 0):
        raise ValueError(f"max_yaw and max_pitch must be >= 0 degrees. Received: max_yaw={max_yaw}, "
                         f"max_pitch={max_pitch}")
    return abs(pose.yaw_to_camera_deg) <= max_yaw and abs(pose.pitch_to_camera_deg) <= max_pitch


def _check_size(image_size) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in image_size)
        good = width > 0 and height > 0 and all(float(v) == int(v) for v in image_size)
    except (TypeError, ValueError):
        good = False
    if not good:
        raise ValueError(f"image_size must be (width, height) in pixels, two positive integers. "
                         f"Received: image_size={image_size!r}")
    return width, height


def _check_landmarks(landmarks5) -> np.ndarray:
    try:
        pts = np.asarray(landmarks5, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"landmarks5 must be five (x, y) points, shape (5, 2). "
                         f"Received: {type(landmarks5).__name__}") from None
    if pts.shape != (5, 2):
        raise ValueError(f"landmarks5 must be five (x, y) points, shape (5, 2). Received: shape={pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise ValueError(f"landmarks5 must be finite (no NaN or inf). Received: landmarks5={pts.tolist()}")
    if np.linalg.norm(pts[1] - pts[0]) < 1.0:
        raise ValueError(f"The two eye landmarks coincide (less than 1 px apart). Received: eyes={pts[:2].tolist()}")
    return pts


# --- synthetic turned faces (tests, benchmarks, fake cameras) ---------------------------------------------------------
HEAD_CENTRE_MM = (0.0, 10.0, 95.0)  # the point the head turns about: between the ears, behind the eyes
# The synthetic face's profile without the nose (mm in front of the eye centres, at mm below the eye line) and how far
# it falls back across the face's width (an arch of the jaw and lips, on a round head): shaped by hand after the
# MediaPipe canonical face of FACE_MODEL_MM (its forehead, brow, cheeks, upper lip, chin; the sides at eye and mouth
# level). Only the five landmarks' depths are exact (solved in face_depth_mm); the rest is a plausible head.
_PROFILE_Y = (-130.0, -110.0, -70.0, -40.0, -20.0, 0.0, 40.0, 55.0, 66.0, 80.0, 98.0, 120.0, 140.0)
_PROFILE_H = (-70.0, -45.0, -5.0, 8.0, 13.0, 14.0, 20.0, 23.0, 17.0, 17.0, 15.0, 2.0, -20.0)
_ARCH_Y = (0.0, 70.0, 98.0, 120.0)
_ARCH_H = (5.4, 15.9, 12.0, 10.0)


def _smooth_profile(knots_y, knots_h, sigma_mm: float = 6.0) -> tuple[np.ndarray, np.ndarray]:
    """The knots, linearly interpolated every mm and smoothed (no creases in the surface or its shading)."""
    dense = np.arange(-200.0, 201.0)
    values = np.interp(dense, knots_y, knots_h)
    k = np.exp(-np.arange(-3 * sigma_mm, 3 * sigma_mm + 1) ** 2 / (2 * sigma_mm ** 2))
    padded = np.pad(values, len(k) // 2, mode="edge")
    return dense, np.convolve(padded, k / k.sum(), mode="valid")


_DENSE_Y, _PROFILE = _smooth_profile(_PROFILE_Y, _PROFILE_H)
_ARCH = _smooth_profile(_ARCH_Y, _ARCH_H)[1]


def face_depth_mm(x: np.ndarray, y: np.ndarray, landmarks_mm: np.ndarray, nose_scale: float = 1.0) -> np.ndarray:
    """How far a point of the synthetic head surface stands out towards the camera (mm) at face coordinates ``x``,
    ``y`` (mm, origin between the eyes, y down): a face profile (``_PROFILE_*``) falling back across the width (a
    jaw-and-lips arch on a round head), eye sockets and a nose ridge placed at the photo's own landmarks
    (``landmarks_mm``, (5, 2)); the sockets' depth and the nose's height are solved so that the five landmarks stand
    at ``FACE_MODEL_MM``'s depths (the nose tip's times ``nose_scale``)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    lm = np.asarray(landmarks_mm, dtype=np.float64)

    def base(xx, yy):
        head = 95.0 * (1.0 - np.sqrt(np.clip(1.0 - (xx / 92.0) ** 2, 0.0, 1.0)))  # a head ~18 cm wide
        arch = np.interp(yy, _DENSE_Y, _ARCH) * (1.0 - np.exp(-xx ** 2 / (2 * 22.0 ** 2)))
        return np.interp(yy, _DENSE_Y, _PROFILE) - arch - head

    def socket(xx, yy):
        return -sum(np.exp(-((xx - ex) ** 2 + (yy - ey) ** 2) / (2 * 12.0 ** 2)) for ex, ey in lm[:2])

    def ridge(xx, yy):  # 1 at the nose tip, 0.37 at the nasion (between the eyes, 5 mm up), falling fast below the tip
        top = np.array([(lm[0, 0] + lm[1, 0]) / 2, (lm[0, 1] + lm[1, 1]) / 2 - 5.0])
        axis = lm[2] - top
        length = float(np.linalg.norm(axis))
        axis = axis / length
        along = ((xx - top[0]) * axis[0] + (yy - top[1]) * axis[1]) / length
        across = (xx - top[0]) * axis[1] - (yy - top[1]) * axis[0]
        t = np.clip(along, 0.0, 1.0)
        height = np.where(along <= 1.0, 0.37 + 0.63 * t, np.exp(-((along - 1.0) * length) ** 2 / (2 * 5.0 ** 2)))
        height = np.where(along < 0.0, 0.37 * np.exp(-(along * length) ** 2 / (2 * 6.0 ** 2)), height)
        return height * np.exp(-across ** 2 / (2 * (6.0 + 4.6 * t) ** 2))

    eye_z, nose_z, mouth_z = -FACE_MODEL_MM[0, 2], -FACE_MODEL_MM[2, 2], -FACE_MODEL_MM[3, 2]
    b, s, r = base(lm[:, 0], lm[:, 1]), socket(lm[:, 0], lm[:, 1]), ridge(lm[:, 0], lm[:, 1])
    rel = [lambda a: (a[3] + a[4]) / 2 - (a[0] + a[1]) / 2, lambda a: a[2] - (a[0] + a[1]) / 2]
    lhs = np.array([[g(s), g(r)] for g in rel])
    rhs = np.array([mouth_z - eye_z, nose_scale * (nose_z - eye_z)]) - np.array([g(b) for g in rel])
    depth, height = np.linalg.solve(lhs, rhs)
    h = base(x, y) + depth * socket(x, y) + height * ridge(x, y)
    eyes = (base(lm[:2, 0], lm[:2, 1]) + depth * socket(lm[:2, 0], lm[:2, 1]) + height * ridge(lm[:2, 0], lm[:2, 1]))
    return h - eyes.mean() + eye_z


def render_turned_face(image: np.ndarray, landmarks5, yaw_deg: float, pitch_deg: float, roll_deg: float = 0.0,
                       out_size: tuple[int, int] = (640, 480), distance_mm: float = 600.0,
                       focal_length: float | None = None, nose_scale: float = 1.0,
                       background: tuple[int, int, int] = (180, 180, 180)) -> tuple[np.ndarray, dict]:
    """A frontal face photo turned by a known pose: the photo is painted on a 3D head surface (``face_depth_mm``,
    scaled by the eye spacing to ``INTEROCULAR_MM``, eyes levelled), turned by yaw / pitch / roll about
    ``HEAD_CENTRE_MM``, placed ``distance_mm`` from a pinhole camera (focal length ``focal_length``, default the output
    width) and re-rendered into an ``out_size`` = (width, height) image (z-buffered forward mapping, then
    ``cv2.remap`` of the photo) on a plain ``background``.

    ``landmarks5`` are the photo's five landmarks (YuNet's order). Returns the BGR image and a dict with the true
    ``rotation``, the ``landmarks`` where the photo's five landmark pixels land in it (pixels) and ``camera``."""
    src = np.asarray(image)
    if src.ndim != 3 or src.shape[2] != 3:
        raise ValueError(f"render_turned_face needs a BGR (H, W, 3) image. Received: shape={src.shape}")
    lm = _check_landmarks(landmarks5)
    width, height = _check_size(out_size)
    cam = camera_matrix((width, height), focal_length)
    f = cam[0, 0]
    eyes = (lm[0] + lm[1]) / 2
    d = lm[1] - lm[0]
    mm_per_px = INTEROCULAR_MM / float(np.linalg.norm(d))
    c, s = d / np.linalg.norm(d)
    to_face = np.array([[c, s], [-s, c]]) * mm_per_px  # photo pixels (from the eye midpoint) -> face mm, eyes level
    lm_mm = (lm - eyes) @ to_face.T

    # Photo points, dense enough that neighbours land < 0.5 output pixels apart, inside the head's outline.
    step = max(0.25, min(1.0, 0.4 * (distance_mm / f) / mm_per_px))
    corners = np.array([[-95.0, -120.0], [95.0, -120.0], [-95.0, 130.0], [95.0, 130.0]]) @ np.linalg.inv(to_face).T
    lo = np.floor(np.maximum((corners + eyes).min(axis=0), 0)).astype(int)
    hi = np.ceil(np.minimum((corners + eyes).max(axis=0), [src.shape[1] - 1, src.shape[0] - 1])).astype(int)
    u, v = np.meshgrid(np.arange(lo[0], hi[0] + 1e-9, step), np.arange(lo[1], hi[1] + 1e-9, step))
    u, v = u.ravel(), v.ravel()
    xy = (np.stack([u, v], axis=1) - eyes) @ to_face.T
    inside = (xy[:, 0] / 90.0) ** 2 + ((xy[:, 1] - 5.0) / 118.0) ** 2 <= 1.0
    u, v, xy = u[inside], v[inside], xy[inside]

    rotation = rotation_from_angles(yaw_deg, pitch_deg, roll_deg)
    centre = np.array(HEAD_CENTRE_MM)
    shift = centre + np.array([0.0, -10.0, distance_mm])

    def to_camera(points_mm):
        return (points_mm - centre) @ rotation.T + shift

    h = face_depth_mm(xy[:, 0], xy[:, 1], lm_mm, nose_scale)
    pts = to_camera(np.column_stack([xy, -h]))
    # Shading: the photo was lit for a frontal face; a turned surface patch gets the ratio of how squarely it faces
    # the camera now to how squarely it faced it in the photo (Lambert, light from the camera).
    eps = 0.5
    hx = (face_depth_mm(xy[:, 0] + eps, xy[:, 1], lm_mm, nose_scale) - h) / eps
    hy = (face_depth_mm(xy[:, 0], xy[:, 1] + eps, lm_mm, nose_scale) - h) / eps
    normal = np.column_stack([-hx, -hy, -np.ones_like(hx)])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    facing_then = -normal[:, 2]
    facing_now = -np.sum((normal @ rotation.T) * pts, axis=1) / np.linalg.norm(pts, axis=1)
    shade = np.clip(facing_now / np.maximum(facing_then, 0.2), 0.25, 1.3)
    qx = f * pts[:, 0] / pts[:, 2] + cam[0, 2]
    qy = f * pts[:, 1] / pts[:, 2] + cam[1, 2]
    ix, iy = np.rint(qx).astype(np.int64), np.rint(qy).astype(np.int64)
    ok = (ix >= 0) & (ix < width) & (iy >= 0) & (iy < height)
    key = iy[ok] * width + ix[ok]
    order = np.lexsort((pts[ok, 2], key))  # per output pixel, the nearest surface point first
    first = np.ones(len(order), dtype=bool)
    first[1:] = key[order][1:] != key[order][:-1]
    win = order[first]
    map_u = np.zeros(height * width, np.float32)
    map_v = np.zeros(height * width, np.float32)
    hit = np.zeros(height * width, np.float32)
    light = np.ones(height * width, np.float32)
    map_u[key[win]], map_v[key[win]], hit[key[win]] = u[ok][win], v[ok][win], 1.0
    light[key[win]] = shade[ok][win]
    map_u, map_v, hit, light = (a.reshape(height, width) for a in (map_u, map_v, hit, light))
    # Pixels no point landed on inside the silhouette (stretched surface): the mean of their hit neighbours.
    filled = cv2.morphologyEx(hit, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)) > 0
    weight = cv2.blur(hit, (3, 3))
    holes = filled & (hit == 0) & (weight > 0)
    for m in (map_u, map_v, light):
        m[holes] = (cv2.blur(m * hit, (3, 3))[holes] / weight[holes]).astype(np.float32)
    out = cv2.remap(np.ascontiguousarray(src), map_u, map_v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    out = np.clip(out * light[..., None], 0, 255).astype(np.uint8)
    out[~(filled & ((hit > 0) | holes))] = background

    lm_cam = to_camera(np.column_stack([lm_mm, -face_depth_mm(lm_mm[:, 0], lm_mm[:, 1], lm_mm, nose_scale)]))
    lm_img = lm_cam[:, :2] * f / lm_cam[:, 2:3] + cam[:2, 2]
    return out, {"rotation": rotation, "landmarks": lm_img, "camera": cam}
