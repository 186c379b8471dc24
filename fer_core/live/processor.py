"""The per-frame pipeline behind the Webcam page's WebRTC callback: detect, track, classify, smooth, record, draw.

``LiveProcessor.callback`` is the ``video_frame_callback`` for streamlit-webrtc. It runs in the WebRTC worker thread,
never touches Streamlit, and hands its results out through a lock-guarded holder (``snapshot()``) and the thread-safe
``EngagementRecorder`` (``recorder``) that the page polls.

Keeping up with the camera: the page runs streamlit-webrtc with ``async_processing=True``, whose worker thread hands
the callback only the newest frame that arrived while the previous one was being processed; the other frames are
dropped and the last annotated frame is sent in their place, so slow processing never queues frames. Within the
callback, face detection (the costly step) runs only every ``detect_every``-th processed frame, on a downscaled frame;
between detections the tracked boxes are carried over and only the classifier runs.
(What this cannot fix: when the whole server is starved of CPU, aiortc's own receive path, which decodes every
frame, falls behind; ``LiveSnapshot.lag_ms`` shows that delay.)
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import cv2
import numpy as np

from ..inference.analysis import analyze
from ..inference.detection import DEFAULT_DETECTOR, list_detectors
from .engagement import EngagementRecorder, EyeDetector, FaceObservation
from ..inference.boxes import Box, Detection
from ..inference.head_pose import facing_screen, pose_from_detection
from .tracking import FaceTracker


# Live video searches faces on a downscaled frame (the cost grows with the pixels searched). YuNet at a longest side
# of 320 takes ~5 ms on a 640x480 frame against ~18 ms at 640, and finds the faces at least 64 px wide of the
# detection benchmark's photos scaled to 640 px (benchmarks/bench_detection.py --frame-side 640), but misses more of
# the 48-64 px ones and some turned ones; so it searches at WIDE_DETECT_WIDTH while no face is tracked (every
# WIDE_EVERY-th pass), after a pass that missed a tracked face or saw a new one, while a face narrower than
# SMALL_FACE_PX is tracked, and once every DISCOVER_EVERY passes otherwise. Photos (fer_core.inference.analysis) keep their full search.
LIVE_DETECT_WIDTH = {"yunet": 320, "haar": 480}
WIDE_DETECT_WIDTH = 640
WIDE_EVERY = 3
SMALL_FACE_PX = 80
DISCOVER_EVERY = 10  # while faces are tracked, one pass in this many searches wide for new small faces


@dataclass(frozen=True)
class LiveSettings:
    """What the page's sidebar controls (plus a few internals with sensible defaults)."""

    sensitivity: float = 0.5  # face detector: 0 = strict (fewer false faces) .. 1 = finds more, smaller faces
    smoothing: float = 0.6  # EMA strength of the per-track probabilities, in [0, 1)
    detect_every: int = 3  # run the face detector on every k-th processed frame, carry boxes between
    mirror: bool = True  # flip the video horizontally (selfie view) before processing
    detect_width: int | None = None  # face detection searches the frame downscaled to this longest side; None: the
    # detector's live default (LIVE_DETECT_WIDTH: YuNet 320, Haar 480)
    wide_width: int | None = None  # YuNet: the larger search (None: WIDE_DETECT_WIDTH, 640) used while no face is
    # tracked (every WIDE_EVERY-th detection pass) or while a tracked face is narrower than SMALL_FACE_PX
    hold_missed: int = 2  # a face missed by up to this many detection passes stays shown at its last box
    max_missed: int = 10  # a face's track (and its id) expires after this many detection passes without it
    tta: str | None = "none"  # per-frame test-time augmentation (None: the model's own); the EMA over frames already
    # averages, and a flip pass doubles the model's cost per frame
    detector: str = DEFAULT_DETECTOR  # "haar" or "yunet" (fer_core.inference.detection.list_detectors())
    max_frame_side: int = 640  # frames larger than this (longest side) are downscaled on arrival: a browser that
    # ignores the page's constraints, or sends 4K, costs what a 640 px frame costs
    annotate: bool = True  # draw the faces on the frame sent back; False (class mode without a preview, SENDONLY):
    # nothing is drawn and the frame is returned as it came

    def __post_init__(self):
        if not 0.0 <= self.sensitivity <= 1.0:
            raise ValueError(f"sensitivity must be in [0, 1]. Received: sensitivity={self.sensitivity}")
        if not 0.0 <= self.smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1). Received: smoothing={self.smoothing}")
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be at least 1. Received: detect_every={self.detect_every}")
        if not 0 <= self.hold_missed <= self.max_missed:
            raise ValueError(f"Expected 0 <= hold_missed <= max_missed. Received: hold_missed={self.hold_missed}, "
                             f"max_missed={self.max_missed}")
        if self.max_frame_side < 64:
            raise ValueError(f"max_frame_side must be at least 64 pixels. Received: max_frame_side={self.max_frame_side}")
        for name in ("detect_width", "wide_width"):
            value = getattr(self, name)
            if value is not None and value < 64:
                raise ValueError(f"{name} must be at least 64 pixels. Received: {name}={value}")
        if self.detector not in list_detectors():
            raise ValueError(f"Unknown face detector. Expected one of {list_detectors()}. Received: detector={self.detector!r}")

    def detector_params(self) -> dict:
        """``method`` and the detector's settings for this sensitivity (``fer_core.inference.detection.make_detector``).

        Haar: centred on its calibrated defaults (sensitivity 0.5 = 3 neighbours, 48 px faces), fewer required
        neighbours and smaller faces when more sensitive, searched downscaled so a ``min_size`` face spans the
        cascade's window (capped by ``detect_width``), upright only (the turned searches triple the cost). CLAHE,
        because on dim, low-contrast and over-bright versions of the test clip it found the face in every frame where
        global equalisation missed a few. YuNet: score threshold 0.9 (strict) .. 0.5, 0.7 at 0.5 (its default), the
        same minimum face sizes, the frame searched at most ``detect_width`` wide."""
        min_size = int(round(64 - 32 * self.sensitivity))
        width = self.detect_width or LIVE_DETECT_WIDTH[self.detector]
        if self.detector == "yunet":
            return {"method": "yunet", "score_threshold": round(0.9 - 0.4 * self.sensitivity, 3), "min_size": min_size,
                    "max_side": width}
        return {"method": "haar", "scale_factor": 1.15, "min_neighbors": int(round(5 - 4 * self.sensitivity)),
                "min_size": min_size, "max_side": width, "equalize": "clahe", "rotations": ()}

    def wide(self) -> "LiveSettings | None":
        """The settings of the larger search (YuNet only), or None when there is none (Haar, or no larger width)."""
        if self.detector != "yunet":
            return None
        width = self.wide_width or WIDE_DETECT_WIDTH
        return replace(self, detect_width=width) if width > (self.detect_width or LIVE_DETECT_WIDTH[self.detector]) \
            else None


