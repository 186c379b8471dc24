"""load_classifier and predict_proba: raw crops of any size/channels in, probability rows out; the shipped default."""
from __future__ import annotations

import numpy as np
import pytest

import fer_core
from fer_core import EMOTIONS, runs
from fer_core.inference.classifier import ModelLoadError, load_classifier


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
    from fer_core.training.data import load_fer2013

    ds = load_fer2013(shared_data / "fer2013" / "fer2013.csv.gz", "PublicTest")
    p = load_classifier().predict_proba(ds.images[:300])
    # A trained model, not a constant: it must beat always-predicting the largest class (happy, ~25%) clearly.
    assert (p.argmax(1) == ds.labels[:300]).mean() > 0.45


def _manual_view(x: np.ndarray, dy: int, dx: int, flip: bool) -> np.ndarray:
    """The window moved by (dy, dx) under the model's centre crop, built independently of shift_images: np.roll
    wraps around, but the wrapped rows/columns stay outside a 40x40 centre crop for |shifts| <= 4."""
    v = np.roll(x, (-dy, -dx), axis=(1, 2))
    return v[:, :, ::-1] if flip else v


def test_crops_tta_averages_flip_times_five_shifted_views(tiny_run):
    from fer_core.inference.classifier import TTA_MODES

    clf = load_classifier(tiny_run)
    assert clf.crop_sizes == (40,) and TTA_MODES == ("none", "flip", "crops")
    views = clf.view_shifts("crops")
    assert len(views) == 10 and views[:2] == [(0, 0, False), (0, 0, True)]
    assert {(dy, dx) for dy, dx, _ in views} == {(0, 0), (-4, -4), (-4, 4), (4, -4), (4, 4)}
    faces = np.random.default_rng(2).integers(0, 255, (5, 48, 48), dtype=np.uint8)
    p = clf.predict_proba(faces, tta="crops", batch_size=16)  # 10 views of 1 face per forward pass
    assert p.shape == (5, 7) and p.dtype == np.float32 and (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    expected = np.mean([clf.predict_proba(_manual_view(faces, dy, dx, f), tta="none") for dy, dx, f in views], axis=0)
    np.testing.assert_allclose(p, expected, atol=1e-5)
    np.testing.assert_allclose(clf.predict_proba(faces, tta="crops", batch_size=1000), p, atol=1e-5)
    assert clf.predict_proba(np.zeros((0, 48, 48), np.uint8), tta="crops").shape == (0, 7)
    assert clf.predict_proba([], tta="crops").shape == (0, 7)
    np.testing.assert_allclose(clf.predict_proba(faces, tta="flip"), clf.predict_proba(faces, tta=True), atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(faces, tta="none"), clf.predict_proba(faces, tta=False), atol=1e-6)
    assert clf.predict_views(faces, tta="crops").shape == (10, 5, 7)
    with pytest.raises(ValueError, match="Received: tta='corners'"):
        clf.predict_proba(faces, tta="corners")


def test_crops_tta_without_a_crop_layer_uses_small_replicated_shifts():
    import keras

    from fer_core.inference.classifier import Classifier, crop_shifts, shift_images

    assert crop_shifts((48, 48, 1)) == [(0, 0), (-2, -2), (-2, 2), (2, -2), (2, 2)]
    assert crop_shifts((48, 48, 1), [40]) == [(0, 0), (-4, -4), (-4, 4), (4, -4), (4, 4)]
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    shifted = shift_images(x, 1, -1)[0, :, :, 0]
    np.testing.assert_array_equal(shifted, [[4, 4, 5, 6], [8, 8, 9, 10], [12, 12, 13, 14], [12, 12, 13, 14]])
    keras.utils.set_random_seed(0)
    inp = keras.Input((24, 24, 1))
    # pixels scaled to 0-1: raw 0-255 into a random Dense layer saturates the softmax, and then every view gives the
    # same one-hot output (the test failed now and then on that, not on the shifts)
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inp))
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))
    clf = Classifier(model, ("a", "b", "c"), tta="crops")
    assert clf.crop_sizes == () and clf.tta == "crops"
    assert {(dy, dx) for dy, dx, _ in clf.view_shifts()} == {(0, 0), (-1, -1), (-1, 1), (1, -1), (1, 1)}
    faces = np.random.default_rng(3).integers(0, 255, (4, 24, 24), dtype=np.uint8)
    p = clf.predict_proba(faces)  # the classifier's own mode
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert not np.allclose(p, clf.predict_proba(faces, tta="none"))


@pytest.mark.parametrize("value, mode", [(True, "flip"), (False, "none"), ("crops", "crops"), ("flip", "flip"),
                                         ("none", "none")])
def test_inference_tta_in_config_may_be_a_bool_or_a_mode(tiny_run, tmp_path, value, mode):
    import shutil

    run = shutil.copytree(tiny_run, tmp_path / "run")
    config = runs.read_json(run / runs.CONFIG)
    runs.write_json(run / runs.CONFIG, {**config, "inference": {"tta": value}})
    assert load_classifier(run).tta == mode
    assert load_classifier(run, tta="crops").tta == "crops"


def test_invalid_inference_tta_is_a_load_error(tiny_run, tmp_path):
    import shutil

    run = shutil.copytree(tiny_run, tmp_path / "run")
    config = runs.read_json(run / runs.CONFIG)
    runs.write_json(run / runs.CONFIG, {**config, "inference": {"tta": "mirror"}})
    with pytest.raises(ModelLoadError, match="inference.tta.*Received: tta='mirror'"):
        load_classifier(run)


def test_onnx_runtime_classifier_never_traces_the_tensorflow_forward_pass(monkeypatch):
    """When ONNX Runtime runs the model, no tf.function is built: the Keras model is only called eagerly, once, for
    the probe check against model.onnx. The Keras path traces its function on first use."""
    from fer_core.inference import classifier as classifier_module

    def no_tracing(self):
        raise AssertionError("traced a tf.function although ONNX Runtime runs the model")

    monkeypatch.setattr(classifier_module.KerasForward, "_trace", no_tracing)
    clf = classifier_module.load_classifier(backend="onnx")
    assert clf.backend == "onnxruntime"
    assert clf.predict_proba(np.zeros((2, 48, 48), np.uint8)).shape == (2, len(clf.labels))
    monkeypatch.undo()
    keras_clf = classifier_module.load_classifier(backend="keras")
    forwards = [m._forward for m in getattr(keras_clf, "members", ())] or [keras_clf._forward]  # a cascade's own
    assert keras_clf.backend == "tensorflow" and all(f._traced is None for f in forwards)  # not traced at load
    keras_clf.predict_proba(np.zeros((1, 48, 48), np.uint8))
    assert forwards[0]._traced is not None
