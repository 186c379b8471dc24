"""Builders the tests share (data factories, stand-in models), importable from any test folder as ``factories``:
pytest puts tests/ on sys.path for tests/conftest.py."""
from __future__ import annotations

import gzip
import importlib.util
import io
import os
import struct
import sys
import zlib
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from fer_core import runs
from fer_core.labels import EMOTIONS
from fer_core.training.evaluation import metrics_from_confusion
from fer_core.training.ferplus import FERPLUS_COLUMNS


# ---------------------------------------------------------------- datasets

def make_fer_csv(path: Path, n_per_class: int = 4, usages=("Training", "PublicTest"), seed: int = 0,
                 gz: bool = False) -> Path:
    """A FER2013-format CSV with a learnable pattern per class (a bright band whose row depends on the label)."""
    rng = np.random.default_rng(seed)
    lines = ["emotion,pixels,Usage"]
    for usage in usages:
        for label in range(7):
            for _ in range(n_per_class):
                img = rng.integers(0, 60, (48, 48))
                img[label * 6: label * 6 + 6, :] = 220
                lines.append(f"{label},{' '.join(map(str, img.ravel()))},{usage}")
    text = "\n".join(lines) + "\n"
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def with_test_copies(csv_path: Path, out: Path, k: int = 3, usage: str = "PublicTest") -> Path:
    """``csv_path`` (plain text) plus ``k`` ``usage`` rows that repeat its first ``k`` Training rows pixel for pixel,
    the way FER2013 repeats some Training images among its test rows."""
    lines = csv_path.read_text().splitlines()
    training = [line for line in lines[1:] if line.endswith(",Training")][:k]
    out.write_text("\n".join(lines + [line.rsplit(",", 1)[0] + f",{usage}" for line in training]) + "\n")
    return out


# make_fer_csv writes labels 0..6, 4 per class, per usage; FER+ column of each of our labels:
OURS_TO_COLUMN = {0: "anger", 1: "disgust", 2: "fear", 3: "happiness", 4: "sadness", 5: "surprise", 6: "neutral"}


def write_votes(path, labels, usages, shuffle_seed=None):
    rows = [f"Usage,Image name,{','.join(FERPLUS_COLUMNS)}"]
    order = np.arange(len(labels))
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(len(labels))
    for i, j in enumerate(order):
        v = dict.fromkeys(FERPLUS_COLUMNS, 0)
        v[OURS_TO_COLUMN[labels[j]]] = 7
        v["contempt"] = 2
        v["unknown"] = 1
        rows.append(f"{usages[i]},fer{i:07d}.png," + ",".join(str(v[c]) for c in FERPLUS_COLUMNS))
    path.write_text("\n".join(rows) + "\n")
    return path


# ---------------------------------------------------------------- run folders

def interrupt_at(epoch: int):
    """An ``on_epoch`` callback for ``train`` that stops the run (KeyboardInterrupt) once ``epoch`` is done."""
    def callback(row: dict) -> None:
        if row["epoch"] == epoch:
            raise KeyboardInterrupt

    return callback


LABELS = ["angry", "happy", "sad"]
CM = np.array([[8, 1, 1], [0, 9, 1], [3, 0, 7]])


def make_run(root: Path, name: str, kind: str = "complete", epochs: int = 3) -> Path:
    """A generated run folder. kind: complete, training (state + checkpoint, no metrics), starting (config only),
    corrupt (metrics.json not JSON), no_history (complete but history.csv missing)."""
    d = root / name
    d.mkdir(parents=True)
    config = {"run_id": name, "architecture": "fer_vgg", "labels": LABELS, "n_params": 12345,
              "dataset": {"path": "../shared/data/fer2013/fer2013.csv.gz"}, "device": "CPU: test (2 cores)",
              "epochs_planned": 10, "epochs_done": 0 if kind == "starting" else epochs}
    if kind != "starting":
        for e in range(1, epochs + 1):
            runs.append_history(d, {"epoch": e, "loss": 1.5 / e, "accuracy": 0.4 + 0.1 * e, "val_loss": 1.6 / e,
                                    "val_accuracy": 0.35 + 0.1 * e, "lr": 0.01 / e, "seconds": 30.0})
        config.update(best_val_accuracy=0.35 + 0.1 * epochs, best_epoch=epochs, train_seconds=90.0)
        (d / runs.MODEL).write_bytes(b"not a real model")
    if kind in ("complete", "corrupt", "no_history"):
        config["finished"] = True
        metrics = {"dataset": "fer2013.csv.gz", "split": "PublicTest", "labels": LABELS,
                   **metrics_from_confusion(CM, LABELS)}
        metrics["tta"] = {"method": "flip", **metrics_from_confusion(CM + np.eye(3, dtype=int), LABELS)}
        metrics["unseen"] = {"compared_with": "Training", "copies_left_out": 2,  # two test rows repeat training rows
                             **metrics_from_confusion(CM - np.diag([1, 1, 0]), LABELS)}
        runs.write_json(d / runs.METRICS, metrics)
        runs.write_confusion(d / runs.CONFUSION, LABELS, CM)
    if kind == "training":
        runs.write_json(d / runs.STATE, {"epochs_done": epochs, "best_val_accuracy": 0.6, "best_epoch": epochs})
        (d / runs.CHECKPOINT).write_bytes(b"ckpt")
    if kind == "corrupt":
        (d / runs.METRICS).write_text("{not json")
    if kind == "no_history":
        (d / runs.HISTORY).unlink()
    runs.write_json(d / runs.CONFIG, config)
    return d


