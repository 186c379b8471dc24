"""The EMA of weights: its arithmetic, swapping, saving for resume, and its use by training."""
from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from fer_core import load_classifier, runs
from fer_core.training.trainer import TrainConfig, train
from fer_core.training.weight_averaging import EMA_WEIGHTS, WeightEMA

from factories import interrupt_at


def _tiny_model() -> keras.Model:
    inp = keras.Input((3,))
    x = keras.layers.Dense(2, use_bias=False)(inp)
    x = keras.layers.BatchNormalization()(x)
    return keras.Model(inp, x)


def test_ema_follows_the_weights_with_its_decay_and_swaps(tmp_path):
    model = _tiny_model()
    ema = WeightEMA(0.5)
    ema.set_model(model)
    ema.on_train_begin()
    kernel = model.layers[1].kernel
    start = kernel.numpy().copy()
    kernel.assign(start + 2.0)
    ema.on_train_batch_end(0)  # ema = .5 * start + .5 * (start + 2)
    kernel.assign(start + 4.0)
    ema.on_train_batch_end(1)  # ema = .5 * (start + 1) + .5 * (start + 4)
    ema.swap()
    np.testing.assert_allclose(kernel.numpy(), start + 2.5, rtol=1e-6)
    ema.swap()
    np.testing.assert_allclose(kernel.numpy(), start + 4.0, rtol=1e-6)

    ema.save(tmp_path / EMA_WEIGHTS)
    resumed = WeightEMA(0.5)
    resumed.set_model(model)
    assert resumed.load(tmp_path / EMA_WEIGHTS)
    resumed.on_train_begin()
    resumed.swap()
    np.testing.assert_allclose(kernel.numpy(), start + 2.5, rtol=1e-6)


def test_ema_rejects_a_bad_decay_and_ignores_a_missing_or_foreign_file(tmp_path):
    with pytest.raises(ValueError, match="decay"):
        WeightEMA(1.0)
    model = _tiny_model()
    ema = WeightEMA(0.9)
    ema.set_model(model)
    assert not ema.load(tmp_path / "absent.npz")
    np.savez(tmp_path / "other.npz", np.zeros((5, 5)))
    assert ema.load(tmp_path / "other.npz")
    ema.on_train_begin()  # the shapes do not fit: the average restarts from the current weights
    before = model.layers[1].kernel.numpy().copy()
    ema.swap()
    np.testing.assert_allclose(model.layers[1].kernel.numpy(), before)


def test_training_with_ema_records_it_and_resumes_it(tmp_path, fer_csv):
    out = tmp_path / "ema_run"
    cfg = TrainConfig(data=str(fer_csv), arch="fer2013_cnn", out=str(out), epochs=3, batch_size=16, tta=False,
                      test_usage="PublicTest")

    with pytest.raises(KeyboardInterrupt):  # the first epoch without EMA, as a run started before the option
        train(cfg, on_epoch=interrupt_at(1), verbose=0)
    assert not (out / EMA_WEIGHTS).exists()

    with pytest.raises(KeyboardInterrupt):  # resumed with EMA switched on
        train(dataclasses.replace(cfg, ema=0.9), on_epoch=interrupt_at(2), verbose=0)
    assert (out / EMA_WEIGHTS).is_file()
    train(dataclasses.replace(cfg, ema=0.9), verbose=0)

    history = runs.read_history(out)
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert history[0]["ema_val_accuracy"] is None
    assert all(0.0 <= r["ema_val_accuracy"] <= 1.0 for r in history[1:])
    assert all(0.0 <= r["test_accuracy"] <= 1.0 for r in history)  # the test curve, live and averaged weights
    assert history[0]["ema_test_accuracy"] is None and all(0.0 <= r["ema_test_accuracy"] <= 1.0 for r in history[1:])
    config = runs.read_json(out / runs.CONFIG)
    assert config["hyperparameters"]["ema"] == 0.9 and config["resumes"][0]["ema"] == 0.9
    best = history[config["best_epoch"] - 1]
    assert config["best_source"] in ("ema", "weights")
    key = "ema_val_accuracy" if config["best_source"] == "ema" else "val_accuracy"
    assert config["best_val_accuracy"] == pytest.approx(best[key])
    assert config["best_val_accuracy"] == pytest.approx(max(max(r["val_accuracy"], r["ema_val_accuracy"] or 0)
                                                            for r in history))
    assert not (out / EMA_WEIGHTS).exists() and not (out / runs.CHECKPOINT).exists()
    clf = load_classifier(out, backend="keras")
    assert clf.predict_proba(np.zeros((2, 48, 48), np.uint8)).shape == (2, 7)