@dataclass(frozen=True)
class FaceStatus:
    """One tracked face in the latest processed frame."""

    name: str
    box: Box
    probabilities: tuple[float, ...]
    emotion: str
    confidence: float
    eyes: int | None  # legacy: eyes found by the Haar eye cascade (only with an ``eye_detector``), else None
    engagement: float  # Sharma et al.'s index (NaN when the gaze term is unknown)
    facing: bool | None = None  # the head faces the screen (head pose from YuNet's landmarks); None: unknown
    yaw: float | None = None  # degrees against the line to the camera (``HeadPose.yaw_to_camera_deg``)


@dataclass(frozen=True)
class LiveSnapshot:
    """What the page shows, as of the latest processed frame (immutable: safe to read from any thread)."""

    labels: tuple[str, ...] = ()
    frames: int = 0  # processed frames since the start (or the last reset)
    faces: tuple[FaceStatus, ...] = ()
    fps: float = 0.0  # processed frames per second over the last few seconds
    processing_ms: float = 0.0  # mean time to process one frame (moving average)
    lag_ms: float | None = None  # how much later than the best case the latest frame reached the callback
    updated: float | None = None  # clock time of the latest processed frame
    error: str = ""  # the last processing error, shown by the page (the video then passes through unprocessed)

    @property
    def main_face(self) -> FaceStatus | None:
        """The largest face (closest to the camera), or None."""
        return max(self.faces, key=lambda f: f.box[2] * f.box[3], default=None)


