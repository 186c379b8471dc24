"""End to end: a tiny training run on generated data writes a complete run folder; resume; the evaluate CLI reads it."""
from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest

from fer_core import load_classifier, runs
from fer_core.evaluate import main as evaluate_main
from fer_core.train import main as train_main
from fer_core.training.trainer import TrainConfig, lr_at, session_dataset, session_seed, train

from factories import interrupt_at, make_fer_csv, with_test_copies


def test_saved_model_holds_no_optimizer_state(tiny_run):
    import zipfile

    import h5py

    with zipfile.ZipFile(tiny_run / runs.MODEL) as z, z.open("model.weights.h5") as fh:
        with h5py.File(fh, "r") as weights:
            assert "optimizer" not in weights and "layers" in weights


def test_tiny_run_folder_is_complete(tiny_run):
    for name in (runs.CONFIG, runs.HISTORY, runs.METRICS, runs.CONFUSION, runs.MODEL):
        assert (tiny_run / name).is_file(), name
    assert not (tiny_run / runs.CHECKPOINT).exists()
    config = runs.read_json(tiny_run / runs.CONFIG)
    assert config["architecture"] == "fer_vgg" and config["epochs_done"] == 2 and config["finished"]
    assert config["labels"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert config["dataset"]["train"]["class_counts"]["happy"] == 4
    assert {"tensorflow", "keras", "numpy"} <= set(config["versions"]) and config["device"]
    history = runs.read_history(tiny_run)
    assert [r["epoch"] for r in history] == [1, 2]
    assert all(r["lr"] > 0 and r["seconds"] > 0 and r["val_accuracy"] is not None for r in history)
    metrics = runs.read_json(tiny_run / runs.METRICS)
    assert metrics["n"] == 28 and set(metrics["per_class"]) == set(config["labels"])
    assert 0 <= metrics["tta"]["accuracy"] <= 1
    # the test rows were checked for copies of Training rows (the generated ones have none)
    assert metrics["unseen"]["copies_left_out"] == 0 and metrics["unseen"]["accuracy"] == metrics["accuracy"]
    assert metrics["backend"] in ("tensorflow", "onnxruntime", "onnxruntime-int8")
    labels, cm = runs.read_confusion(tiny_run / runs.CONFUSION)
    assert labels == config["labels"] and cm.sum() == 28
    assert np.isclose(np.trace(cm) / cm.sum(), metrics["accuracy"])


def test_training_resumes_after_interruption(tmp_path, fer_csv):
    out = tmp_path / "run"
    cfg = TrainConfig(data=str(fer_csv), arch="fer2013_cnn", out=str(out), epochs=3, batch_size=16, tta=False)

    with pytest.raises(KeyboardInterrupt):
        train(cfg, on_epoch=interrupt_at(1), verbose=0)
    assert (out / runs.CHECKPOINT).is_file()
    assert runs.read_json(out / runs.STATE)["epochs_done"] == 1
    with pytest.raises(ValueError, match=r"fixed by the run being resumed: \['weight_decay'\].*weight_decay=0.1"):
        train(dataclasses.replace(cfg, weight_decay=0.1), verbose=0)
    train(dataclasses.replace(cfg, augment="light"), verbose=0)  # e.g. a lighter augmentation for the tail
    assert [r["epoch"] for r in runs.read_history(out)] == [1, 2, 3]
    config = runs.read_json(out / runs.CONFIG)
    assert config["epochs_done"] == 3 and config["hyperparameters"]["augment"] == "light"
    assert config["resumes"][-1]["after_epoch"] == 1 and config["resumes"][-1]["augment"] == "light"


def test_early_stopping_and_class_subset(tmp_path, fer_csv):
    out = tmp_path / "run4"
    cfg = TrainConfig(data=str(fer_csv), arch="fer2013_cnn", out=str(out), epochs=6, batch_size=16, patience=1,
                      lr=0.0, schedule="constant", classes=("angry", "happy", "sad", "surprise"))
    train(cfg, verbose=0)
    config = runs.read_json(out / runs.CONFIG)
    assert config["labels"] == ["angry", "happy", "sad", "surprise"]
    assert config.get("early_stopped") and config["epochs_done"] < 6
    assert load_classifier(out).labels == ("angry", "happy", "sad", "surprise")


def test_a_resumed_session_does_not_replay_the_first_sessions_batches(monkeypatch):
    """Each session seeds the global RNG, the shuffle and the augmentation layers from ``session_seed``: before, a
    resumed process started from the run's seed again and replayed the first session's batches."""
    from fer_core.training import trainer as training

    seen = []
    monkeypatch.setattr("keras.utils.set_random_seed", lambda seed: seen.append(("global", seed)))
    monkeypatch.setattr(training, "make_dataset", lambda *a, seed=None, **k: seen.append(("data", seed)))
    cfg = TrainConfig(data="x", arch="fer_vgg", out="y", seed=2).resolved()
    for done in (0, 31):
        session_dataset(np.zeros((4, 48, 48, 1), np.uint8), np.zeros(4, int), 7, cfg, 1, done)
    assert seen == [("global", 2), ("data", 2), ("global", 2 + 1009 * 31), ("data", 2 + 1009 * 31)]
    assert session_seed(2, 0) == 2  # a fresh run keeps its seed


def test_cosine_schedule_warms_up_then_decays():
    cfg = TrainConfig(data="x", arch="fer_vgg", out="x", epochs=10, warmup_epochs=2, lr=0.1, schedule="cosine")
    lrs = [lr_at(cfg, e) for e in range(10)]
    assert lrs[0] < lrs[1] < lrs[2] == pytest.approx(0.1)
    assert all(a > b for a, b in zip(lrs[2:], lrs[3:])) and lrs[-1] < 0.02


def test_train_cli_and_evaluate_cli_read_back(tmp_path, fer_csv, capsys):
    from tests.factories import make_fer_csv

    out = tmp_path / "cli_run"
    csv10 = make_fer_csv(tmp_path / "fer10.csv", n_per_class=10)  # the default holdout keeps 1 of 10 per class
    assert train_main(["--data", str(csv10), "--arch", "fer2013_cnn", "--out", str(out), "--epochs", "1",
                       "--batch-size", "16", "--classes", "angry,happy,sad,surprise"]) == 0
    assert "Run written to" in capsys.readouterr().out
    eval_dir = tmp_path / "eval"
    assert evaluate_main(["--model", str(out), "--data", str(fer_csv), "--usage", "PublicTest", "--tta", "flip",
                          "--out", str(eval_dir)]) == 0
    printed = capsys.readouterr().out
    assert "macro-F1" in printed and "with flip TTA" in printed and "happy" in printed
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    assert metrics["labels"] == ["angry", "happy", "sad", "surprise"] and metrics["n"] == 16  # 4 classes x 4 rows
    assert "tta" in metrics
    with open(eval_dir / "confusion_matrix.csv") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["true", "angry", "happy", "sad", "surprise"] and len(rows) == 5


def test_evaluate_cli_reports_bad_inputs(tmp_path, fer_csv, capsys):
    assert evaluate_main(["--model", str(tmp_path / "missing"), "--data", str(fer_csv)]) == 2
    assert "error:" in capsys.readouterr().err


def test_evaluate_cli_with_crops_tta_records_the_mode(tiny_run, tmp_path, fer_csv, capsys):
    out = tmp_path / "eval_crops"
    assert evaluate_main(["--model", str(tiny_run), "--data", str(fer_csv), "--usage", "PublicTest", "--tta", "crops",
                          "--out", str(out)]) == 0
    assert "with crops TTA" in capsys.readouterr().out
    metrics = runs.read_json(out / runs.METRICS)
    assert metrics["tta"]["method"] == "crops" and metrics["tta"]["n"] == metrics["n"] == 28
    assert set(metrics["tta"]["per_class"]) == set(metrics["labels"])
    with pytest.raises(SystemExit):
        evaluate_main(["--model", str(tiny_run), "--data", str(fer_csv), "--tta", "mirror"])


def test_evaluate_cli_also_scores_the_test_rows_that_repeat_no_training_row(tiny_run, tmp_path, fer_csv, capsys):
    """FER2013 repeats some Training images among its test rows: the figures are also given without them."""
    data = with_test_copies(fer_csv, tmp_path / "copies.csv", k=3)
    common = ["--model", str(tiny_run), "--usage", "PublicTest", "--tta", "flip"]
    assert evaluate_main([*common, "--data", str(data), "--out", str(tmp_path / "e1")]) == 0
    assert "with no pixel-for-pixel copy in Training (3 copies left out)" in capsys.readouterr().out
    metrics = runs.read_json(tmp_path / "e1" / runs.METRICS)
    unseen = metrics["unseen"]
    assert metrics["n"] == 31 and unseen["n"] == 28 and unseen["copies_left_out"] == 3
    assert unseen["compared_with"] == "Training" and unseen["tta"]["method"] == "flip"
    assert evaluate_main([*common, "--data", str(fer_csv), "--out", str(tmp_path / "e2")]) == 0  # no copies in it
    assert "none of the 28 images is a pixel-for-pixel copy of an image in Training" in capsys.readouterr().out
    generated = runs.read_json(tmp_path / "e2" / runs.METRICS)
    assert generated["unseen"]["copies_left_out"] == 0
    for key in ("n", "accuracy", "macro_f1", "per_class"):
        assert unseen[key] == generated[key] and unseen["tta"][key] == generated["tta"][key]
    assert evaluate_main([*common, "--data", str(data), "--keep-copies", "--out", str(tmp_path / "e3")]) == 0
    assert "unseen" not in runs.read_json(tmp_path / "e3" / runs.METRICS)
    assert "copies left out" not in capsys.readouterr().out


def test_evaluate_cli_on_the_holdout_leaves_out_copies_of_the_rest_of_training(tiny_run, tmp_path, capsys):
    from fer_core.training.data import copies_of
    from fer_core.training.trainer import load_holdout_and_rest

    data = with_test_copies(make_fer_csv(tmp_path / "f.csv", n_per_class=10), tmp_path / "twins.csv", k=70,
                            usage="Training")  # every Training row twice: a held-out row's twin is mostly outside
    holdout, rest = load_holdout_and_rest(str(data))
    expected = int(copies_of(holdout, rest).sum())
    assert expected > 0
    assert evaluate_main(["--model", str(tiny_run), "--data", str(data), "--usage", "holdout",
                          "--out", str(tmp_path / "e")]) == 0
    unseen = runs.read_json(tmp_path / "e" / runs.METRICS)["unseen"]
    assert unseen["copies_left_out"] == expected and unseen["n"] == len(holdout) - expected
    assert unseen["compared_with"] == "Training outside the holdout"


def test_init_from_starts_from_another_runs_weights(tmp_path, fer_csv, tiny_run):
    """Fine-tuning: with a zero learning rate the new run's kernels are exactly the source run's; config says where
    it started; a run with other labels is refused."""
    import keras

    out = tmp_path / "ft"
    cfg = TrainConfig(data=str(fer_csv), arch="fer_vgg", out=str(out), epochs=1, batch_size=16, tta=False, lr=0.0,
                      schedule="constant", warmup_epochs=0, weight_decay=0.0, augment="light", init_from=str(tiny_run))
    train(cfg, verbose=0)
    config = runs.read_json(out / runs.CONFIG)
    assert config["init_from"]["run_id"] == tiny_run.name and config["init_from"]["epochs_done"] == 2
    assert config["hyperparameters"]["augment"] == "light"
    src = keras.models.load_model(tiny_run / runs.MODEL, compile=False)
    new = keras.models.load_model(out / runs.MODEL, compile=False)
    kernels = [(a, b) for la, lb in zip(src.layers, new.layers) if la.__class__.__name__ == "Conv2D"
               for a, b in zip(la.get_weights(), lb.get_weights())]
    assert kernels and all(np.array_equal(a, b) for a, b in kernels)

    with pytest.raises(ValueError, match="labels differ"):
        train(TrainConfig(data=str(fer_csv), arch="fer_vgg", out=str(tmp_path / "ft4"), epochs=1, batch_size=16,
                          tta=False, classes=("angry", "happy"), init_from=str(tiny_run)), verbose=0)
    with pytest.raises(ValueError, match="init-from must be a run folder"):
        train(TrainConfig(data=str(fer_csv), arch="fer_vgg", out=str(tmp_path / "ft5"), epochs=1, batch_size=16,
                          tta=False, init_from=str(tmp_path / "missing")), verbose=0)


def test_mix_adds_a_folders_images_to_training_only(tmp_path, fer_csv):
    """--mix (e.g. CK+48): the folder's images join the training set, mapped to its labels and equalised like it;
    classes it lacks are dropped; validation and test stay FER2013's."""
    import cv2

    from fer_core.training.data import load_fer2013
    from fer_core.training.trainer import load_train_val_test

    rng = np.random.default_rng(0)
    for folder, n in (("anger", 3), ("happy", 2), ("contempt", 4)):  # CK+'s names: anger -> angry; no contempt
        (tmp_path / "ck" / folder).mkdir(parents=True)
        for i in range(n):
            img = (rng.integers(90, 110, (48, 48))).astype(np.uint8)  # low contrast: equalising spreads it
            cv2.imwrite(str(tmp_path / "ck" / folder / f"S{i:03d}_001_0000001{i}.png"), img)
    base = TrainConfig(data=str(fer_csv), arch="fer_vgg", out=str(tmp_path / "a"), val_usage="PublicTest",
                       test_usage="PublicTest")
    train0, val0, _ = load_train_val_test(base)
    train1, val1, test1 = load_train_val_test(dataclasses.replace(base, mix=str(tmp_path / "ck")))
    assert len(train1) == len(train0) + 5 and len(val1) == len(val0) and len(test1) == len(load_fer2013(fer_csv, "PublicTest"))
    added = train1.labels[len(train0):]
    assert sorted(train1.label_names[i] for i in added) == ["angry"] * 3 + ["happy"] * 2
    assert train1.images[len(train0):].max() < 111  # the generated rows are not equalised: nor are the added ones
    from fer_core.training.data import FaceDataset
    from fer_core.training.trainer import input_equalization, mix_in

    flat = np.stack([cv2.equalizeHist(rng.integers(0, 256, (48, 48)).astype(np.uint8)) for _ in range(8)])
    fer_like = FaceDataset(flat, np.zeros(8, np.int64), train0.label_names)
    assert input_equalization(fer_like.images) == "hist"
    extra = mix_in(fer_like, str(tmp_path / "ck")).images[8:]
    assert len(extra) == 5 and extra.min() < 40 and extra.max() > 215  # equalised, as FER2013's rows are here
    with pytest.raises(ValueError, match="--mix shares no class"):
        (tmp_path / "odd" / "contempt").mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "odd" / "contempt" / "a.png"), np.zeros((48, 48), np.uint8))
        load_train_val_test(dataclasses.replace(base, mix=str(tmp_path / "odd")))