# ---------------------------------------------------------------- images and video

def png_with_declared_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb that is cheap to make)."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = data[16:29]
    ihdr[0:8] = struct.pack(">II", width, height)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)))
    return bytes(data)


FPS = 10


class FakeClassifier:
    """'happy' for every face, without TensorFlow."""

    name = "fake"

    def __init__(self, labels=EMOTIONS, label="happy"):
        self.labels = tuple(labels)
        self.label = label

    def predict_proba(self, faces, tta=None, photo=False):
        out = np.full((len(faces), len(self.labels)), 0.02, np.float32)
        out[:, self.labels.index(self.label)] = 1.0
        return out / out.sum(axis=1, keepdims=True)


class UniformClassifier:
    """Every emotion equally likely for every face, without TensorFlow (a run named fake_run on ONNX Runtime)."""

    labels = EMOTIONS
    name = "fake_run"
    backend = "onnxruntime"

    def predict_proba(self, faces, tta=None, photo=False):
        return np.full((len(faces), len(EMOTIONS)), 1 / len(EMOTIONS), np.float32)


class FakeClipClassifier:
    """A clip model stand-in: 3-frame windows of 48x48 crops, always 'surprise'; records what it was given."""

    labels = ("happy", "surprise")
    input_shape = (3, 48, 48, 1)

    def __init__(self):
        self.batches = []

    def predict_proba(self, clips):
        self.batches.append(np.asarray(clips))
        return np.tile(np.array([[0.1, 0.9]], np.float32), (len(clips), 1))


def face_frames(n_moving: int = 15, n_still: int = 15, size=(320, 480), step: float = 10) -> list[np.ndarray]:
    """The astronaut's head pasted on a grey canvas: it slides right ``step`` px a frame for ``n_moving`` frames, then
    stays still."""
    from skimage import data

    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    patch = astronaut[10:230, 120:330]  # the face (Haar finds it at about x=174, y=66, 98x97 in the full image)
    frames = []
    for i in range(n_moving + n_still):
        canvas = np.full((*size, 3), 128, np.uint8)
        x = 20 + int(step * min(i, n_moving))
        canvas[50:50 + patch.shape[0], x:x + patch.shape[1]] = patch
        frames.append(canvas)
    return frames


def encode(frames: list[np.ndarray], fps: int = FPS, codec: str = "libx264", fmt: str = "mp4") -> bytes:
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt) as out:
        stream = out.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def audio_only() -> bytes:
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("aac", rate=16000)
        samples = (np.sin(np.arange(16000) / 10) * 0.3).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


# ---------------------------------------------------------------- clocks

CLASS_T0 = 1_700_000_000  # a lesson's start in the class tests (2023-11-14T22:13:20 UTC)


class Clock:
    """A settable clock (``clock.t``) to hand to code that takes one."""

    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


# ---------------------------------------------------------------- PostgreSQL

POSTGRES_ENV = "FER_TEST_POSTGRES_URL"


def postgres_url_or_skip() -> str:
    """The test PostgreSQL server's URL with empty class tables, or a skip saying why there is none (the class-store
    tests and the two-server browser test share it)."""
    import sqlalchemy as sa

    from fer_core.classroom.store import metadata

    url = os.environ.get(POSTGRES_ENV, "").strip()
    if not url:
        pytest.skip(f"PostgreSQL class-store tests: ${POSTGRES_ENV} is not set (.ci/run starts a server and sets it; "
                    f"by hand: eval \"$(scripts/ci_postgres.sh start /tmp/fer-pg)\")")
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.begin() as conn:
            metadata.drop_all(conn)  # every test starts from empty tables
        engine.dispose()
    except ModuleNotFoundError as e:
        pytest.skip(f"PostgreSQL class-store tests: no driver ({e}); pip install 'psycopg[binary]'")
    except sa.exc.DBAPIError as e:
        pytest.skip(f"PostgreSQL class-store tests: the server at ${POSTGRES_ENV} does not answer: "
                    f"{str(getattr(e, 'orig', e)).strip()[:200]}")
    return url


# ---------------------------------------------------------------- benchmarks
def load_bench(name: str):
    """A script of benchmarks/ imported as a module (with benchmarks/ on the path for its own imports)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module
