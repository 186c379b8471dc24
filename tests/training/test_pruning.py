"""Cutting a trained net to narrower inner channels (``fer_core.training.pruning``) and its CLI."""
from __future__ import annotations

import numpy as np
import pytest

from fer_core.training.architectures import create_model
from fer_core.training.pruning import prune_channels, recalibrate_batchnorm

import keras


def _norms(model):
    return [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]


def _convs(model):
    return [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]


def _wide_with_dead_channels(seed: int = 0):
    """A fer_vgg_wide whose BatchNorms have random statistics, and, in each conv the slim net narrows, exactly the
    channels it must drop switched off (gamma = beta = 0): a ReLU then outputs 0 there, so cutting them is lossless.
    Returned with the slim net and the indices of the convs it narrows."""
    rng = np.random.default_rng(seed)
    wide, slim = create_model("fer_vgg_wide", 7), create_model("fer_vgg_wide_slim", 7)
    narrowed = []
    for i, (norm, slim_conv) in enumerate(zip(_norms(wide), _convs(slim))):
        n = norm.gamma.shape[0]
        gamma, beta = rng.uniform(0.5, 1.5, n), rng.normal(0, 0.2, n)
        keep = slim_conv.kernel.shape[-1]
        if keep < n:
            dead = np.sort(rng.permutation(n)[:n - keep])
            gamma[dead] = beta[dead] = 0.0
            narrowed.append(i)
        norm.gamma.assign(gamma.astype(np.float32))
        norm.beta.assign(beta.astype(np.float32))
        norm.moving_mean.assign(rng.normal(0, 0.1, n).astype(np.float32))
        norm.moving_variance.assign(rng.uniform(0.5, 2, n).astype(np.float32))
    return wide, slim, narrowed


def test_cutting_channels_that_output_nothing_keeps_the_outputs():
    wide, slim, narrowed = _wide_with_dead_channels()
    assert narrowed, "fer_vgg_wide_slim must narrow some conv"
    prune_channels(wide, slim)
    x = np.random.default_rng(1).uniform(0, 255, (5, 48, 48, 1)).astype(np.float32)
    np.testing.assert_allclose(slim.predict(x, verbose=0), wide.predict(x, verbose=0), atol=1e-5)
    for i in narrowed:
        kept_gamma = _norms(slim)[i].gamma.numpy()
        assert np.all(kept_gamma > 0), f"conv {i}: a dead channel (gamma 0) was kept over a live one"
        assert _convs(slim)[i + 1].kernel.shape[2] == kept_gamma.shape[0]
    assert slim.count_params() < wide.count_params()


def test_a_model_that_does_not_line_up_is_refused():
    with pytest.raises(ValueError, match="expected a BatchNormalization after every Conv2D"):
        prune_channels(create_model("fer_vgg_wide", 7), create_model("fer2013_cnn", 7))
    with pytest.raises(ValueError, match="can only keep channels"):  # fer_vgg_wide is wider than fer_vgg: no growing
        prune_channels(create_model("fer_vgg", 7), create_model("fer_vgg_wide", 7))


def test_recalibration_moves_the_batchnorm_statistics_to_the_data_and_nothing_else():
    model = create_model("fer_vgg", 7)
    first = _norms(model)[0]
    first.moving_mean.assign(np.full(first.moving_mean.shape, 5.0, np.float32))
    before = [w.numpy().copy() for w in model.trainable_weights]
    rates = [l.rate for l in model.layers if isinstance(l, keras.layers.Dropout)]
    images = np.random.default_rng(0).uniform(0, 255, (64, 48, 48, 1)).astype(np.float32)
    recalibrate_batchnorm(model, images, batches=30, batch_size=32)
    # what the first conv's output really averages to on these images, per channel
    sub = keras.Model(model.input, _convs(model)[0].output)
    expected = sub(images, training=True).numpy().mean(axis=(0, 1, 2))
    np.testing.assert_allclose(first.moving_mean.numpy(), expected, atol=0.05)
    for w, b in zip(model.trainable_weights, before):
        np.testing.assert_array_equal(w.numpy(), b)
    assert [l.rate for l in model.layers if isinstance(l, keras.layers.Dropout)] == rates
    assert all(l.momentum == 0.99 for l in _norms(model))


def test_recalibration_refuses_an_empty_batch():
    with pytest.raises(ValueError, match="non-empty"):
        recalibrate_batchnorm(create_model("fer_vgg", 7), np.zeros((0, 48, 48, 1), np.float32))


@pytest.fixture(scope="module")
def holdout_csv(tmp_path_factory):
    """Generated FER2013 rows, enough per class for the fixed 10% holdout the CLI scores on."""
    from factories import make_fer_csv

    return make_fer_csv(tmp_path_factory.mktemp("fer") / "fer_20.csv", n_per_class=20)


@pytest.fixture(scope="module")
def wide_run(tmp_path_factory, holdout_csv):
    """A fer_vgg_wide run trained one epoch on generated data."""
    from fer_core.training.trainer import TrainConfig, train

    out = tmp_path_factory.mktemp("runs") / "wide"
    return train(TrainConfig(data=str(holdout_csv), arch="fer_vgg_wide", out=str(out), epochs=1, batch_size=16),
                 verbose=0)


def test_prune_cli_writes_a_model_that_fine_tuning_starts_from(wide_run, holdout_csv, tmp_path, capsys):
    import json

    from fer_core.training.prune_cli import main
    from fer_core.training.trainer import TrainConfig, train

    out = tmp_path / "cut.keras"
    assert main([str(wide_run), "--arch", "fer_vgg_wide_slim", "--data", str(holdout_csv), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "cut to fer_vgg_wide_slim" in printed and "after BatchNorm recalibration" in printed
    run = train(TrainConfig(data=str(holdout_csv), arch="fer_vgg_wide_slim", out=str(tmp_path / "ft"), epochs=1,
                            batch_size=16, init_from=str(out)), verbose=0)
    assert json.loads((run / "config.json").read_text())["init_from"]["path"] == str(out)


def test_prune_cli_says_when_the_run_cannot_be_cut_to_that_architecture(tiny_run, fer_csv, tmp_path, capsys):
    from fer_core.training.prune_cli import main

    # tiny_run is a fer_vgg: narrower than fer_vgg_wide_slim, so there is nothing to keep the wider channels from
    assert main([str(tiny_run), "--arch", "fer_vgg_wide_slim", "--data", str(fer_csv),
                 "--out", str(tmp_path / "x.keras")]) == 2
    assert "can only keep channels" in capsys.readouterr().err
    assert not (tmp_path / "x.keras").exists()


def test_prune_cli_explains_a_bad_output_name(tiny_run, fer_csv, capsys):
    from fer_core.training.prune_cli import main

    with pytest.raises(SystemExit):
        main([str(tiny_run), "--arch", "fer_vgg", "--data", str(fer_csv), "--out", "cut.h5"])
    assert "--out must end in .keras. Received: cut.h5" in capsys.readouterr().err
