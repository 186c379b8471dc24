"""Training off TensorFlow: jit-compatible batch augmentation, the holdout split, the packed dataset, saved teacher
targets, and a two-epoch JAX run (CPU) whose .keras loads and predicts on TensorFlow."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fer_core import runs
from fer_core.training.data import HOLDOUT, PACKED_SUFFIX, load_dataset, load_fer2013, load_packed, pack_fer2013
from fer_core.training.trainer import TrainConfig, load_train_val_test

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def csv10(tmp_path_factory) -> Path:
    """10 generated faces per class and Usage: a 10% holdout keeps one per class."""
    from tests.factories import make_fer_csv

    return make_fer_csv(tmp_path_factory.mktemp("fer10") / "fer10.csv", n_per_class=10)


@pytest.mark.parametrize("policy", ["none", "light", "fer", "camera", "rotate_zoom", "vgg7"])
def test_batch_augment_keeps_shape_and_range_and_is_identity_at_inference(policy):
    import keras

    from fer_core.training.batch_augment import BatchAugment

    x = np.random.default_rng(0).integers(0, 256, (6, 48, 48, 1)).astype("float32")
    layer = BatchAugment(policy, seed=3)
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    assert out.shape == x.shape and out.min() >= -1e-3 and out.max() <= 255.001
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x, training=False)), x)
    if policy != "none":
        assert not np.allclose(out, x)


def test_batch_augment_flip_only_mirrors():
    import keras

    from fer_core.training.batch_augment import BatchAugment

    layer = BatchAugment("light", seed=0)
    layer.params = dict(layer.params, rotate=0.0, shift=0.0)  # flips alone
    x = np.random.default_rng(1).integers(0, 256, (32, 8, 8, 1)).astype("float32")
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    same = [np.allclose(o, i) for o, i in zip(out, x)]
    mirrored = [np.allclose(o, i[:, ::-1]) for o, i in zip(out, x)]
    assert all(s or m for s, m in zip(same, mirrored)) and any(mirrored) and any(same)


def test_unknown_policy_is_a_clear_error():
    from fer_core.training.batch_augment import BatchAugment

    with pytest.raises(ValueError, match="Received: policy='blur'"):
        BatchAugment("blur")


def test_face_crop_takes_windows_of_the_input_in_training_and_the_centre_at_inference():
    import keras

    from fer_core.inference.layers import FaceCrop

    x = np.arange(4 * 48 * 48, dtype="float32").reshape(4, 48, 48, 1)
    crop = FaceCrop(40)
    centre = keras.ops.convert_to_numpy(crop(x, training=False))
    np.testing.assert_array_equal(centre, x[:, 4:44, 4:44])
    out = keras.ops.convert_to_numpy(crop(x, training=True))
    assert out.shape == (4, 40, 40, 1)
    for o, i in zip(out, x):
        top, left = divmod(int(o[0, 0, 0]) - int(i[0, 0, 0]), 48)
        np.testing.assert_array_equal(o, i[top:top + 40, left:left + 40])


def test_holdout_split_is_fixed_stratified_and_disjoint(csv10):
    cfg = TrainConfig(data=str(csv10), arch="fer_vgg", out="", val_usage=HOLDOUT, test_usage="PublicTest")
    train, val, test = load_train_val_test(cfg)
    again = load_train_val_test(TrainConfig(data=str(csv10), arch="fer_vgg", out="", val_usage=HOLDOUT, seed=7))
    np.testing.assert_array_equal(val.images, again[1].images)  # the same rows whatever the training seed
    assert len(train) + len(val) == 70 and len(test) == 70
    assert val.split.startswith(HOLDOUT) and np.bincount(val.labels).tolist() == [1] * 7
    rows = {im.tobytes() for im in train.images}
    assert not any(im.tobytes() in rows for im in val.images)


def test_packed_dataset_round_trips(tmp_path, fer_csv):
    packed = pack_fer2013(fer_csv, tmp_path / f"small{PACKED_SUFFIX}")
    original = load_fer2013(fer_csv, "Training")
    restored = load_dataset(packed, usage="Training")
    np.testing.assert_array_equal(restored.labels, original.labels)
    assert np.abs(restored.images.astype(int) - original.images).mean() < 2.0
    assert len(load_packed(packed, "PublicTest")) == 28
    with pytest.raises(ValueError, match="PrivateTest"):
        load_packed(packed, "PrivateTest")
    with pytest.raises(ValueError, match=PACKED_SUFFIX):
        pack_fer2013(fer_csv, tmp_path / "small.npz")


def test_saved_teacher_targets_pair_only_with_their_rows(tmp_path, fer_csv, tiny_run):
    from fer_core.training.soft_targets import load_teacher_targets, save_teacher_targets

    train = load_fer2013(fer_csv, "Training")
    path = save_teacher_targets(str(tiny_run), train, str(tmp_path / "t.teacher.npz"))
    probs = load_teacher_targets(path, train)
    assert probs.shape == (28, 7) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    with pytest.raises(ValueError, match="does not pair"):
        load_teacher_targets(path, train.subset(np.arange(1, 28)))


@pytest.mark.parametrize("backend, precision", [("jax", "float32"), ("jax", "bfloat16"), ("torch", "float32")])
def test_portable_training_writes_a_run_that_tensorflow_loads(tmp_path, csv10, backend, precision):
    """Two tiny epochs on JAX's (or PyTorch's) CPU backend in a fresh process (the camera policy, the heaviest
    augmentation, inside the training step; compiled on JAX); TensorFlow then exports and evaluates it. PyTorch is
    not in requirements-dev (its wheel is large): that case runs where it is installed. A bfloat16 run saves a
    float32 model like any other."""
    pytest.importorskip(backend)
    out = tmp_path / f"{backend}_run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("KERAS_BACKEND", None)
    cmd = [sys.executable, "-m", "fer_core.train", "--backend", backend, "--data", str(csv10), "--arch", "fer_vgg",
           "--epochs", "2", "--batch-size", "16", "--ema", "0.9", "--augment", "camera", "--out", str(out),
           "--precision", precision]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = json.loads((out / runs.CONFIG).read_text())
    assert config["training_backend"] == backend and config["jit_compile"] is (backend == "jax")
    assert config["versions"]["keras_backend"] == backend and backend in config["versions"]
    assert config["selection"]["split"].startswith(HOLDOUT) and config["epochs_done"] == 2 and config["finished"]
    assert config["hyperparameters"]["precision"] == precision
    history = runs.read_history(out)
    assert [r["epoch"] for r in history] == [1, 2]
    assert all(r["val_accuracy"] is not None and r["test_accuracy"] is not None and r["ema_val_accuracy"] is not None
               for r in history)
    assert not (out / "checkpoint.npz").exists() and (out / runs.ONNX_MODEL).is_file()
    metrics = runs.read_json(out / runs.METRICS)
    assert metrics["split"] == "PublicTest" and metrics["n"] == 70
    assert metrics["unseen"]["compared_with"] == "Training" and metrics["unseen"]["n"] == 70  # no copies generated

    import keras

    from fer_core import load_classifier

    from fer_core.training.trainer import model_precision

    assert keras.backend.backend() == "tensorflow"
    assert model_precision(keras.models.load_model(out / runs.MODEL)) == "float32"
    clf = load_classifier(out, backend="keras")
    probs = clf.predict_proba(np.zeros((3, 48, 48), np.uint8))
    assert probs.shape == (3, 7) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)


def test_backend_flag_refuses_a_second_backend_in_one_process():
    from fer_core.training.train_cli import select_backend

    import keras  # noqa: F401  (loaded on TensorFlow by the test session)

    with pytest.raises(SystemExit, match="already loaded"):
        select_backend(["--backend", "jax"])
    with pytest.raises(SystemExit, match="must be one of"):
        select_backend(["--backend", "mxnet"])