class LiveProcessor:
    """Holds the tracker, per-track smoothing, the engagement recorder and the latest results of one video stream."""

    def __init__(self, classifier, settings: LiveSettings | None = None, *,
                 detector_factory: Callable[[LiveSettings], Callable[[np.ndarray], Sequence[Box]]] | None = None,
                 eye_detector: EyeDetector | None = None, clock: Callable[[], float] = time.monotonic,
                 warm_up: bool = True):
        self._lock = threading.Lock()
        self._settings = settings or LiveSettings()
        self._classifier = classifier
        self._detector_factory = detector_factory or face_detector
        self._detector = None  # the detector of the latest pass
        self._detector_params: dict | None = None
        self._detectors: dict[int, tuple[dict, Callable]] = {}  # searched width -> (params, detector): narrow, wide
        self._empty_passes = 0  # detection passes in a row without a tracked face
        self._since_wide = 0  # detection passes since the latest wide one
        self._eyes = eye_detector  # legacy gaze input; the head pose (YuNet's landmarks) replaces it
        self._clock = clock
        self._recorder = EngagementRecorder(classifier.labels)
        self._tracker = FaceTracker(smoothing=self._settings.smoothing, max_missed=self._settings.max_missed)
        self._latest = LiveSnapshot(labels=tuple(classifier.labels))
        self._reset_pending = False
        self._frames = 0
        self._since_detection = 0
        self._stamps: deque[float] = deque(maxlen=240)
        self._proc_ms: float | None = None
        self._lag_base: float | None = None
        self._last_stream_time: float | None = None
        self._frame_size: tuple[int, int] | None = None
        if warm_up:
            classifier.predict_proba([np.zeros((48, 48), np.uint8)])  # trace the model before the first frame

    # ----- called from the page's thread -----
    @property
    def settings(self) -> LiveSettings:
        with self._lock:
            return self._settings

    def update_settings(self, **changes) -> LiveSettings:
        """Change settings (validated); the next processed frame uses them."""
        with self._lock:
            self._settings = replace(self._settings, **changes)
            return self._settings

    @property
    def recorder(self) -> EngagementRecorder:
        """The engagement record of this stream (thread-safe; replaced when a model with other labels is set)."""
        with self._lock:
            return self._recorder

    @property
    def classifier(self):
        with self._lock:
            return self._classifier

    def set_classifier(self, classifier) -> None:
        """Swap the model; when its labels differ, the tracks and the engagement record start afresh."""
        classifier.predict_proba([np.zeros((48, 48), np.uint8)])
        with self._lock:
            same = tuple(classifier.labels) == tuple(self._classifier.labels)
            self._classifier = classifier
            if not same:
                self._recorder = EngagementRecorder(classifier.labels)
                self._reset_pending = True
                self._latest = LiveSnapshot(labels=tuple(classifier.labels))

    def reset(self) -> None:
        """Forget the engagement record, the tracks (ids restart at Face 1) and the measurements."""
        with self._lock:
            self._recorder.reset()
            self._reset_pending = True
            self._latest = LiveSnapshot(labels=self._latest.labels)

    def stream_ended(self) -> None:
        """streamlit-webrtc ``on_video_ended``: nothing is live any more (the engagement record is kept)."""
        with self._lock:
            self._latest = replace(self._latest, faces=(), fps=0.0, lag_ms=None)
            self._lag_base = self._last_stream_time = None

    def snapshot(self) -> LiveSnapshot:
        with self._lock:
            return self._latest

    # ----- called from the WebRTC worker thread -----
    def callback(self, frame):
        """streamlit-webrtc ``video_frame_callback``: ``av.VideoFrame`` in, annotated ``av.VideoFrame`` out."""
        import av

        with self._lock:
            settings = self._settings
        size = fit_size(frame.width, frame.height, settings.max_frame_side)
        if size != (frame.width, frame.height):  # too large (4K, or constraints ignored): scaled while converting
            image = frame.to_ndarray(format="bgr24", width=size[0], height=size[1], interpolation="AREA")
        else:
            image = frame.to_ndarray(format="bgr24")
        try:
            out = self.process(image, stream_time=frame.time)
        except Exception as e:  # keep the stream alive; the page shows the error
            with self._lock:
                self._latest = replace(self._latest, error=f"{type(e).__name__}: {e}")
            out = cv2.flip(image, 1) if settings.mirror else image
        if not settings.annotate:  # nothing goes back to look at (SENDONLY): no conversion either
            return frame
        return av.VideoFrame.from_ndarray(out, format="bgr24")

    def process(self, image: np.ndarray, stream_time: float | None = None) -> np.ndarray:
        """Process one BGR frame ``(H, W, 3)`` uint8 and return the annotated frame (a new array)."""
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"Expected a BGR uint8 frame (H, W, 3). Received: "
                             f"shape={getattr(image, 'shape', None)}, dtype={getattr(image, 'dtype', None)}")
        start = self._clock()
        lag = self._lag(start, stream_time)
        with self._lock:
            settings, classifier = self._settings, self._classifier
            recorder, reset = self._recorder, self._reset_pending
            self._reset_pending = False
        if reset:
            self._tracker.reset()
            self._frames, self._since_detection = 0, 0
            self._frame_size = None
            self._stamps.clear()
            self._proc_ms = None
        self._tracker.smoothing = settings.smoothing
        self._tracker.max_missed = settings.max_missed

        size = fit_size(image.shape[1], image.shape[0], settings.max_frame_side)
        if size != (image.shape[1], image.shape[0]):
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        frame = cv2.flip(image, 1) if settings.mirror else image.copy()
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        size = (frame.shape[1], frame.shape[0])
        resized = self._frame_size is not None and size != self._frame_size
        if resized:  # the browser changed the resolution: the same faces, at new coordinates
            self._tracker.rescale(size[0] / self._frame_size[0], size[1] / self._frame_size[1])
        self._frame_size = size
        if resized or self._frames == 0 or self._since_detection + 1 >= settings.detect_every or not self._tracker.present():
            self._detect(frame, gray, settings)
            self._since_detection = 0
        else:
            self._since_detection += 1
        tracks = self._tracker.active(settings.hold_missed)

        faces: list[FaceStatus] = []
        if tracks:
            results = analyze(gray, classifier, boxes=[t.box for t in tracks], tta=settings.tta)
            labels = tuple(classifier.labels)
            observations = []
            for t, r in zip(tracks, results):
                smoothed = self._tracker.smooth(t, r.probabilities)
                eyes, facing = t.extra.get("eyes"), t.extra.get("facing")
                ci = recorder.frame_index(smoothed, eyes, facing=facing)
                k = int(np.argmax(smoothed))
                faces.append(FaceStatus(t.name, t.box, tuple(float(v) for v in smoothed), labels[k], float(smoothed[k]),
                                        eyes, ci, facing, t.extra.get("yaw")))
                observations.append(FaceObservation(t.name, smoothed, eyes=eyes, facing=facing))
            recorder.observe(start, observations)
        else:
            first_sighting = any(not t.confirmed and t.present for t in self._tracker.candidates())
            recorder.observe(start, [], unconfirmed=first_sighting)
        if settings.annotate:
            frame = draw_faces(frame, faces)

        end = self._clock()
        self._frames += 1
        self._stamps.append(end)
        ms = (end - start) * 1000
        self._proc_ms = ms if self._proc_ms is None else 0.9 * self._proc_ms + 0.1 * ms
        with self._lock:
            self._latest = LiveSnapshot(labels=tuple(classifier.labels), frames=self._frames, faces=tuple(faces),
                                        fps=self._fps(end), processing_ms=self._proc_ms, lag_ms=lag, updated=end)
        return frame

    def _search_settings(self, settings: LiveSettings) -> LiveSettings:
        """The narrow live search, or the wide one while no face is tracked (every WIDE_EVERY-th pass, the first
        included) or while a tracked face is small."""
        wide = settings.wide()
        if wide is None:
            return settings
        self._since_wide += 1
        # a face just seen (not yet confirmed), missed by the latest pass, or small: search where it can be found
        doubtful = any(not t.confirmed or t.missed > 0 or t.box[2] < SMALL_FACE_PX for t in self._tracker.candidates())
        if not self._tracker.active(settings.hold_missed):
            self._empty_passes += 1
            use_wide = doubtful or (self._empty_passes - 1) % WIDE_EVERY == 0
        else:
            self._empty_passes = 0
            use_wide = doubtful or self._since_wide >= DISCOVER_EVERY  # now and then, a look for new faces
        if use_wide:
            self._since_wide = 0
        return wide if use_wide else settings

    def _detector_for(self, settings: LiveSettings):
        params = settings.detector_params()
        cached = self._detectors.get(params["max_side"])
        if cached is None or cached[0] != params:
            if cached is None and len(self._detectors) >= 2:  # a settings change: build afresh
                self._detectors.clear()
            cached = self._detectors[params["max_side"]] = (params, self._detector_factory(settings))
        self._detector, self._detector_params = cached[1], params
        return cached[1]

    def _detect(self, frame: np.ndarray, gray: np.ndarray, settings: LiveSettings) -> None:
        detector = self._detector_for(self._search_settings(settings))
        colour = getattr(detector, "color_input", False)  # YuNet was trained on colour
        image = frame if colour else gray
        scored = getattr(detector, "detect_scored", None)  # YuNet: boxes with five landmarks
        detections = scored(image) if callable(scored) else [Detection(tuple(b)) for b in detector(image)]
        boxes = [tuple(int(v) for v in d.box) for d in detections]
        size = (frame.shape[1], frame.shape[0])
        for track, box, det in zip(self._tracker.update(boxes), boxes, detections):
            if track is not None:
                track.extra.update(attention(det, size))
                if self._eyes is not None:
                    track.extra["eyes"] = self._eyes.count(gray, box)

    def _fps(self, now: float, window: float = 3.0) -> float:
        while self._stamps and now - self._stamps[0] > window:
            self._stamps.popleft()
        if len(self._stamps) < 2:
            return 0.0
        return (len(self._stamps) - 1) / max(self._stamps[-1] - self._stamps[0], 1e-6)

    def _lag(self, now: float, stream_time: float | None) -> float | None:
        """Delay of this frame beyond the smallest seen in this stream (queueing + jitter), in ms."""
        if stream_time is None:
            return None
        if self._last_stream_time is not None and stream_time < self._last_stream_time:
            self._lag_base = None  # a new stream started
        self._last_stream_time = stream_time
        offset = now - stream_time
        if self._lag_base is None or offset < self._lag_base:
            self._lag_base = offset
        return (offset - self._lag_base) * 1000


