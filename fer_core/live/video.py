"""Recorded-video analysis: decode in memory with PyAV, track and classify faces, per-face timeline, annotated copy.

Every ``every``-th decoded frame goes through the Webcam page's per-frame pipeline (``fer_core.live.processor.LiveProcessor``:
detection every ``detect_every``-th analysed frame, tracking with stable ids, EMA smoothing, the engagement index),
clocked by the video's own timestamps, so the per-second timeline and summary mean the same as on the Webcam page.
Frames in between are copied to the annotated video with the latest boxes. When a clip model is given, each face's
last ``T`` analysed crops form a sliding window that the clip model classifies every ``clip_every`` analysed frames.

Nothing touches the disk: the upload is decoded from memory and the annotated video is encoded into memory
(H.264 mp4 when PyAV's FFmpeg has libx264, else VP9/VP8 webm: all play in browsers).

Limits (environment variables, read when this module is imported):
  FER_VIDEO_MAX_MB        largest accepted file, in MB (default 200)
  FER_VIDEO_MAX_SECONDS   longest accepted video, in seconds (default 600); a video whose duration is unknown is
                          analysed up to this point and marked truncated
  FER_VIDEO_MAX_SIDE      frames with a longer side are downscaled to it before analysis and in the output (default 720)
"""
from __future__ import annotations

import io
import json
import os
import time
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import cv2
import numpy as np
import pandas as pd

from .. import json_safe
from ..inference.detection import DEFAULT_DETECTOR
from .engagement import FORMULA, EngagementRecorder
from .processor import LiveProcessor, LiveSettings, crop_face, draw_faces

MAX_MB = float(os.environ.get("FER_VIDEO_MAX_MB", "200"))
MAX_SECONDS = float(os.environ.get("FER_VIDEO_MAX_SECONDS", "600"))
MAX_SIDE = int(os.environ.get("FER_VIDEO_MAX_SIDE", "720"))
VIDEO_TYPES = ("mp4", "webm", "avi", "mov")
# Output codecs in order of preference: (encoder, container, mime type); the first that PyAV's FFmpeg has wins.
OUTPUT_CODECS = (("libx264", "mp4", "video/mp4"), ("libopenh264", "mp4", "video/mp4"),
                 ("libvpx-vp9", "webm", "video/webm"), ("libvpx", "webm", "video/webm"))


class VideoError(ValueError):
    """The upload is not a usable video (undecodable, audio only, too large or too long); the message says why."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about the video stream (``duration``/``frames`` None when it does not say)."""

    width: int
    height: int
    fps: float
    duration: float | None
    frames: int | None
    codec: str
    container: str
    size_bytes: int

    def describe(self) -> str:
        length = f"{self.duration:.1f} s" if self.duration else "unknown length"
        return (f"{self.width}×{self.height}, {self.fps:.3g} fps, {length}, {self.codec} in "
                f"{'/'.join(self.container.split(',')[:2])}, "
                + (f"{self.size_bytes / 1e6:.1f} MB" if self.size_bytes >= 100_000 else f"{self.size_bytes / 1e3:.0f} kB"))


@dataclass(frozen=True)
class VideoSettings:
    """How a video is analysed (what the page's sidebar controls, plus the limits)."""

    every: int = 1  # analyse every k-th decoded frame
    sensitivity: float = 0.5
    smoothing: float = 0.6
    detect_every: int = 1  # face detection every k-th analysed frame, boxes carried in between (1: not real time)
    clip_every: int = 3  # clip model: classify each face's window every k-th analysed frame
    annotate: bool = True  # write the annotated video
    max_mb: float = field(default_factory=lambda: MAX_MB)  # module constants, read when settings are made
    max_seconds: float = field(default_factory=lambda: MAX_SECONDS)
    max_side: int = field(default_factory=lambda: MAX_SIDE)
    detector: str = DEFAULT_DETECTOR  # "haar" or "yunet"

    def __post_init__(self):
        for name in ("every", "detect_every", "clip_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1. Received: {name}={getattr(self, name)}")
        if self.max_mb <= 0 or self.max_seconds <= 0 or self.max_side < 64:
            raise ValueError(f"Limits must be positive (max_side >= 64). Received: max_mb={self.max_mb}, "
                             f"max_seconds={self.max_seconds}, max_side={self.max_side}")

    def live_settings(self) -> LiveSettings:
        return LiveSettings(sensitivity=self.sensitivity, smoothing=self.smoothing, detect_every=self.detect_every,
                            mirror=False, tta=None,  # not real time: the model's own test-time augmentation
                            detector=self.detector, max_frame_side=self.max_side,  # frames already fit max_side
                            detect_width=480)  # not real time: the search that webcams used before issue 24


