"""The clip classifier: a trained clip model (input ``(T, H, W, C)``, a short sequence of face crops) with its label
names, as the Video analysis page runs it on each tracked face's latest frames."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from .. import runs
from ..inference.classifier import KerasForward, ModelLoadError, check_outputs, load_keras_model


def resample_frames(n_in: int, n_out: int) -> np.ndarray:
    """Indices of ``n_out`` frames evenly spread over ``n_in`` (always including the last, the expression peak)."""
    if n_in < 1:
        raise ValueError(f"A clip needs at least one frame. Received: frames={n_in}")
    return np.round(np.linspace(0, n_in - 1, n_out)).astype(np.int64) if n_out > 1 else np.array([n_in - 1])


class ClipClassifier:
    """A clip model with its label names: ``predict_proba(clips)`` on uint8 crops ``(N, T, H, W)`` of any size."""

    def __init__(self, model, labels: Sequence[str], name: str = "", config: dict | None = None, tta: bool = False):
        shape = tuple(int(v) if v is not None else None for v in model.input_shape[1:])
        if len(shape) != 4:
            raise ModelLoadError(f"Not a clip model: expected an input (T, H, W, C). Received: input_shape={shape}")
        check_outputs(model, labels)
        self.model = model
        self.labels: tuple[str, ...] = tuple(labels)
        self.name = name or model.name
        self.config = config or {}
        self.tta = tta
        self.input_shape: tuple[int, int, int, int] = shape  # (T, H, W, C)
        self._forward = KerasForward(model, shape)

    @property
    def frames(self) -> int:
        """How many frames one clip holds for this model (longer or shorter clips are resampled to it)."""
        return self.input_shape[0]

    def preprocess(self, clips) -> np.ndarray:
        """Clips (array ``(N,T,H,W[,C])`` or a list of frame lists) -> float32 ``(N, T', h, w, c)`` for the model."""
        t_out, h, w, c = self.input_shape
        if isinstance(clips, np.ndarray):
            if clips.ndim not in (4, 5):
                raise ValueError(f"clips must be an array (N, T, H, W) or (N, T, H, W, C), or a list of frame lists. Received: shape={clips.shape}")
            items = list(clips)
        elif isinstance(clips, (list, tuple)):
            items = list(clips)
        else:
            raise ValueError(f"clips must be an array (N, T, H, W) or a list of frame lists. Received: type={type(clips).__name__}")
        out = np.empty((len(items), t_out, h, w, c), dtype=np.float32)
        for i, clip in enumerate(items):
            frames = list(clip)
            for j, src in enumerate(resample_frames(len(frames), t_out)):
                out[i, j] = _frame_to_input(np.asarray(frames[src]), h, w, c)
        return out

    def predict_proba(self, clips, tta: bool | None = None, batch_size: int = 64) -> np.ndarray:
        """Probabilities ``(N, len(labels))`` for raw uint8 clips; ``tta`` averages with the mirrored clip."""
        x = self.preprocess(clips)
        n = len(x)
        if n == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        use_tta = self.tta if tta is None else tta
        if use_tta:
            x = np.concatenate([x, x[:, :, :, ::-1]])
        probs = np.concatenate([self._forward(x[i:i + batch_size])
                                for i in range(0, len(x), batch_size)]).astype(np.float32)
        if use_tta:
            probs = (probs[:n] + probs[n:]) / 2
        return probs / probs.sum(axis=1, keepdims=True)


def _frame_to_input(face: np.ndarray, h: int, w: int, c: int) -> np.ndarray:
    if face.ndim == 3 and face.shape[2] == 1:
        face = face[:, :, 0]
    if face.ndim not in (2, 3) or min(face.shape[:2]) < 1:
        raise ValueError(f"Each frame must be a non-empty 2-D crop (grey or BGR). Received: shape={face.shape}")
    if face.dtype != np.uint8:
        face = np.clip(face, 0, 255).astype(np.uint8)
    if face.ndim == 3 and c == 1:
        face = cv2.cvtColor(face, cv2.COLOR_BGRA2GRAY if face.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    elif face.ndim == 2 and c == 3:
        face = cv2.cvtColor(face, cv2.COLOR_GRAY2BGR)
    if face.shape[:2] != (h, w):
        face = cv2.resize(face, (w, h), interpolation=cv2.INTER_AREA if face.shape[0] > h else cv2.INTER_LINEAR)
    return face.reshape(h, w, c)


def is_clip_run(run_dir: str | os.PathLike) -> bool:
    """Whether a run folder holds a clip model (its config.json says ``"kind": "clip"``)."""
    try:
        return runs.read_json(Path(run_dir) / runs.CONFIG).get("kind") == "clip"
    except runs.RunError:
        return False


def load_clip_classifier(path: str | os.PathLike) -> ClipClassifier:
    """Load a clip run folder (or its ``.keras`` file); raises ModelLoadError for a missing, corrupt or non-clip model."""
    p = Path(path)
    config_file = p / runs.CONFIG if p.is_dir() else p.parent / runs.CONFIG
    model_file = p / runs.MODEL if p.is_dir() else p
    config: dict = {}
    if config_file.is_file():
        try:
            config = runs.read_json(config_file)
        except runs.RunError as e:
            raise ModelLoadError(str(e)) from None
    elif p.is_dir():
        raise ModelLoadError(f"{runs.CONFIG} is missing in {p}")
    model = load_keras_model(model_file)
    labels = config.get("labels")
    if labels is None:
        raise ModelLoadError(f"{model_file} has no config.json naming its labels.")
    name = config.get("run_id") or (p.name if p.is_dir() else model_file.stem)
    tta = bool(config.get("inference", {}).get("tta", False))
    return ClipClassifier(model, labels, name=name, config=config, tta=tta)