def fit_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """``(width, height)`` scaled down (aspect kept, even numbers for the video codecs) so that the longest side is at
    most ``max_side``; unchanged when it already fits."""
    long_side = max(width, height)
    if long_side <= max_side:
        return int(width), int(height)
    scale = max_side / long_side
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def attention(detection, image_size: tuple[int, int]) -> dict:
    """``facing`` (the head faces the screen, ``head_pose.facing_screen``: |yaw| <= 30, |pitch| <= 25 degrees) and
    ``yaw`` from a detection's five landmarks; both None without landmarks (Haar) or when the fit fails: unknown."""
    try:
        pose = pose_from_detection(detection, image_size)
    except ValueError:
        pose = None
    if pose is None:
        return {"facing": None, "yaw": None}
    return {"facing": facing_screen(pose), "yaw": float(pose.yaw_to_camera_deg)}


def face_detector(settings: LiveSettings) -> Callable[[np.ndarray], Sequence[Box]]:
    """The detector for live video: ``settings.detector`` ("haar" or "yunet") tuned by the sensitivity setting (both
    search a downscaled frame, which is where the speed comes from). A callable object; YuNet's has ``color_input``
    set, so the processor hands it the colour frame."""
    from ..inference.detection import make_detector

    params = settings.detector_params()
    return make_detector(params.pop("method"), **params)