def test_mixed_in_images_keep_their_labels_beside_ferplus_votes(tmp_path, fer_csv):
    """--mix with --ferplus: FER2013's rows get their own votes, the added images their own one-hot labels, and a
    run trains on both."""
    import cv2

    from factories import write_votes
    from fer_core.training.data import MIXED_ROW, load_fer2013
    from fer_core.training.soft_targets import build_targets
    from fer_core.training.trainer import load_train_val_test

    rng = np.random.default_rng(1)
    for folder, n in (("surprise", 3), ("disgust", 2)):
        (tmp_path / "ck" / folder).mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(tmp_path / "ck" / folder / f"S{i:03d}.png"), rng.integers(0, 256, (48, 48)).astype(np.uint8))
    rows = load_fer2013(fer_csv, "Training")
    voted = rows.labels.copy()
    voted[::5] = (voted[::5] + 1) % 7  # FER+ disagrees on every fifth row: its votes show where they were used
    votes = write_votes(tmp_path / "votes.csv", voted, ["Training"] * len(rows))
    cfg = TrainConfig(data=str(fer_csv), arch="fer_vgg", out=str(tmp_path / "run"), epochs=1, batch_size=16,
                      val_usage="PublicTest", mix=str(tmp_path / "ck"), ferplus=str(votes), ferplus_weight=1.0)
    train_ds = load_train_val_test(cfg)[0]
    mixed = train_ds.rows == MIXED_ROW
    assert mixed.sum() == 5 and (train_ds.rows[~mixed] >= 0).all()
    targets, info = build_targets(train_ds, cfg.ferplus, cfg.ferplus_weight, usage="Training")
    np.testing.assert_array_equal(targets[mixed].argmax(axis=1), train_ds.labels[mixed])
    np.testing.assert_array_equal(targets[~mixed].argmax(axis=1), voted[train_ds.rows[~mixed]])
    assert np.any(voted[train_ds.rows[~mixed]] != train_ds.labels[~mixed])
    assert info["ferplus"]["rows_with_votes"] == (~mixed).sum()
    run = train(cfg, verbose=0)
    config = runs.read_json(run / runs.CONFIG)
    assert config["hyperparameters"]["mix"] == str(tmp_path / "ck")
    assert config["targets"]["ferplus"]["rows_with_votes"] == (~mixed).sum()
    assert config["dataset"]["train"]["n"] == len(train_ds)