def _open(data: bytes):
    import av

    try:
        return av.open(io.BytesIO(data), mode="r")
    except (av.error.FFmpegError, ValueError, OSError) as e:
        raise VideoError(f"Could not read the file as a video. Expected {', '.join(VIDEO_TYPES)}. "
                         f"Received: {len(data)} bytes that FFmpeg cannot open ({getattr(e, 'strerror', None) or e})"
                         ) from None


def probe(data: bytes, settings: VideoSettings | None = None) -> VideoInfo:
    """Check an upload against the limits and read its video stream's properties; raises VideoError."""
    settings = settings or VideoSettings()
    if not data:
        raise VideoError("The file is empty. Received: 0 bytes")
    if len(data) > settings.max_mb * 1e6:
        raise VideoError(f"The file is too large: the limit is {settings.max_mb:g} MB (FER_VIDEO_MAX_MB). "
                         f"Received: {len(data) / 1e6:.1f} MB")
    container = _open(data)
    try:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["no streams"]
            raise VideoError(f"The file has no video stream, so there is nothing to analyse. Received: {', '.join(kinds)}")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        duration = None
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        frames = int(stream.frames) if stream.frames else (int(round(duration * fps)) if duration and fps else None)
        width, height = stream.codec_context.width, stream.codec_context.height
        if not width or not height:
            raise VideoError(f"The video stream has no frame size, so it cannot be decoded. Received: {width}x{height}")
        if duration and duration > settings.max_seconds:
            raise VideoError(f"The video is too long: the limit is {settings.max_seconds:g} s (FER_VIDEO_MAX_SECONDS). "
                             f"Received: {duration:.1f} s")
        return VideoInfo(int(width), int(height), fps if fps > 0 else 25.0, duration, frames,
                         stream.codec_context.name, container.format.name, len(data))
    finally:
        container.close()


def upright(image: np.ndarray, rotation: float) -> np.ndarray:
    """The frame as it should be displayed: phone videos carry a rotation (PyAV's ``frame.rotation``, degrees
    counter-clockwise of the display matrix) that players apply; FFmpeg's rule is to turn the frame clockwise by
    ``-rotation``."""
    turn = int(round(-float(rotation or 0))) % 360
    if turn == 90:
        return cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if turn == 180:
        return cv2.rotate(image, cv2.ROTATE_180)
    if turn == 270:
        return cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return image


