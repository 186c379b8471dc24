"""A trained model with its label names, taking raw face crops: resizing, channels and test-time augmentation live here.

Test-time augmentation (``tta``) modes: ``"none"`` (also ``False``), ``"flip"`` (also ``True``; the crop and its
mirror image) and ``"crops"`` (flip x 5 shifted views: the centre and the four diagonal shifts by the model's crop
margin, i.e. the four corner crops of a model with a FaceCrop layer; 10 views). The probabilities of the views are
averaged. An ensemble run folder (``"kind": "ensemble"`` in config.json) loads as one model averaging its members,
or with ``"cascade": {"threshold": T}`` as a cascade: its first member alone where that one is sure (top probability
at least T), the average of all members elsewhere, so the others run only on the faces left unsure.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from .. import runs
from ..labels import EMOTIONS
from .preprocessing import INPUT_EQUALIZATIONS, check_image, equalize_crop


class ModelLoadError(RuntimeError):
    """The model file is missing, corrupt or does not match its run's labels."""


TTA_MODES = ("none", "flip", "crops")
_TTA_ALIASES = {False: "none", True: "flip", "none": "none", "off": "none", "false": "none", "": "none",
                "flip": "flip", "true": "flip", "crops": "crops"}


def tta_mode(tta) -> str:
    """``False``/``"none"`` -> ``"none"``, ``True``/``"flip"`` -> ``"flip"``, ``"crops"`` -> ``"crops"``."""
    key = tta.strip().lower() if isinstance(tta, str) else bool(tta) if isinstance(tta, np.bool_) else tta
    if isinstance(key, (bool, str)) and key in _TTA_ALIASES:
        return _TTA_ALIASES[key]
    raise ValueError(f"tta must be a bool or one of {TTA_MODES}. Received: tta={tta!r}")


def _face_crop_sizes(model) -> list[int]:
    """Sizes of the FaceCrop layers in ``model`` and in any nested model (an ensemble's members)."""
    from .layers import FaceCrop

    sizes, stack = [], [model]
    while stack:
        layer = stack.pop()
        if isinstance(layer, FaceCrop):
            sizes.append(int(layer.size))
        stack.extend(getattr(layer, "layers", []) or [])
    return sizes


def crop_shifts(input_shape: tuple[int, ...], crop_sizes: Sequence[int] = ()) -> list[tuple[int, int]]:
    """(dy, dx) of the 5 views of ``"crops"`` TTA: the centre, then the 4 diagonal shifts.

    With a FaceCrop of ``s`` in an ``h x w`` input the model sees the window at ``((h-s)//2 + dy, (w-s)//2 + dx)``;
    the diagonal shifts reach the input's corners (±4 px for 40 of 48), so padding is never seen. Without a crop
    layer the shift is small (``max(1, round(h/24))``, 2 px at 48) and the border is replicated.
    """
    h, w = int(input_shape[0]), int(input_shape[1])
    crops = [c for c in crop_sizes if 0 < c <= min(h, w)]
    if crops:
        s = max(crops)  # the smallest margin: every crop layer still sees only real pixels
        top, left = (h - s) // 2, (w - s) // 2
        ys, xs = (-top, h - s - top), (-left, w - s - left)
    else:
        dy, dx = max(1, round(h / 24)), max(1, round(w / 24))
        ys, xs = (-dy, dy), (-dx, dx)
    return [(0, 0)] + [(y, x) for y in ys for x in xs]


