"""load_classifier and predict_proba: raw crops of any size/channels in, probability rows out; the shipped default."""
from __future__ import annotations

import numpy as np
import pytest

import fer_core
from fer_core import EMOTIONS, runs
from fer_core.classifier import ModelLoadError, load_classifier


def test_public_emotions_order():
    assert fer_core.EMOTIONS == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@pytest.mark.parametrize("shape", [(3, 48, 48), (3, 48, 48, 1), (3, 100, 80, 3), (3, 20, 20), (3, 64, 64, 4)])
def test_predict_proba_shapes(tiny_run, shape):
    clf = load_classifier(tiny_run)
    faces = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    p = clf.predict_proba(faces)
    assert p.shape == (3, len(clf.labels)) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert (p >= 0).all()


def test_predict_proba_empty_list_and_tta(tiny_run):
    clf = load_classifier(tiny_run)
    assert clf.predict_proba(np.zeros((0, 48, 48), np.uint8)).shape == (0, 7)
    crops = [np.full((30, 40), 90, np.uint8), np.full((70, 60, 3), 200, np.uint8)]
    assert clf.predict_proba(crops).shape == (2, 7)
    face = np.random.default_rng(1).integers(0, 255, (1, 48, 48), dtype=np.uint8)
    expected = (clf.predict_proba(face, tta=False) + clf.predict_proba(face[:, :, ::-1], tta=False)) / 2
    np.testing.assert_allclose(clf.predict_proba(face, tta=True), expected, atol=1e-5)


def test_load_from_model_file_and_errors(tiny_run, tmp_path):
    clf = load_classifier(tiny_run / runs.MODEL)
    assert clf.labels == EMOTIONS
    with pytest.raises(ModelLoadError, match="not found"):
        load_classifier(tmp_path / "missing.keras")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="corrupt"):
        load_classifier(bad)
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(ModelLoadError, match="config.json is missing"):
        load_classifier(tmp_path / "empty_run")
    with pytest.raises(ValueError, match="Received: shape"):
        load_classifier(tiny_run).predict_proba(np.zeros((48, 48, 3, 2, 2), np.uint8))


def test_shipped_default_model_loads_and_predicts():
    clf = load_classifier()
    assert clf.labels == EMOTIONS
    faces = np.random.default_rng(0).integers(0, 255, (4, 48, 48), dtype=np.uint8)
    p = clf.predict_proba(faces)
    assert p.shape == (4, 7)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)


def test_shipped_default_model_on_real_faces(shared_data):
    from fer_core.data import load_fer2013

    ds = load_fer2013(shared_data / "fer2013" / "fer2013.csv.gz", "PublicTest")
    p = load_classifier().predict_proba(ds.images[:300])
    # A trained model, not a constant: it must beat always-predicting the largest class (happy, ~25%) clearly.
    assert (p.argmax(1) == ds.labels[:300]).mean() > 0.45
