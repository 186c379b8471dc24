"""Home page (AppTest): what the app does, how to use each page, the active model's card, model errors."""
from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import fer_core
from fer_core import runs
from fer_core.inference.classifier import ModelLoadError
from ui import home, keys, model_cache, model_card, model_picker

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "streamlit_app.py")


@pytest.fixture(scope="module")
def clf(tiny_run):
    return fer_core.load_classifier(tiny_run)


@pytest.fixture
def app_with(monkeypatch, tiny_run, clf, tmp_path):
    """The home page with the tiny run as the default model (and a second stored run to pick)."""
    other = tmp_path / "other_run"
    shutil.copytree(tiny_run, other)
    monkeypatch.setattr(runs, "default_run_dir", lambda: Path(tiny_run))
    monkeypatch.setattr(model_picker, "available_model_runs", lambda: [Path(tiny_run), other])
    loaded = []

    def fake_cached(path):
        loaded.append(path)
        return clf

    monkeypatch.setattr(model_cache, "cached_classifier", fake_cached)
    monkeypatch.setattr(model_cache, "cached_runtime", lambda backend="tensorflow": f"CPU: Test CPU (2 cores), {backend}")
    return loaded, other


def run(at: AppTest) -> AppTest:
    at.run(timeout=120)
    assert not at.exception, at.exception
    return at


def page_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_home_explains_the_app_and_each_page(app_with):
    at = run(AppTest.from_file(APP))
    assert at.title[0].value == "Facial expression recognition"
    text = page_text(at)
    for page in ("Upload photo", "Webcam", "Training runs", "Video analysis", "Class dashboard"):
        assert f"**{page}**" in text
    assert "python -m fer_core.analyze" in text
    privacy = "\n".join(i.value for i in at.info)  # both sides, plainly: nothing kept, except a class's aggregates
    assert "Nothing you upload or stream is stored or sent anywhere" in privacy
    assert "when a student joins a class" in privacy and "never a frame" in privacy
    assert f"for {home.class_store.retention_days_or_default():g} days" in privacy and "teacher" in privacy


def test_home_is_the_first_entry_of_the_navigation():
    """The sidebar's first entry reads "Home" (it read "streamlit app", the entry file's name), then every page."""
    tree = ast.parse((REPO / "streamlit_app.py").read_text())
    pages = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Page"]
    first = {k.arg: k.value for k in pages[0].keywords}
    assert ast.literal_eval(first["title"]) == "Home" and ast.literal_eval(first["default"]) is True
    files = [ast.literal_eval(p.args[0]) for p in pages[1:]]
    assert sorted(files) == sorted(f"pages/{f.name}" for f in (REPO / "pages").glob("*.py"))


def test_model_card_shows_the_active_model(app_with, clf, tiny_run):
    at = run(AppTest.from_file(APP))
    text = page_text(at)
    assert f"`{clf.name}`" in text
    assert "fer_vgg" in text  # architecture
    assert "fer_small.csv" in text and "Training split" in text  # training data
    assert ", ".join(clf.labels) in text
    assert f"{clf.n_params:,}" in text
    assert "CPU: Test CPU (2 cores)" in text
    assert "**Training:** 2 epochs" in text and "fine-tuned" not in text  # trained from scratch
    metrics = json.loads((Path(tiny_run) / runs.METRICS).read_text())
    assert metrics["split"] == "PublicTest"
    assert f"**{100 * metrics['accuracy']:.1f}%** on PublicTest" in text
    # PublicTest picked the epoch, so its accuracy is a selection figure, and the card says so
    assert "**Model selected on:** PublicTest" in text and "a selection figure" in text


