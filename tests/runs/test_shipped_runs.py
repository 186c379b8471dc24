"""Every run shipped in models/runs/ still loads and predicts, through the moves of the code it was saved with.

Their ``model.keras`` files name the crop layer ``fer_core>FaceCrop`` and record the module it was defined in then,
``fer_core.augmentation``, which no longer exists: Keras must find the layer by its registered name
(``fer_core.inference.layers``)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fer_core import runs
from fer_core.inference.classifier import load_classifier
from fer_core.live.clips import load_clip_classifier

SHIPPED = sorted(p for p in runs.RUNS_DIR.iterdir() if (p / runs.CONFIG).is_file())


def test_there_are_shipped_runs():
    assert len(SHIPPED) >= 10 and runs.default_run_dir() in SHIPPED


@pytest.mark.parametrize("run_dir", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_run_loads_and_predicts(run_dir):
    config = json.loads((run_dir / runs.CONFIG).read_text())
    if config.get("kind") == "clip":
        clf = load_clip_classifier(run_dir)
        frames, h, w, _ = clf.input_shape
        probs = clf.predict_proba(np.random.default_rng(0).integers(0, 256, (3, frames, h, w), dtype=np.uint8))
    else:
        clf = load_classifier(run_dir, backend="keras")  # the Keras model itself, not an ONNX copy of it
        assert clf.backend == "tensorflow"
        if config.get("architecture") in ("fer_vgg", "fer_vgg_wide"):
            assert clf.crop_sizes == (40,)  # FaceCrop came back from the saved model
        probs = clf.predict_proba(np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8))
    assert probs.shape == (3, len(config["labels"]))
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4) and np.isfinite(probs).all()