def shift_images(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``out[:, i, j] = x[:, i + dy, j + dx]`` for a batch ``(N, H, W, C)``, the border replicated where that falls
    outside: a centre crop of ``out`` is the window of ``x`` moved by (dy, dx)."""
    if dy == 0 and dx == 0:
        return x
    h, w = x.shape[1], x.shape[2]
    rows = np.clip(np.arange(h) + dy, 0, h - 1)
    cols = np.clip(np.arange(w) + dx, 0, w - 1)
    return x[:, rows][:, :, cols]


def check_outputs(model, labels: Sequence[str]) -> None:
    """``ModelLoadError`` unless ``model`` has one output per label."""
    n_out = int(model.output_shape[-1])
    if n_out != len(labels):
        raise ModelLoadError(f"Model has {n_out} outputs but {len(labels)} labels. Received: labels={list(labels)}")


class KerasForward:
    """A Keras model's inference forward pass, ``float32 batch -> numpy probabilities``, as a ``tf.function`` traced on
    its first call (not at construction: a classifier that runs on ONNX Runtime never needs it). ``eager`` runs the
    model without tracing, for one-off calls such as the ONNX probe check."""

    def __init__(self, model, input_shape: tuple[int, ...]):
        self.model, self.input_shape = model, tuple(input_shape)
        self._traced = None
        self._lock = threading.Lock()

    def eager(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model(x, training=False))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self._traced is None:
            with self._lock:
                if self._traced is None:
                    self._traced = self._trace()
        return self._traced(x).numpy()

    def _trace(self):
        import tensorflow as tf

        model = self.model
        spec = tf.TensorSpec((None, *self.input_shape), tf.float32)

        def call(x):
            return model(x, training=False)

        return tf.function(call, input_signature=[spec], reduce_retracing=True)


class Classifier:
    """Wraps a Keras model: ``predict_proba(faces)`` on uint8 crops of any size returns rows summing to 1."""

    def __init__(self, model, labels: Sequence[str], name: str = "", config: dict | None = None, tta: bool | str = False,
                 onnx_path: str | os.PathLike | None = None, backend: str | None = None):
        check_outputs(model, labels)
        self.model = model
        self.labels: tuple[str, ...] = tuple(labels)
        self.name = name or model.name
        self.config = config or {}
        self.tta: str = tta_mode(tta)  # the default mode of predict_proba: "none", "flip" or "crops"
        # How crops from photos are brought to the training images' intensities (run's inference.equalize).
        self.equalize: str = (self.config.get("inference") or {}).get("equalize") or "none"
        if self.equalize not in INPUT_EQUALIZATIONS:
            raise ModelLoadError(f"inference.equalize must be one of {INPUT_EQUALIZATIONS}. "
                                 f"Received: equalize={self.equalize!r}")
        self.input_shape: tuple[int, int, int] = tuple(int(v) for v in model.input_shape[1:])
        self.crop_sizes: tuple[int, ...] = tuple(_face_crop_sizes(model))
        # The TensorFlow forward pass is traced only when it runs (never, when ONNX Runtime runs the model).
        self._forward = KerasForward(model, self.input_shape)
        # What runs the forward pass: "tensorflow", "onnxruntime" or "onnxruntime-int8" (see onnx_backend).
        self.backend = "tensorflow"
        self._use_onnx(onnx_path, backend)

    def _use_onnx(self, onnx_path, backend: str | None) -> None:
        """Run the forward pass on ONNX Runtime when ``onnx_path`` (or its int8 sibling) exists and matches the Keras
        model, unless the backend choice (``backend`` or ``$FER_BACKEND``) says keras, or (for ``auto``) TensorFlow
        sees a GPU. ``auto`` and ``int8`` then prefer the int8 file, if it was quantized from that very model.onnx
        (its recorded SHA-256) and passes the probe check; ``onnx`` uses the float32 file only."""
        from . import onnx_backend

        choice = onnx_backend.backend_choice(backend)
        if onnx_path is None or choice == "keras":
            return
        if choice == "auto" and onnx_backend.tensorflow_sees_gpu():
            return
        fp32, int8 = Path(onnx_path), onnx_backend.int8_path(onnx_path)
        if not fp32.is_file():  # the int8 file is trusted only as a copy of a model.onnx that matches model.keras
            if choice in ("auto", "int8") and int8.is_file():
                onnx_backend.log.warning("Ignoring %s: no %s beside it to check it against; using model.keras",
                                         int8, fp32.name)
            return
        forward = onnx_backend.onnx_forward(fp32, self._forward.eager, self.input_shape)
        if forward is None:
            return
        self._forward, self.backend = forward, "onnxruntime"
        if choice in ("auto", "int8") and int8.is_file():
            forward = onnx_backend.onnx_forward(int8, self._forward, self.input_shape, onnx_backend.INT8_TOLERANCE,
                                                fp32.name, onnx_backend.file_sha256(fp32))
            if forward is not None:
                self._forward, self.backend = forward, "onnxruntime-int8"

    def average_members(self, members: Sequence["Classifier"]) -> None:
        """Run the forward pass as the mean of ``members``' own forward passes (an ensemble whose members run on
        their own model.onnx / model.int8.onnx); ``backend`` names theirs, joined by "+" when they differ."""
        forwards = [m._forward for m in members]
        self._forward = lambda x: np.mean([f(x) for f in forwards], axis=0)
        kinds = list(dict.fromkeys(m.backend for m in members))
        self.backend = "+".join(kinds)

    def cascade_members(self, members: Sequence["Classifier"], threshold: float) -> None:
        """Run the forward pass as a cascade: the first member on every row, and the mean of all members only on the
        rows where the first member's top probability is under ``threshold`` (0 runs the first member alone, 1 the
        full average on nearly every row). ``cascade_counts`` tallies rows seen and rows sent on to the other members."""
        self.members = tuple(members)
        first, rest = members[0]._forward, [m._forward for m in members[1:]]
        counts = self.cascade_counts = {"rows": 0, "escalated": 0}

        def normalized(out) -> np.ndarray:  # an int8 model's softmax rows sum to 1 only roughly
            out = np.asarray(out, dtype=np.float32)
            return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-12)

        def forward(x: np.ndarray) -> np.ndarray:
            probs = normalized(first(x))
            unsure = np.flatnonzero(probs.max(axis=1) < threshold)
            if len(unsure):
                sub = np.ascontiguousarray(x[unsure])
                probs[unsure] = (probs[unsure] + np.sum([normalized(f(sub)) for f in rest], axis=0)) / len(members)
            counts["rows"] += len(x)
            counts["escalated"] += len(unsure)
            return probs

        self._forward = forward
        self.backend = "+".join(dict.fromkeys(m.backend for m in members))

    @property
    def n_params(self) -> int:
        return int(self.model.count_params())

    def preprocess(self, faces, photo: bool = False) -> np.ndarray:
        """Crops (array ``(N,H,W[,C])`` or a list of arrays) -> float32 ``(N, h, w, c)`` of the model's input size.
        ``photo``: the crops come from photos, not from the model's training data: apply ``self.equalize`` to them
        (at the input size), so they look like the training images did.

        Each crop is validated as ``preprocessing.check_image`` does: ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` BGR or
        ``(H, W, 4)`` BGRA, at least 1x1, of a numeric dtype (bool, integers, floats: NaN reads as 0, infinities
        saturate); anything else raises ``ValueError`` naming the crop."""
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
            try:  # a numeric (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) crop, any dtype made uint8 (NaN as 0)
                face = check_image(face)
            except ValueError as e:
                raise ValueError(f"faces[{i}] is not a face crop (grey or BGR): {e}") from None
            if face.ndim == 3 and c == 1:
                face = cv2.cvtColor(face, cv2.COLOR_BGRA2GRAY if face.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
            elif face.ndim == 2 and c == 3:
                face = cv2.cvtColor(face, cv2.COLOR_GRAY2BGR)
            elif face.ndim == 3 and face.shape[2] == 4:
                face = cv2.cvtColor(face, cv2.COLOR_BGRA2BGR)
            if face.shape[:2] != (h, w):
                interp = cv2.INTER_AREA if face.shape[0] > h else cv2.INTER_LINEAR
                face = cv2.resize(face, (w, h), interpolation=interp)
            if photo and self.equalize == "hist":
                face = equalize_crop(face)
            out[i] = face.reshape(h, w, c)
        return out

    def view_shifts(self, tta: bool | str = "crops") -> list[tuple[int, int, bool]]:
        """The views of a TTA mode as (dy, dx, mirrored): the plain view first, then its mirror image (flip),
        then the 4 shifted views and their mirror images (crops)."""
        mode = tta_mode(tta)
        if mode == "none":
            return [(0, 0, False)]
        shifts = [(0, 0)] if mode == "flip" else crop_shifts(self.input_shape, self.crop_sizes)
        return [(dy, dx, flip) for dy, dx in shifts for flip in (False, True)]

    def predict_views(self, faces, tta: bool | str | None = None, batch_size: int = 256, photo: bool = False
                      ) -> np.ndarray:
        """Probabilities of every TTA view, ``(V, N, len(labels))`` in the order of ``view_shifts(tta)``
        (view 0 is the plain crop); each row sums to 1. Views are batched together, ~``batch_size`` rows a pass."""
        x = self.preprocess(faces, photo=photo)
        views = self.view_shifts(self.tta if tta is None else tta)
        n, v, k = len(x), len(views), len(self.labels)
        out = np.empty((v, n, k), dtype=np.float32)
        step = max(1, batch_size // v)
        for start in range(0, n, step):
            chunk = x[start:start + step]
            stacked = []
            for dy, dx, flip in views:
                view = shift_images(chunk, dy, dx)
                stacked.append(view[:, :, ::-1] if flip else view)
            probs = np.asarray(self._forward(np.ascontiguousarray(np.concatenate(stacked))), dtype=np.float32)
            out[:, start:start + len(chunk)] = probs.reshape(v, len(chunk), k)
        return out / np.maximum(out.sum(axis=2, keepdims=True), 1e-12)

    def predict_proba(self, faces, tta: bool | str | None = None, batch_size: int = 256, photo: bool = False
                      ) -> np.ndarray:
        """Probabilities ``(N, len(labels))`` for raw uint8 crops, rows summing to 1; ``tta`` (default: the
        classifier's own) averages over views: ``"none"``/False, ``"flip"``/True (with the mirrored crop) or
        ``"crops"`` (flip x 5 shifted views). ``photo``: crops cut from photos (see ``preprocess``); dataset rows
        are not. ``ValueError`` for crops ``preprocess`` refuses or an unknown ``tta``."""
        views = self.predict_views(faces, tta, batch_size, photo=photo)
        probs = views.mean(axis=0)
        if len(probs) == 0:
            return probs.astype(np.float32)
        return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)


def load_keras_model(path: Path):
    import keras

    from . import layers  # noqa: F401  (registers FaceCrop, under its saved name, for deserialisation)

    if not path.is_file():
        raise ModelLoadError(f"Model file not found. Received: path={str(path)!r}")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # keras raises many types for a corrupt file
        raise ModelLoadError(f"Could not load the model {path}: it is corrupt or not a Keras model ({type(e).__name__}: {e})") from e


def load_classifier(path: str | os.PathLike | None = None, tta: bool | str | None = None,
                    backend: str | None = None) -> Classifier:
    """Load a run folder (a trained run or an ensemble of runs) or a ``.keras`` file; ``None`` loads the shipped
    default model (``models/default.json``). ``tta`` overrides the run's ``inference.tta`` (bool or mode string).
    ``backend`` (``auto``/``int8``/``onnx``/``keras``; default ``$FER_BACKEND`` or ``auto``) says whether the run's
    ``model.int8.onnx`` or ``model.onnx`` runs the forward pass (``onnx_backend``)."""
    return _load(runs.default_run_dir() if path is None else Path(path), tta, (), backend)


_LOAD_FIELDS = ("run_id", "kind", "labels", "inference", "members")  # config.json fields a load relies on


def _load(p: Path, tta, parents: tuple[Path, ...], backend: str | None = None) -> Classifier:
    config: dict = {}
    config_file = p / runs.CONFIG if p.is_dir() else p.parent / runs.CONFIG
    if p.is_dir() or config_file.is_file():
        try:
            config = runs.read_json(config_file)
        except runs.RunError as e:
            raise ModelLoadError(str(e)) from None
        _, problems = runs.checked_fields(config, {k: runs.CONFIG_FIELDS[k] for k in _LOAD_FIELDS}, str(config_file))
        if problems:
            raise ModelLoadError("; ".join(problems))
    model_file = p / runs.MODEL if p.is_dir() else p
    members: list[Classifier] = []
    cascade = cascade_threshold(config, config_file) if p.is_dir() and runs.is_ensemble(config) else None
    if p.is_dir() and runs.is_ensemble(config):
        # Without an exported model.onnx of its own, an ensemble runs its members' own ONNX files (no copy of weights);
        # a cascade always runs its members one by one.
        member_backend = "keras" if (p / runs.ONNX_MODEL).is_file() and cascade is None else backend
        model, members = _ensemble_model(p, config, parents, member_backend)
        labels = config.get("labels")
    else:
        model = load_keras_model(model_file)
        labels = config.get("labels")
        if labels is None:
            n_out = int(model.output_shape[-1])
            if n_out != len(EMOTIONS):
                raise ModelLoadError(f"{model_file} has {n_out} outputs and no config.json naming its labels.")
            labels = EMOTIONS
    inference_tta = (config.get("inference") or {}).get("tta")
    inference_tta = False if inference_tta is None else inference_tta
    try:
        use_tta = tta_mode(inference_tta if tta is None else tta)
    except ValueError as e:
        raise ModelLoadError(f"{p / runs.CONFIG if p.is_dir() else p}: inference.tta is invalid. {e}") from None
    name = config.get("run_id") or model_file.parent.name if p.is_dir() else model_file.stem
    onnx_path = model_file.with_name(runs.ONNX_MODEL)  # an ensemble's too: export_onnx exports the averaged model
    clf = Classifier(model, labels, name=name, config=config, tta=use_tta, onnx_path=onnx_path, backend=backend)
    if members and "equalize" not in (config.get("inference") or {}) and len({m.equalize for m in members}) == 1:
        clf.equalize = members[0].equalize  # an ensemble written before inference.equalize existed
    if cascade is not None:
        clf.cascade_members(members, cascade)
    elif clf.backend == "tensorflow" and any(m.backend != "tensorflow" for m in members):
        clf.average_members(members)
    return clf


def cascade_threshold(config: dict, where: Path) -> float | None:
    """An ensemble's ``cascade.threshold`` (config.json), a number from 0 to 1, or None when it averages always."""
    cascade = config.get("cascade")
    if cascade is None:
        return None
    threshold = cascade.get("threshold") if isinstance(cascade, dict) else None
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise ModelLoadError(f"{where}: cascade must be {{\"threshold\": a number from 0 to 1}}. Received: "
                             f"cascade={cascade!r}")
    return float(threshold)


def _ensemble_model(ens_dir: Path, config: dict, parents: tuple[Path, ...], backend: str | None):
    """One Keras model averaging the softmax outputs of the ensemble's member runs (loaded from their folders), and
    the members as classifiers, each on ``backend``."""
    import keras

    key = ens_dir.resolve()
    if key in parents:
        raise ModelLoadError(f"Ensemble {ens_dir} contains itself. Received: chain={[str(q) for q in (*parents, key)]}")
    try:
        member_dirs = runs.ensemble_members(ens_dir, config)
    except runs.RunError as e:
        raise ModelLoadError(str(e)) from None
    members: list[tuple[str, Classifier]] = []
    for ref, d in zip(config["members"], member_dirs):
        if d.is_dir() and d.resolve() in (*parents, key):
            raise ModelLoadError(f"Ensemble {ens_dir.name} contains itself through member {ref!r}. "
                                 f"Received: members={list(config['members'])}")
        try:
            member_config = runs.read_json(d / runs.CONFIG) if (d / runs.CONFIG).is_file() else {}
        except runs.RunError as e:
            raise ModelLoadError(f"Ensemble {ens_dir.name}: member {ref!r}: {e}") from None
        # a nested ensemble has no model file: _load checks its members (and cycles) in turn
        if not d.is_dir() or not (runs.is_ensemble(member_config) or (d / runs.MODEL).is_file()):
            what = "no such folder" if not d.is_dir() else f"no {runs.MODEL} in it"
            raise ModelLoadError(f"Ensemble {ens_dir.name}: member {ref!r} is missing ({what}); expected a run folder "
                                 f"with {runs.MODEL} at {d}. Received: members={list(config['members'])}")
        if member_config.get("kind") == "clip":
            raise ModelLoadError(f"Ensemble {ens_dir.name}: member {ref!r} is a clip model; members must classify "
                                 f"single face images. Received: kind='clip'")
        try:
            clf = _load(d, "none", (*parents, key), backend)
        except ModelLoadError as e:
            raise ModelLoadError(f"Ensemble {ens_dir.name}: member {ref!r} could not be loaded: {e}") from None
        members.append((str(ref), clf))
    first_ref, first = members[0]
    for ref, clf in members[1:]:
        if clf.labels != first.labels:
            raise ModelLoadError(f"Ensemble {ens_dir.name}: members must share labels; expected {list(first.labels)} "
                                 f"(as {first_ref!r}). Received: member {ref!r} labels={list(clf.labels)}")
        if clf.input_shape != first.input_shape:
            raise ModelLoadError(f"Ensemble {ens_dir.name}: members must share the input shape; expected "
                                 f"{first.input_shape} (as {first_ref!r}). Received: member {ref!r} "
                                 f"input_shape={clf.input_shape}")
    labels = config.get("labels")
    if labels is not None and tuple(labels) != first.labels:
        raise ModelLoadError(f"Ensemble {ens_dir.name}: config.json labels must be the members' {list(first.labels)}. "
                             f"Received: labels={list(labels)}")
    if labels is None:
        config["labels"] = list(first.labels)
    inp = keras.Input(shape=first.input_shape, name="pixels")
    outputs = []
    for i, (ref, clf) in enumerate(members):
        clf.model.name = f"member{i}_{_safe_name(Path(ref).name)}"  # layer names must be unique in one model
        outputs.append(clf.model(inp))
    out = keras.layers.Average(name="mean_probabilities")(outputs) if len(outputs) > 1 else outputs[0]
    return keras.Model(inp, out, name=_safe_name(ens_dir.name)), [clf for _, clf in members]


def _safe_name(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "model"