def test_model_card_names_the_selection_split_and_a_test_figure(tmp_path):
    config = {"selection_split": "validation", "dataset": {"validation": {"split": "validation", "n": 100}}}
    assert model_card.selection_split(config) == "validation"
    assert model_card.selection_split({"dataset": {"validation": {"split": "PublicTest"}}}) == "PublicTest"
    assert model_card.selection_split({}) == "PublicTest"  # runs written before the field existed
    assert "validation (100 faces): the epoch with the best validation accuracy" in model_card.selection_text(config)
    run = tmp_path / "r"
    run.mkdir()
    runs.write_json(run / runs.METRICS, {"split": "PublicTest", "accuracy": 0.6, "n": 10})
    assert "a test figure (the model was selected on validation)" in model_card.accuracy_text(run, config)
    runs.write_json(run / runs.METRICS, {"split": "PublicTest", "accuracy": 0.6, "n": 10, "unseen": {
        "compared_with": "Training", "copies_left_out": 2, "n": 8, "accuracy": 0.5}})
    assert ("**60.0%** on PublicTest (10 faces); **50.0%** on the 8 faces that are not pixel-for-pixel copies of "
            "Training images — a test figure") in model_card.accuracy_text(run, config)
    runs.write_json(run / runs.METRICS, {"split": "PublicTest", "accuracy": 0.6, "n": 10, "unseen": {"n": "eight"}})
    assert "pixel-for-pixel" not in model_card.accuracy_text(run, config)  # a hand-edited block is left out
    ensemble = {"kind": "ensemble", "members": ["a", "b"], "dataset": {"validation": {"split": "holdout", "n": 50}}}
    assert model_card.selection_text(ensemble) == "holdout (50 faces): each member kept its epoch of best holdout accuracy"
    picked = model_card.selection_text({**ensemble, "best_val_accuracy": 0.7148})
    assert picked.endswith("; the members are the mix with the best holdout accuracy; the ensemble scores 71.5% on it")
    named = model_card.selection_text({**ensemble, "best_val_accuracy": 0.7148,
                                       "selection": {"split": "holdout", "what": "runs named by hand"}})
    assert named.endswith("; the members are runs named by hand; the ensemble scores 71.5% on it")
    # members trained on differing copies of the data leave the ensemble no dataset: selection.split still says
    assert model_card.selection_split({"kind": "ensemble", "selection": {"split": "holdout"}}) == "holdout"


def test_model_card_says_what_an_ensemble_or_a_cascade_computes():
    plain = model_card.ensemble_text({"kind": "ensemble"}, ["a", "b"], ["fer_vgg", "fer_vgg"])
    assert plain == "ensemble of 2 runs, their softmax outputs averaged: `a` (fer_vgg), `b` (fer_vgg)"
    cascade = model_card.ensemble_text({"kind": "ensemble", "cascade": {"threshold": 0.675}}, ["a", "b"], [])
    assert cascade == ("cascade of 2 runs: `a` answers alone where its top probability is at least 0.675; elsewhere "
                       "the softmax outputs of all 2 are averaged: `a` (?), `b` (?)")


def test_model_card_training_data_names_ferplus_votes_and_mixed_in_data():
    """Runs trained with FER+ votes or CK+48 mixed in must not read like runs on FER2013's labels alone."""
    train = {"dataset": {"train": {"source": "d/fer2013.csv.gz", "split": "Training", "n": 25837}}}
    assert model_card._dataset_text(train) == "fer2013.csv.gz, Training split, 25,837 faces"
    both = {**train, "hyperparameters": {"ferplus": "votes.csv", "ferplus_weight": 0.15, "mix": "d/CK+48"}}
    assert model_card._dataset_text(both) == "fer2013.csv.gz, Training split, 25,837 faces + FER+ votes (0.15) + CK+48"