def output_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) scaled so the longer side is at most ``max_side``, both even (H.264's 4:2:0 needs it)."""
    scale = min(1.0, max_side / max(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def output_codec() -> tuple[str, str, str]:
    """(encoder, container format, mime type) for the annotated video: the first of OUTPUT_CODECS PyAV can encode."""
    import av

    for codec, fmt, mime in OUTPUT_CODECS:
        try:
            av.codec.Codec(codec, "w")
        except (av.error.FFmpegError, ValueError, KeyError):
            continue
        return codec, fmt, mime
    raise VideoError(f"PyAV's FFmpeg has none of the browser-playable encoders {[c for c, _, _ in OUTPUT_CODECS]}.")


class _Encoder:
    """Encodes BGR frames into an in-memory video file."""

    def __init__(self, width: int, height: int, fps: float):
        import av

        self.codec, self.format, self.mime = output_codec()
        self._buf = io.BytesIO()
        self._out = av.open(self._buf, mode="w", format=self.format)
        self._stream = self._out.add_stream(self.codec, rate=Fraction(fps).limit_denominator(1001))
        self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, "yuv420p"
        if self.codec == "libx264":
            self._stream.options = {"crf": "23", "preset": "veryfast"}
        elif self.codec.startswith("libvpx"):
            self._stream.options = {"deadline": "realtime", "cpu-used": "8", "b": "0", "crf": "32"}
        self.frames = 0
        self._closed = False

    def write(self, bgr: np.ndarray) -> None:
        import av

        frame = av.VideoFrame.from_ndarray(bgr, format="bgr24")
        frame.pts = self.frames
        for packet in self._stream.encode(frame):
            self._out.mux(packet)
        self.frames += 1

    def close(self) -> bytes:
        if not self._closed:
            self._closed = True
            for packet in self._stream.encode(None):
                self._out.mux(packet)
            self._out.close()
        return self._buf.getvalue()


@dataclass
class VideoResult:
    """Everything one analysis produced; the per-second timeline and summary come from the engagement recorder."""

    info: VideoInfo
    labels: tuple[str, ...]
    recorder: EngagementRecorder
    frames: list[dict]  # one row per analysed frame and tracked face
    clip_labels: tuple[str, ...] = ()
    clips: list[dict] = field(default_factory=list)  # one row per classified window
    frames_decoded: int = 0
    frames_analysed: int = 0
    video: bytes | None = None
    video_mime: str = ""
    video_codec: str = ""
    stopped: bool = False
    truncated: bool = False
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0  # processing time
    every: int = 1  # every k-th decoded frame was analysed

    @property
    def faces(self) -> list[str]:
        return list(dict.fromkeys(r["face"] for r in self.frames))

    @property
    def video_ext(self) -> str:
        return "webm" if self.video_mime == "video/webm" else "mp4"

    def timeline(self) -> pd.DataFrame:
        """Per second (of video time) and per face: presence, dominant emotion, engagement, mean probabilities."""
        return self.recorder.timeline()

    def frames_table(self) -> pd.DataFrame:
        cols = ["frame", "time", "face", "x", "y", "w", "h", "emotion", "confidence", "eyes", "engagement",
                *[f"p_{k}" for k in self.labels]]
        return pd.DataFrame(self.frames, columns=cols)

    def clips_table(self) -> pd.DataFrame:
        cols = ["frame", "time", "face", "window_start", "clip_emotion", "clip_confidence",
                *[f"clip_p_{k}" for k in self.clip_labels]]
        return pd.DataFrame(self.clips, columns=cols)

    def summary(self) -> dict:
        """The engagement summary per face, with the frame-level and clip-level dominant emotions added."""
        s = self.recorder.summary()
        frames = self.frames_table()
        clips = self.clips_table()
        for name, face in s["faces"].items():
            mine = frames[frames["face"] == name]
            face["frames_analysed"] = int(len(mine))
            face["mean_confidence"] = float(mine["confidence"].mean()) if len(mine) else None
            face["top_emotion"] = mine["emotion"].mode().iat[0] if len(mine) else None
            cm = clips[clips["face"] == name] if len(clips) else clips
            face["clip_windows"] = int(len(cm))
            face["top_clip_emotion"] = cm["clip_emotion"].mode().iat[0] if len(cm) else None
        s.update(video=self.info.describe(), frames_decoded=self.frames_decoded, frames_analysed=self.frames_analysed,
                 analysed_every=self.every, stopped=self.stopped, truncated=self.truncated, warnings=list(self.warnings))
        return s

    def summary_table(self) -> pd.DataFrame:
        """One row per face for display: time present, engagement, emotion shares and the clip model's verdict."""
        table = self.recorder.summary_table()
        if table.empty:
            return table
        s = self.summary()["faces"]
        table.insert(1, "frames analysed", [s[f]["frames_analysed"] for f in table["face"]])
        table.insert(2, "top emotion", [s[f]["top_emotion"] for f in table["face"]])
        if self.clip_labels:
            table.insert(3, "top clip emotion", [s[f]["top_clip_emotion"] for f in table["face"]])
        return table

    def to_csv(self) -> str:
        """The per-second timeline as CSV text (the Webcam page's columns; ``second`` = second of the video)."""
        return self.recorder.to_csv()

    def frames_csv(self) -> str:
        return self.frames_table().to_csv(index=False, float_format="%.4f")

    def to_json(self) -> str:
        """Summary, per-second timeline, per-frame faces and clip-model windows as one JSON document."""
        engagement = json.loads(self.recorder.to_json())
        doc = {"video": {**self.info.__dict__, "frames_decoded": self.frames_decoded,
                         "frames_analysed": self.frames_analysed, "analysed_every": self.every,
                         "stopped": self.stopped, "truncated": self.truncated},
               "labels": list(self.labels), "clip_labels": list(self.clip_labels),
               "index": {**engagement["index"], "formula": FORMULA},
               "summary": self.summary(), "timeline": engagement["timeline"],
               "frames": self.frames, "clips": self.clips}
        return json_safe.dumps(doc)


class VideoAnalysis:
    """One video's analysis; ``run()`` processes it, ``result()`` gives what was processed so far (also after an
    interruption: state is updated frame by frame, so a run cut short still yields a consistent partial result)."""

    def __init__(self, data: bytes, classifier, settings: VideoSettings | None = None, clip_classifier=None,
                 detector_factory=None, eye_detector=None):
        self.settings = settings or VideoSettings()
        self.info = probe(data, self.settings)
        self._data = data
        self._now = 0.0
        self.processor = LiveProcessor(classifier, self.settings.live_settings(), detector_factory=detector_factory,
                                       eye_detector=eye_detector, clock=lambda: self._now, warm_up=False)
        self.labels = tuple(classifier.labels)
        self.clip_classifier = clip_classifier
        self._windows: dict[str, deque] = {}
        self._since_clip: dict[str, int] = {}
        self._clip_now: dict[str, tuple[str, float]] = {}
        self.size: tuple[int, int] | None = None  # (width, height) analysed and written; set by the first frame
        self._encoder: _Encoder | None = None
        self._video: bytes | None = None
        self._frames: list[dict] = []
        self._seen: dict[str, None] = {}  # face names in order of appearance
        self._clips: list[dict] = []
        self.decoded = self.analysed = 0
        self.finished = self.truncated = False
        self._warnings: list[str] = []
        self._t_start: float | None = None
        self._seconds = 0.0

    def run(self, progress: Callable[[float, str], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> VideoResult:
        """Decode and analyse the whole video (or until ``should_stop()``); ``progress(fraction, text)`` after frames."""
        import av

        if self.decoded:
            raise RuntimeError("This VideoAnalysis has already run; create a new one.")
        self._t_start = time.monotonic()
        container = _open(self._data)
        expected = self.info.frames or 0
        t0 = None
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            try:
                for frame in container.decode(stream):
                    t = frame.time if frame.time is not None else self.decoded / self.info.fps
                    t0 = t if t0 is None else t0
                    t = max(t, t0 + self._now)  # never back in time (damaged timestamps), as the recorder requires
                    if t - t0 >= self.settings.max_seconds:
                        self.truncated = True
                        break
                    self._frame(upright(frame.to_ndarray(format="bgr24"), getattr(frame, "rotation", 0)), t - t0)
                    if progress and (self.decoded % 5 == 0 or self.decoded == expected):
                        frac = min(1.0, self.decoded / expected) if expected else 0.0
                        progress(frac, f"Frame {self.decoded}" + (f" of ~{expected}" if expected else "")
                                 + f" · {self.analysed} analysed · faces: {len(self._seen)}")
                    if should_stop and should_stop():
                        break
                else:
                    self.finished = True
            except av.error.FFmpegError as e:
                self._warnings.append(f"Decoding stopped after frame {self.decoded}: the rest of the file is damaged ({e}).")
                self.finished = True
        finally:
            container.close()
            self._close_encoder()
        if self.decoded == 0:
            raise VideoError("No frame of the video could be decoded. Received: a video stream without decodable frames")
        if progress:
            progress(1.0, f"Done: {self.decoded} frames, {self.analysed} analysed")
        return self.result()

    def _close_encoder(self) -> None:
        if self._encoder is not None and self._video is None:
            try:
                self._video = self._encoder.close()
            except Exception as e:  # a failed flush must not lose the analysis
                self._warnings.append(f"The annotated video could not be finished: {e}")
        if self._t_start is not None:
            self._seconds = time.monotonic() - self._t_start

    def _frame(self, bgr: np.ndarray, t: float) -> None:
        if self.size is None:
            self.size = output_size(bgr.shape[1], bgr.shape[0], self.settings.max_side)
            if self.settings.annotate:
                self._encoder = _Encoder(*self.size, self.info.fps)
        if (bgr.shape[1], bgr.shape[0]) != self.size:
            bgr = cv2.resize(bgr, self.size, interpolation=cv2.INTER_AREA)
        index = self.decoded
        if index % self.settings.every == 0:
            self._now = t
            out = self.processor.process(bgr)
            self.analysed += 1
            faces = self.processor.snapshot().faces
            for f in faces:
                self._seen.setdefault(f.name)
                self._frames.append({"frame": index, "time": round(t, 3), "face": f.name, "x": f.box[0], "y": f.box[1],
                                     "w": f.box[2], "h": f.box[3], "emotion": f.emotion,
                                     "confidence": round(f.confidence, 4), "eyes": f.eyes,
                                     "engagement": round(f.engagement, 4),
                                     **{f"p_{k}": round(p, 4) for k, p in zip(self.labels, f.probabilities)}})
            if self.clip_classifier is not None:
                self._classify_windows(bgr, faces, index, t)
        else:
            out = bgr.copy()
            draw_faces(out, self.processor.snapshot().faces)
        if self.clip_classifier is not None:
            self._draw_clip_labels(out, self.processor.snapshot().faces)
        if self._encoder is not None:
            self._encoder.write(out)
        self.decoded += 1

    def _classify_windows(self, bgr: np.ndarray, faces, index: int, t: float) -> None:
        clf = self.clip_classifier
        t_len, h, w, _ = clf.input_shape
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        present = {f.name for f in faces}
        for name in list(self._windows):
            if name not in present:  # a window holds consecutive analysed frames only
                del self._windows[name]
                self._since_clip.pop(name, None)
                self._clip_now.pop(name, None)
        ready = []
        for f in faces:
            crop = cv2.resize(crop_face(gray, f.box), (w, h), interpolation=cv2.INTER_AREA)
            window = self._windows.setdefault(f.name, deque(maxlen=t_len))
            window.append((index, crop))
            self._since_clip[f.name] = self._since_clip.get(f.name, self.settings.clip_every - 1) + 1
            if len(window) == t_len and self._since_clip[f.name] >= self.settings.clip_every:
                ready.append(f.name)
        if not ready:
            return
        probs = clf.predict_proba(np.stack([np.stack([c for _, c in self._windows[n]]) for n in ready]))
        for name, p in zip(ready, probs):
            k = int(np.argmax(p))
            self._since_clip[name] = 0
            self._clip_now[name] = (clf.labels[k], float(p[k]))
            self._clips.append({"frame": index, "time": round(t, 3), "face": name,
                                "window_start": self._windows[name][0][0], "clip_emotion": clf.labels[k],
                                "clip_confidence": round(float(p[k]), 4),
                                **{f"clip_p_{lab}": round(float(v), 4) for lab, v in zip(clf.labels, p)}})

    def _draw_clip_labels(self, frame: np.ndarray, faces) -> None:
        for f in faces:
            if f.name in self._clip_now:
                label, conf = self._clip_now[f.name]
                x, y, w, h = f.box
                org = (int(x), int(min(frame.shape[0] - 4, y + h + 16)))
                cv2.putText(frame, f"clip: {label} {conf:.0%}", org, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
                cv2.putText(frame, f"clip: {label} {conf:.0%}", org, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)

    def result(self) -> VideoResult:
        """What has been processed so far (a stopped or interrupted run gives a partial result)."""
        self._close_encoder()
        res = VideoResult(
            info=self.info, labels=self.labels, recorder=self.processor.recorder, frames=list(self._frames),
            clip_labels=tuple(self.clip_classifier.labels) if self.clip_classifier is not None else (),
            clips=list(self._clips), frames_decoded=self.decoded, frames_analysed=self.analysed, video=self._video,
            video_mime=self._encoder.mime if self._encoder else "", video_codec=self._encoder.codec if self._encoder else "",
            stopped=not self.finished and not self.truncated, truncated=self.truncated, warnings=list(self._warnings),
            seconds=self._seconds, every=self.settings.every)
        return res


def analyze_video(data: bytes, classifier, settings: VideoSettings | None = None, clip_classifier=None,
                  progress: Callable[[float, str], None] | None = None,
                  should_stop: Callable[[], bool] | None = None, **kwargs) -> VideoResult:
    """Analyse a whole video given as bytes; see ``VideoAnalysis``."""
    return VideoAnalysis(data, classifier, settings, clip_classifier, **kwargs).run(progress, should_stop)
