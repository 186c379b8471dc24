"""A trained model with its label names, taking raw face crops: resizing, channels and flip-TTA live here."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from . import runs
from .labels import EMOTIONS


class ModelLoadError(RuntimeError):
    """The model file is missing, corrupt or does not match its run's labels."""


class Classifier:
    """Wraps a Keras model: ``predict_proba(faces)`` on uint8 crops of any size returns rows summing to 1."""

    def __init__(self, model, labels: Sequence[str], name: str = "", config: dict | None = None, tta: bool = False):
        n_out = int(model.output_shape[-1])
        if n_out != len(labels):
            raise ModelLoadError(f"Model has {n_out} outputs but {len(labels)} labels. Received: labels={list(labels)}")
        self.model = model
        self.labels: tuple[str, ...] = tuple(labels)
        self.name = name or model.name
        self.config = config or {}
        self.tta = tta
        self.input_shape: tuple[int, int, int] = tuple(int(v) for v in model.input_shape[1:])
        import tensorflow as tf

        spec = tf.TensorSpec((None, *self.input_shape), tf.float32)
        self._forward = tf.function(lambda x: model(x, training=False), input_signature=[spec], reduce_retracing=True)

    @property
    def n_params(self) -> int:
        return int(self.model.count_params())

    def preprocess(self, faces) -> np.ndarray:
        """Crops (array ``(N,H,W[,C])`` or a list of arrays) -> float32 ``(N, h, w, c)`` of the model's input size."""
        h, w, c = self.input_shape
        if isinstance(faces, np.ndarray) and faces.ndim in (3, 4):
            items = list(faces) if len(faces) else []
        elif isinstance(faces, (list, tuple)):
            items = list(faces)
        else:
            shape = getattr(faces, "shape", None)
            raise ValueError(f"faces must be an array (N, H, W), (N, H, W, 1) or (N, H, W, 3), or a list of crops. Received: shape={shape}")
        out = np.empty((len(items), h, w, c), dtype=np.float32)
        for i, face in enumerate(items):
            face = np.asarray(face)
            if face.dtype != np.uint8:
                face = _to_uint8(face)
            if face.ndim == 3 and face.shape[2] == 1:
                face = face[:, :, 0]
            if face.ndim == 3 and face.shape[2] in (3, 4) and c == 1:
                face = cv2.cvtColor(face, cv2.COLOR_BGRA2GRAY if face.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
            elif face.ndim == 2 and c == 3:
                face = cv2.cvtColor(face, cv2.COLOR_GRAY2BGR)
            elif face.ndim == 3 and face.shape[2] == 4:
                face = cv2.cvtColor(face, cv2.COLOR_BGRA2BGR)
            if face.ndim not in (2, 3) or min(face.shape[:2]) < 1:
                raise ValueError(f"Each face must be a non-empty 2-D crop (grey or BGR). Received: shape={face.shape}")
            if face.shape[:2] != (h, w):
                interp = cv2.INTER_AREA if face.shape[0] > h else cv2.INTER_LINEAR
                face = cv2.resize(face, (w, h), interpolation=interp)
            out[i] = face.reshape(h, w, c)
        return out

    def predict_proba(self, faces, tta: bool | None = None, batch_size: int = 256) -> np.ndarray:
        """Probabilities ``(N, len(labels))`` for raw uint8 crops; ``tta`` averages with the mirrored crop."""
        x = self.preprocess(faces)
        if len(x) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        use_tta = self.tta if tta is None else tta
        if use_tta:
            x = np.concatenate([x, x[:, :, ::-1]])
        probs = np.concatenate([self._forward(x[i:i + batch_size]).numpy() for i in range(0, len(x), batch_size)])
        if use_tta:
            n = len(probs) // 2
            probs = (probs[:n] + probs[n:]) / 2
        probs = probs.astype(np.float32)
        return probs / probs.sum(axis=1, keepdims=True)


def _to_uint8(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint16:
        return (a >> 8).astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating) and a.size and a.max() <= 1.0:
        a = a * 255.0
    return np.clip(a, 0, 255).astype(np.uint8)


def load_keras_model(path: Path):
    import keras

    from . import augmentation  # noqa: F401  (registers custom layers for deserialisation)

    if not path.is_file():
        raise ModelLoadError(f"Model file not found. Received: path={str(path)!r}")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # keras raises many types for a corrupt file
        raise ModelLoadError(f"Could not load the model {path}: it is corrupt or not a Keras model ({type(e).__name__}: {e})") from e


def load_classifier(path: str | os.PathLike | None = None, tta: bool | None = None) -> Classifier:
    """Load a run folder or ``.keras`` file; ``None`` loads the shipped default model (``models/default.json``)."""
    p = runs.default_run_dir() if path is None else Path(path)
    config: dict = {}
    if p.is_dir():
        try:
            config = runs.read_json(p / runs.CONFIG)
        except runs.RunError as e:
            raise ModelLoadError(str(e)) from None
        model_file = p / runs.MODEL
    else:
        model_file = p
        if (p.parent / runs.CONFIG).is_file():
            config = runs.read_json(p.parent / runs.CONFIG)
    model = load_keras_model(model_file)
    labels = config.get("labels")
    if labels is None:
        n_out = int(model.output_shape[-1])
        if n_out != len(EMOTIONS):
            raise ModelLoadError(f"{model_file} has {n_out} outputs and no config.json naming its labels.")
        labels = EMOTIONS
    use_tta = bool(config.get("inference", {}).get("tta", False)) if tta is None else tta
    name = config.get("run_id") or model_file.parent.name if p.is_dir() else model_file.stem
    return Classifier(model, labels, name=name, config=config, tta=use_tta)