def test_model_card_while_training_shows_the_best_validation_epoch(tiny_run, tmp_path):
    run_dir = tmp_path / "in_progress"
    shutil.copytree(tiny_run, run_dir)
    (run_dir / runs.METRICS).unlink()
    config = runs.read_json(run_dir / runs.CONFIG)
    text = model_card.accuracy_text(run_dir, config)
    assert "training in progress" in text and "best validation accuracy so far" in text
    assert model_card.accuracy_text(tmp_path / "nothing", {}) == "not evaluated yet"
    # the figure is the one that picked model.keras: with --ema it may be the averaged weights' column
    runs.write_json(run_dir / runs.CONFIG, {**config, "best_val_accuracy": 0.9, "best_epoch": 1, "best_source": "ema"})
    text = model_card.accuracy_text(run_dir, runs.read_json(run_dir / runs.CONFIG))
    assert "**90.0%**" in text and "(epoch 1 of 2, averaged weights)" in text
    (run_dir / runs.HISTORY).unlink()  # a run from before config.json kept its best: the best of both columns
    for row in ({"epoch": 1, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.5, "lr": 0.01,
                 "ema_val_accuracy": 0.7},
                {"epoch": 2, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.6, "lr": 0.01}):
        runs.append_history(run_dir, row)
    bare = {k: v for k, v in config.items() if not k.startswith("best_")}
    assert "**70.0%**" in model_card.accuracy_text(run_dir, bare) and "(epoch 1 of 2)" in model_card.accuracy_text(run_dir, bare)


def test_picking_another_stored_model(app_with):
    loaded, other = app_with
    at = run(AppTest.from_file(APP))
    box = at.selectbox(key=keys.MODEL_PICKER)
    assert box.options[0].startswith("Default (")
    assert box.options[-1] == other.name  # the default run is not listed twice
    box.set_value(str(other))
    run(at)
    assert at.session_state[keys.MODEL_CHOICE] == str(other)
    assert loaded[-1] == str(other)  # the card is of the picked model


def test_missing_model_is_a_clear_error_not_a_traceback(monkeypatch, tiny_run):
    monkeypatch.setattr(runs, "default_run_dir", lambda: Path(tiny_run))
    monkeypatch.setattr(model_picker, "available_model_runs", lambda: [])

    def broken(path):
        raise ModelLoadError("Model file not found. Received: path='models/runs/x/model.keras'")

    monkeypatch.setattr(model_cache, "cached_classifier", broken)
    at = run(AppTest.from_file(APP))
    assert len(at.error) == 1 and "could not be loaded" in at.error[0].value
    assert "Model file not found" in at.error[0].value


def test_model_card_of_an_ensemble_lists_members_and_sums_parameters(monkeypatch, tiny_run, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(tiny_run, root / "s0")
    shutil.copytree(tiny_run, root / "s1")
    ens = root / "ens"
    ens.mkdir()
    runs.write_json(ens / runs.CONFIG, {"kind": "ensemble", "run_id": "ens", "members": ["s0", "s1"],
                                        "architecture": "ensemble", "inference": {"tta": "crops"}})
    monkeypatch.setattr(runs, "default_run_dir", lambda: root / "s0")
    monkeypatch.setattr(model_picker, "available_model_runs", lambda: [root / "s0", ens])
    monkeypatch.setattr(model_cache, "cached_runtime", lambda backend="tensorflow": f"CPU: Test CPU (2 cores), {backend}")
    monkeypatch.setattr(model_cache, "cached_classifier", lambda path: fer_core.load_classifier(path or root / "s0"))
    at = run(AppTest.from_file(APP))
    box = at.selectbox(key=keys.MODEL_PICKER)
    assert box.options == ["Default (s0)", "ens (ensemble)"]
    box.set_value(str(ens))
    run(at)
    text = page_text(at)
    one = fer_core.load_classifier(tiny_run).n_params
    assert "`ens`" in text and "ensemble of 2 runs" in text and "`s0` (fer_vgg), `s1` (fer_vgg)" in text
    assert f"{2 * one:,} (sum of the 2 members)" in text
    assert "fer_small.csv" in text and "(each member)" in text
    assert "not evaluated yet" in text and "crops (flip x 5 shifted views averaged)" in text
