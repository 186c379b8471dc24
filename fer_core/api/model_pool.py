"""Which stored runs the API serves, and their classifiers and face detectors, loaded once per process.

Sharing across request threads is safe: ONNX Runtime's ``InferenceSession.run`` and a TensorFlow ``tf.function``
may be called concurrently, ``Classifier.predict_proba`` keeps no state between calls, and the detectors keep their
OpenCV objects (Haar cascades, YuNet's ``FaceDetectorYN``, which remembers its input size) per thread
(``fer_core.inference.detection``), so one detector object serves every thread.
"""
from __future__ import annotations

import threading
from pathlib import Path

from .. import runs
from ..inference.classifier import Classifier, load_classifier
from ..inference.detection import DEFAULT_DETECTOR, list_detectors, make_detector


class UnknownModelError(LookupError):
    """A requested model id that is not a stored run serving single-face images."""


def serveable_runs(root: Path | None = None) -> list[runs.RunInfo]:
    """Stored runs under ``root`` (default ``models/runs``) that classify face images: a model file (or an ensemble
    whose members all have one) and not a clip model."""
    found = []
    for path in runs.find_runs(*(() if root is None else (root,))):
        info = runs.load_run(path)
        if info.has_model and info.config.get("kind") != "clip":
            found.append(info)
    return found


def describe_run(info: runs.RunInfo) -> dict:
    """The fields of a run that an API client picks a model by (id, labels, input, accuracy on its test split)."""
    c, m = info.config, info.metrics or {}
    tta = m.get("tta") or {}
    return {
        "id": info.run_id,
        "kind": "ensemble" if info.is_ensemble else "trained",
        "architecture": c.get("architecture"),
        "labels": c.get("labels"),
        "input_shape": c.get("input_shape"),
        "n_params": c.get("n_params"),
        "test_split": m.get("split"),
        "accuracy": m.get("accuracy"),
        "accuracy_tta": tta.get("accuracy"),
        "tta": tta.get("method"),
        "finished": c.get("finished"),
    }


class ModelPool:
    """Run ids -> classifiers (each loaded on first use, then shared), plus the face detectors by name and size."""

    def __init__(self, default: str | None = None, root: Path | None = None):
        self.root = Path(root) if root is not None else Path(runs.RUNS_DIR)
        self._default_path = self._resolve_default(default)
        self.default_id = self._default_path.name
        self._classifiers: dict[str, Classifier] = {}
        self._detectors: dict[tuple[str, int | None], object] = {}
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def _resolve_default(self, default: str | None) -> Path:
        if default is None:
            return runs.default_run_dir()
        path = Path(default)
        if not path.is_dir() and (self.root / default).is_dir():
            path = self.root / default
        if not path.is_dir():
            raise UnknownModelError(f"The default model must be a run id under {self.root} or a run folder. "
                                    f"Received: model={default!r}")
        return path.resolve()

    def runs(self) -> list[dict]:
        """Every serveable stored run (the default one too, wherever it lives), described, the default flagged."""
        infos = serveable_runs(self.root)
        if all(i.path.resolve() != self._default_path for i in infos):
            infos.insert(0, runs.load_run(self._default_path))
        return [{**describe_run(i), "default": i.path.resolve() == self._default_path,
                 "loaded": i.run_id in self._classifiers} for i in infos]

    def path_of(self, model_id: str | None) -> Path:
        """The run folder of ``model_id`` (None: the default); only ids listed by ``runs()`` are accepted, so a
        request can never make the server load a file outside the stored runs."""
        if model_id is None or model_id == self.default_id:
            return self._default_path
        for info in serveable_runs(self.root):
            if info.run_id == model_id:
                return info.path
        ids = [r["id"] for r in self.runs()]
        raise UnknownModelError(f"model must be the id of a stored run (GET /models). Received: model={model_id!r}; "
                                f"available: {ids}")

    def loaded(self, model_id: str) -> Classifier | None:
        """The classifier of ``model_id`` if it is loaded already (never loads)."""
        return self._classifiers.get(model_id)

    def classifier(self, model_id: str | None = None) -> tuple[str, Classifier]:
        """``(run id, classifier)``, loading it on first use; concurrent first requests load it once."""
        model_id = model_id or self.default_id
        clf = self._classifiers.get(model_id)
        if clf is not None:
            return model_id, clf
        path = self.path_of(model_id)
        with self._lock:
            gate = self._loading.setdefault(model_id, threading.Lock())
        with gate:
            if model_id not in self._classifiers:
                self._classifiers[model_id] = load_classifier(path)
        return model_id, self._classifiers[model_id]

    def detector(self, name: str | None = None, min_size: int | None = None):
        """The detector ``name`` (default ``DEFAULT_DETECTOR``) for faces of at least ``min_size`` px, built once."""
        name = name or DEFAULT_DETECTOR
        if name not in list_detectors():
            raise ValueError(f"detector must be one of {list_detectors()}. Received: detector={name!r}")
        key = (name, min_size)
        with self._lock:
            if key not in self._detectors:
                self._detectors[key] = make_detector(name, **({} if min_size is None else {"min_size": min_size}))
            return self._detectors[key]