def crop_face(gray: np.ndarray, box: Box) -> np.ndarray:
    """The face crop the live pipeline classifies (``fer_core.inference.preprocessing.crop_face``, the training margin)."""
    from ..inference.preprocessing import crop_face as crop

    return crop(gray, box)


def draw_faces(frame: np.ndarray, faces: Sequence[FaceStatus]) -> np.ndarray:
    """Draw on ``frame`` (in place, and return it) each face boxed and tagged in its emotion's colour
    (``fer_core.inference.annotate``), with its track name in a tag under the box."""
    from ..inference.annotate import draw_faces as draw, emotion_color_bgr

    if not faces:
        return frame
    out = frame
    out[:] = draw(frame, [f.box for f in faces], [f.emotion for f in faces], [f.confidence for f in faces])
    side = max(out.shape[:2])
    scale, thick = max(0.4, side / 1400), max(1, round(side / 800))
    for f in faces:
        x, y, w, h = f.box
        (tw, th), base = cv2.getTextSize(f.name, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        top = min(y + h, out.shape[0] - th - base - 4)
        b, g, r = emotion_color_bgr(f.emotion)
        cv2.rectangle(out, (x, top), (x + tw + 4, top + th + base + 4), (b, g, r), -1)
        ink = (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)
        cv2.putText(out, f.name, (x + 2, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, ink, thick, cv2.LINE_AA)
    return out
