"""Soft training targets: FER+ votes and a teacher's outputs mixed with the original labels, and runs trained on them."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fer_core import runs
from fer_core.training.data import load_fer2013
from fer_core.training.ferplus import FerPlusAlignmentError
from fer_core.training.soft_targets import build_targets, mix_ferplus, mix_teacher, one_hot
from fer_core.train import main as train_main
from fer_core.training.trainer import TrainConfig, train
from factories import write_votes


def test_ferplus_votes_are_mixed_only_into_rows_that_have_them():
    targets = one_hot(np.array([0, 1, 2]), 3)
    dist = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]], np.float32)
    mixed = mix_ferplus(targets, dist, np.array([True, True, False]), 0.25)
    np.testing.assert_allclose(mixed, [[0.75, 0.25, 0], [0, 0.75, 0.25], [0, 0, 1]])
    with pytest.raises(ValueError, match="ferplus_weight must be in"):
        mix_ferplus(targets, dist, np.ones(3, bool), 1.5)
    with pytest.raises(ValueError, match="must match the targets"):
        mix_ferplus(targets, dist[:2], np.ones(2, bool), 0.5)


def test_teacher_outputs_are_mixed_into_every_row():
    targets = one_hot(np.array([0, 1]), 2)
    mixed = mix_teacher(targets, np.array([[0.5, 0.5], [0.9, 0.1]], np.float32), 0.5)
    np.testing.assert_allclose(mixed, [[0.75, 0.25], [0.45, 0.55]])
    with pytest.raises(ValueError, match="teacher_weight must be in"):
        mix_teacher(targets, targets, -0.1)


def test_build_targets_from_votes_and_a_teacher(tmp_path, fer_csv, tiny_run):
    ds = load_fer2013(fer_csv, "Training")
    votes = write_votes(tmp_path / "votes.csv", ds.labels, ["Training"] * len(ds))
    targets, info = build_targets(ds, ferplus=str(votes), ferplus_weight=1.0, teacher=str(tiny_run),
                                  teacher_weight=0.5, usage="Training")
    assert targets.shape == (len(ds), 7) and targets.dtype == np.float32
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, rtol=1e-5)
    assert info["ferplus"]["rows_with_votes"] == len(ds) and info["ferplus"]["agreement_with_original"] == 1.0
    assert 0.0 <= info["teacher"]["train_accuracy"] <= 1.0
    plain, none = build_targets(ds)
    assert none == {} and (plain.argmax(axis=1) == ds.labels).all()
    shuffled = write_votes(tmp_path / "shuffled.csv", ds.labels, ["Training"] * len(ds), shuffle_seed=4)
    with pytest.raises(FerPlusAlignmentError):
        build_targets(ds, ferplus=str(shuffled), usage="Training")


def test_a_run_trained_on_soft_targets_records_them(tmp_path, fer_csv, tiny_run):
    both = load_fer2013(fer_csv)
    votes = write_votes(tmp_path / "votes.csv", both.labels, ["Training"] * 28 + ["PublicTest"] * 28)
    out = tmp_path / "soft"
    assert train_main(["--data", str(fer_csv), "--arch", "fer_vgg", "--out", str(out), "--epochs", "1",
                       "--batch-size", "16", "--ferplus", str(votes), "--ferplus-weight", "0.7", "--val-usage", "PublicTest",
                       "--teacher", str(tiny_run)]) == 0
    config = json.loads((out / runs.CONFIG).read_text())
    assert config["targets"]["ferplus"]["rows_with_votes"] == 28
    assert config["targets"]["teacher"]["path"] == str(tiny_run)
    assert config["hyperparameters"]["ferplus_weight"] == 0.7 and config["hyperparameters"]["teacher_weight"] == 0.5
    assert (out / runs.METRICS).is_file()


def test_ferplus_votes_follow_their_rows_through_a_split(tmp_path, fer_csv):
    """The holdout split and --max-train keep a subset of Training's rows: each image still gets its own votes."""
    from fer_core.training.data import stratified_split
    from fer_core.training.soft_targets import ferplus_targets

    ds = load_fer2013(fer_csv, "Training")
    voted = ds.labels.copy()
    odd = np.arange(0, len(ds), 5)  # every fifth row: FER+ disagrees with the original label
    voted[odd] = (voted[odd] + 1) % 7
    votes = write_votes(tmp_path / "votes.csv", voted, ["Training"] * len(ds))
    part, rest = stratified_split(ds, 0.25, seed=1)
    assert 0 < len(part) < len(ds) and len(part) + len(rest) == len(ds)
    dist, valid, _ = ferplus_targets(part, str(votes), "Training")
    assert valid.all()
    np.testing.assert_array_equal(dist.argmax(axis=1), voted[part.rows])
    assert np.any(voted[part.rows] != part.labels)  # the check above tells the rows apart
    sample = ds.subset(np.array([7, 2, 11]))
    np.testing.assert_array_equal(ferplus_targets(sample, str(votes), "Training")[0].argmax(axis=1), voted[[7, 2, 11]])


def test_ferplus_refuses_changed_classes(tmp_path, fer_csv):
    with pytest.raises(ValueError, match="--ferplus takes no folder dataset, --classes or --remap"):
        train(TrainConfig(data=str(fer_csv), arch="fer_vgg", out=str(tmp_path / "x"), epochs=1,
                          classes=("happy", "sad"), ferplus=str(tmp_path / "votes.csv")), verbose=0)