def test_run_inputs_give_one_hot_targets_and_the_asked_input_side(tmp_path, fer_csv):
    """Both trainers start from ``load_run_inputs``: one-hot targets where nothing soft mixes in (and nothing recorded
    about them), the architecture's channels at ``--input-size``'s side, and FER+ asked for on a folder refused."""
    from fer_core.training.trainer import load_run_inputs

    cfg = TrainConfig(data=str(fer_csv), arch="fer_vgg", out=str(tmp_path / "run"), val_usage="PublicTest",
                      input_size=40)
    inputs = load_run_inputs(cfg)
    assert inputs.input_shape == (40, 40, 1) and inputs.targets_info == {}
    assert inputs.targets.shape == (len(inputs.train), len(inputs.labels)) and inputs.targets.dtype == np.float32
    np.testing.assert_array_equal(inputs.targets.argmax(axis=1), inputs.train.labels)
    np.testing.assert_array_equal(inputs.targets.sum(axis=1), 1.0)
    assert inputs.labels == inputs.train.label_names and len(inputs.val) and inputs.test is None  # no test Usage asked
    folder = tmp_path / "faces" / "happy"
    folder.mkdir(parents=True)
    with pytest.raises(ValueError, match="takes no folder dataset.*Received: data="):
        load_run_inputs(dataclasses.replace(cfg, data=str(tmp_path / "faces"), ferplus=str(tmp_path / "votes.csv")))


def test_record_progress_copies_the_state_into_config(tmp_path):
    """After each epoch config.json holds the trainer's progress (what the runs page shows while a run trains)."""
    from fer_core.training.trainer import record_progress

    config = {"run_id": "r", "epochs_planned": 9}
    state = {"epochs_done": 3, "best_epoch": 2, "best_val_accuracy": 0.61, "train_seconds": 12.345, "wait": 1}
    record_progress(tmp_path, config, state, epochs_planned=7)
    saved = runs.read_json(tmp_path / runs.CONFIG)
    assert saved == config
    assert saved["epochs_planned"] == 7 and saved["epochs_done"] == 3 and saved["best_epoch"] == 2
    assert saved["best_source"] == "weights" and saved["train_seconds"] == 12.3 and saved["ended"]
