"""Clip dataset grouping, subject-wise folds, the clip architecture, the clip classifier and the k-fold clip trainer."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_core import runs
from fer_core.training.clip_data import CLASS_SETS, load_clip_folder, parse_frame_name, resolve_classes, subject_folds
from fer_core.live.clips import ClipClassifier, load_clip_classifier, resample_frames
from fer_core.training.data import DatasetError

CK_FOLDERS = ("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")


def make_ck_folder(root: Path, subjects: int = 6, per_class: int = 2, frames: int = 3, folders=CK_FOLDERS,
                   seed: int = 0) -> Path:
    """A CK+48-style tree: ``<emotion>/S<subject>_<sequence>_<frame>.png``, a learnable band per class."""
    rng = np.random.default_rng(seed)
    for c, folder in enumerate(folders):
        d = root / folder
        d.mkdir(parents=True, exist_ok=True)
        for s in range(subjects):
            for q in range(per_class):
                seq = c * 10 + q + 1
                for f in range(frames):
                    img = rng.integers(0, 60, (48, 48)).astype(np.uint8)
                    img[c * 6:c * 6 + 6, :] = 200 + f * 10
                    cv2.imwrite(str(d / f"S{s + 10:03d}_{seq:03d}_{f + 7:08d}.png"), img)
    return root


def test_parse_frame_name_and_errors():
    assert parse_frame_name("S010_006_00000013.png") == ("S010", "006", 13)
    with pytest.raises(DatasetError, match="S<subject>_<sequence>_<frame>"):
        parse_frame_name("face_01.png")


def test_resolve_classes():
    assert resolve_classes(5) == ("happy", "surprise", "angry", "sad", "fear")
    assert resolve_classes("7") == CLASS_SETS["7"]
    assert resolve_classes("anger,sadness") == ("angry", "sad")
    with pytest.raises(ValueError, match="classes must be 5, 7"):
        resolve_classes(6)


def test_load_clip_folder_groups_frames_into_clips(tmp_path):
    root = make_ck_folder(tmp_path / "ck", subjects=3, per_class=2)
    (root / "happy" / "notes.txt").write_text("not an image")
    ds = load_clip_folder(root, classes=5)
    assert ds.label_names == ("happy", "surprise", "angry", "sad", "fear")
    assert ds.clips.shape == (5 * 3 * 2, 3, 48, 48) and ds.clips.dtype == np.uint8
    assert ds.class_counts() == {k: 6 for k in ds.label_names}
    assert set(ds.subjects) == {"S010", "S011", "S012"}
    # frames are in frame-number order: the band brightens 200 -> 210 -> 220 across the clip
    i = int(np.flatnonzero(ds.labels == 0)[0])
    band = CK_FOLDERS.index("happy") * 6
    assert [int(ds.clips[i, t, band, 0]) for t in range(3)] == [200, 210, 220]
    assert len(load_clip_folder(root, classes=7)) == 7 * 6


def test_load_clip_folder_keeps_last_frames_and_reports_problems(tmp_path):
    root = make_ck_folder(tmp_path / "ck", subjects=2, per_class=1, frames=4, folders=("happy", "fear"))
    ds = load_clip_folder(root, classes=("happy", "fear"), frames=3)
    band = 0  # "happy" is the first folder here
    assert [int(ds.clips[0, t, band, 0]) for t in range(3)] == [210, 220, 230]
    with pytest.raises(DatasetError, match="has 4 frames, expected at least 5"):
        load_clip_folder(root, classes=("happy", "fear"), frames=5)
    with pytest.raises(DatasetError, match=r"no folder for classes \['surprise'"):
        load_clip_folder(root, classes=("happy", "surprise"))
    (root / "sadness").mkdir()
    with pytest.raises(DatasetError, match="holds no frames"):
        load_clip_folder(root, classes=("happy", "sad"))
    cv2.imwrite(str(root / "fear" / "IMG_0001.png"), np.zeros((48, 48), np.uint8))
    with pytest.raises(DatasetError, match="IMG_0001.png"):
        load_clip_folder(root, classes=("happy", "fear"))
    with pytest.raises(FileNotFoundError):
        load_clip_folder(tmp_path / "missing")


def test_subject_folds_never_split_a_subject():
    rng = np.random.default_rng(1)
    subjects = np.array([f"S{s:03d}" for s in rng.integers(0, 40, 300)])
    folds = subject_folds(subjects, 5, seed=3)
    assert len(folds) == 5
    tested = np.concatenate([te for _, te in folds])
    assert sorted(tested) == list(range(300))  # every clip held out exactly once
    for train, test in folds:
        assert not set(subjects[train]) & set(subjects[test])
        assert len(train) + len(test) == 300
    sizes = [len(te) for _, te in folds]
    assert max(sizes) - min(sizes) <= max(np.unique(subjects, return_counts=True)[1])
    with pytest.raises(ValueError, match="k must be between 2"):
        subject_folds(subjects[:5], 10)


def test_resample_frames():
    assert resample_frames(3, 3).tolist() == [0, 1, 2]
    assert resample_frames(10, 3).tolist() == [0, 4, 9]  # spread, ending on the last frame
    assert resample_frames(1, 3).tolist() == [0, 0, 0]


def test_clip_model_builds_and_runs():
    from fer_core.training.architectures import create_model, get_spec, list_models

    assert "ck_convlstm" in list_models()
    assert get_spec("ck_convlstm").recipe["kind"] == "clip"
    model = create_model("ck_convlstm", 5)
    assert model.input_shape == (None, 3, 48, 48, 1)
    out = model.predict(np.random.default_rng(0).uniform(0, 255, (2, 3, 48, 48, 1)).astype("float32"), verbose=0)
    assert out.shape == (2, 5)
    np.testing.assert_allclose(out.sum(1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match=r"\(T, H, W, 1\)"):
        create_model("ck_convlstm", 5, (48, 48, 1))
    with pytest.raises(ValueError, match=r"\(H, W, 1\)"):  # image models keep their check
        create_model("fer_vgg", 7, (3, 48, 48, 1))


def test_clip_classifier_takes_any_crop_size_and_length():
    from fer_core.inference.classifier import ModelLoadError
    from fer_core.training.architectures import create_model

    clf = ClipClassifier(create_model("ck_convlstm", 3), ("happy", "sad", "fear"))
    assert clf.frames == 3
    rng = np.random.default_rng(0)
    p = clf.predict_proba(rng.integers(0, 255, (2, 5, 90, 70), dtype=np.uint8))
    assert p.shape == (2, 3) and np.allclose(p.sum(1), 1, atol=1e-5)
    bgr = [[rng.integers(0, 255, (60, 60, 3), dtype=np.uint8)] * 2]
    assert clf.predict_proba(bgr).shape == (1, 3)
    assert clf.predict_proba(np.zeros((0, 3, 48, 48), np.uint8)).shape == (0, 3)
    symmetric = np.tile(np.hstack([np.arange(24), np.arange(24)[::-1]]).astype(np.uint8) * 10, (1, 3, 48, 1))
    np.testing.assert_allclose(clf.predict_proba(symmetric, tta=True), clf.predict_proba(symmetric), atol=1e-5)
    with pytest.raises(ValueError, match="clips must be"):
        clf.predict_proba(np.zeros((48, 48), np.uint8))
    with pytest.raises(ModelLoadError, match="outputs but 2 labels"):
        ClipClassifier(create_model("ck_convlstm", 3), ("a", "b"))
    with pytest.raises(ModelLoadError, match="Not a clip model"):
        ClipClassifier(create_model("fer2013_cnn", 3), ("a", "b", "c"))


def test_train_clips_writes_a_complete_run(tmp_path, fer_csv):
    from fer_core.training.clip_training import ClipTrainConfig, train_clips
    from fer_core.live.clips import is_clip_run
    from fer_core.inference.classifier import ModelLoadError

    data = make_ck_folder(tmp_path / "ck", subjects=4, per_class=1, folders=("happy", "surprise", "anger", "sadness", "fear"))
    seen = []
    out = train_clips(ClipTrainConfig(data=str(data), out=str(tmp_path / "runs" / "clip_run"), classes=5, folds=2,
                                      epochs=2, batch_size=8, pretrain=str(fer_csv), pretrain_epochs=1),
                      on_fold=seen.append)
    info = runs.load_run(out)
    assert info.problems == []
    assert [f["fold"] for f in seen] == [1, 2]
    cfg = info.config
    assert cfg["kind"] == "clip" and cfg["labels"] == ["happy", "surprise", "angry", "sad", "fear"]
    assert len(cfg["folds"]) == 2 and cfg["final_model"]["trained_on"] == "all subjects"
    assert cfg["pretraining"]["n_images"] == 28 and cfg["pretraining"]["epochs"] == 1  # fer_csv's Training rows
    for fold in cfg["folds"]:
        assert 0.0 <= fold["accuracy"] <= 1.0
    assert cfg["kfold_accuracy_mean"] == pytest.approx(np.mean([f["accuracy"] for f in cfg["folds"]]))
    assert info.metrics["n"] == 20  # every clip held out once
    assert info.metrics["kfold"]["fold_accuracies"] == [f["accuracy"] for f in cfg["folds"]]
    assert info.confusion[1].sum() == 20
    assert [r["epoch"] for r in info.history] == [1, 2] and info.history[0]["val_accuracy"] is not None
    assert is_clip_run(out)
    clf = load_clip_classifier(out)
    assert clf.labels == ("happy", "surprise", "angry", "sad", "fear")
    assert clf.predict_proba(np.zeros((1, 3, 64, 64), np.uint8)).shape == (1, 5)
    with pytest.raises(ModelLoadError):
        load_clip_classifier(tmp_path / "nowhere")


def test_recipe_defaults_differ_when_fine_tuning_a_pretrained_frame_cnn():
    from fer_core.training.clip_training import ClipTrainConfig
    from fer_core.training.architectures import get_spec

    recipe = get_spec("ck_convlstm").recipe
    scratch = ClipTrainConfig("d", "o").resolved()
    tuned = ClipTrainConfig("d", "o", pretrain="fer.csv").resolved()
    assert (scratch.lr, scratch.epochs, scratch.batch_size) == (recipe["lr"], recipe["epochs"], 32)
    assert (tuned.lr, tuned.epochs, tuned.pretrain_epochs) == (recipe["finetune_lr"], recipe["finetune_epochs"],
                                                              recipe["pretrain_epochs"])
    assert ClipTrainConfig("d", "o", pretrain="fer.csv", lr=0.5, epochs=3).resolved().lr == 0.5
    with pytest.raises(ValueError, match="not a clip architecture"):
        ClipTrainConfig("d", "o", arch="fer_vgg").resolved()


def test_train_clips_cli_maps_arguments_and_prints_the_kfold_figure(tmp_path, capsys, monkeypatch):
    from fer_core.training import train_clips_cli as cli

    run = tmp_path / "run"
    run.mkdir()
    metrics = {"labels": ["happy", "fear"], "n": 4, "accuracy": 0.75, "macro_f1": 0.7,
               "per_class": {k: {"precision": 1, "recall": 1, "f1": 1, "support": 2} for k in ("happy", "fear")},
               "kfold": {"k": 3, "fold_accuracies": [1.0, 0.5, 0.75], "mean": 0.75, "std": 0.2}}
    runs.write_json(run / runs.METRICS, metrics)
    got = []
    monkeypatch.setattr(cli, "train_clips", lambda cfg, verbose=0: got.append(cfg) or run)
    assert cli.main(["--data", "ck", "--classes", "happy,fear", "--folds", "3", "--epochs", "4", "--batch-size", "8",
                     "--no-augment", "--class-weight", "--final-model", "none", "--pretrain", "fer.csv",
                     "--pretrain-epochs", "2", "--out", str(run)]) == 0
    [cfg] = got
    assert (cfg.classes, cfg.folds, cfg.epochs, cfg.batch_size, cfg.augment, cfg.class_weight, cfg.final_model,
            cfg.arch, cfg.pretrain, cfg.pretrain_epochs) == \
        ("happy,fear", 3, 4, 8, False, True, "none", "ck_convlstm", "fer.csv", 2)
    text = capsys.readouterr().out
    assert "fold accuracies: 1.0000, 0.5000, 0.7500" in text
    assert "3-fold by subject: mean accuracy 0.7500 +- 0.2000" in text
    with pytest.raises(SystemExit):
        cli.main(["--data", "ck", "--out", str(run), "--arch", "fer_vgg"])  # image models are not clip models
