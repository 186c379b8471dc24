"""fer_core.runs.summary (and the text of ui.run_text): run status, table rows, evaluations and confusion-matrix
summaries on generated run folders."""
from __future__ import annotations

import os
import time
from datetime import datetime

import numpy as np
import pytest

from fer_core.runs import summary as rs
from ui import run_text
from fer_core import runs
from factories import CM, LABELS, make_run

def test_runs_roots_reads_env_and_sidebar_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "RUNS_DIR", tmp_path / "main")
    env = os.pathsep.join([str(tmp_path / "a"), "rel"])
    roots = rs.runs_roots(extra=f"{tmp_path / 'b'}\n{tmp_path / 'a'}", env=env, base=tmp_path)
    assert roots == [tmp_path / "main", tmp_path / "a", tmp_path / "rel", tmp_path / "b"]
    assert rs.runs_roots(None, None) == [tmp_path / "main"]


def test_collect_run_dirs_accepts_a_run_folder_as_root_and_skips_duplicates(tmp_path):
    a = make_run(tmp_path / "root", "a")
    make_run(tmp_path / "root", "b")
    (tmp_path / "root" / "not_a_run").mkdir()
    found = rs.collect_run_dirs([tmp_path / "root", a, tmp_path / "missing"])
    assert [p.name for p in found] == ["a", "b"]


def test_run_labels_disambiguate_same_id_in_two_roots(tmp_path):
    x, y, z = tmp_path / "one" / "r", tmp_path / "two" / "r", tmp_path / "two" / "s"
    assert rs.run_labels([x, y, z]) == {str(x): "r (one)", str(y): "r (two)", str(z): "s"}


def test_complete_run_summary_and_table_row(tmp_path):
    s = rs.summarize(make_run(tmp_path, "done"))
    assert s.status == rs.COMPLETE and s.problems == []
    row = run_text.table_row(s)
    assert row["run"] == "done" and row["dataset"] == "fer2013" and row["classes"] == 3
    assert row["architecture"] == "fer_vgg" and row["parameters"] == 12345 and row["epochs"] == 3
    assert row["best val acc"] == pytest.approx(0.65)
    assert row["test acc"] == pytest.approx(24 / 30)
    assert row["test acc (TTA)"] == pytest.approx(27 / 33)
    assert 0 < row["macro-F1"] < 1 and row["training time (min)"] == 1.5 and row["device"].startswith("CPU")


def test_training_run_is_in_progress_without_warnings_for_files_it_has_not_written(tmp_path):
    s = rs.summarize(make_run(tmp_path, "busy", "training", epochs=2))
    assert s.status == rs.TRAINING and s.in_progress and s.epochs_done == 2
    assert s.problems == []  # metrics.json and confusion_matrix.csv come at the end
    assert run_text.table_row(s)["status"] == "training 2/10"
    assert run_text.table_row(s)["test acc"] is None


def test_run_before_its_first_epoch_is_training(tmp_path):
    s = rs.summarize(make_run(tmp_path, "fresh", "starting"))
    assert s.status == rs.TRAINING and s.epochs_done == 0 and s.problems == []


def test_unfinished_run_untouched_for_long_is_stopped(tmp_path):
    d = make_run(tmp_path, "old", "training")
    s = rs.summarize(d, now=time.time() + 2 * rs.STALE_AFTER_SECONDS)
    assert s.status == rs.STOPPED and s.in_progress


def test_corrupt_and_missing_files_are_problems_and_the_rest_is_read(tmp_path):
    bad = rs.summarize(make_run(tmp_path, "bad", "corrupt"))
    assert bad.status == rs.INCOMPLETE and bad.info.history and bad.info.confusion
    assert any("metrics.json" in p and "not valid JSON" in p for p in bad.problems)
    nohist = rs.summarize(make_run(tmp_path, "nohist", "no_history"))
    assert nohist.status == rs.COMPLETE
    assert any("history.csv is missing" in p for p in nohist.problems)
    assert run_text.table_row(nohist)["best val acc"] == pytest.approx(0.65)  # from config.json


def test_corrupt_state_json_is_reported(tmp_path):
    d = make_run(tmp_path, "s", "training")
    (d / runs.STATE).write_text("[1, 2")
    assert any("state.json" in p for p in rs.summarize(d).problems)


def test_summarize_all_keeps_going_past_a_vanished_folder(tmp_path):
    good = make_run(tmp_path, "good")
    summaries, failed = rs.summarize_all([tmp_path / "gone", good])
    assert [s.run_id for s in summaries] == ["good"]
    assert failed[0][0].name == "gone" and "not found" in failed[0][1]


def test_default_pick_prefers_default_run_then_first_complete(tmp_path):
    a = rs.summarize(make_run(tmp_path, "a", "starting"))
    b = rs.summarize(make_run(tmp_path, "b"))
    c = rs.summarize(make_run(tmp_path, "c", "training"))
    assert rs.default_pick([a, b, c], c.path) == [str(c.path)]
    assert rs.default_pick([a, b, c], a.path) == [str(b.path)]  # the default has nothing to show yet
    assert rs.default_pick([a], None) == [str(a.path)]
    assert rs.default_pick([], None) == []


def test_row_normalise_and_most_confused():
    shares = rs.row_normalise(np.array([[2, 2], [0, 0]]))
    np.testing.assert_allclose(shares, [[0.5, 0.5], [0, 0]])
    pairs = run_text.most_confused(LABELS, CM, k=2)
    assert pairs[0] == {"true": "sad", "predicted as": "angry", "count": 3, "share of true class": pytest.approx(0.3)}
    assert pairs[1]["count"] == 1 and len(pairs) == 2
    assert run_text.most_confused(LABELS, np.diag([3, 3, 3])) == []


def test_evaluations_are_listed_newest_first_after_the_runs_own(tmp_path):
    d = make_run(tmp_path, "r")
    when = datetime(2026, 1, 2, 3, 4, 5)
    first = runs.new_evaluation_dir(d, "my data/set", when)
    assert first.name == "my_data_set-20260102-030405" and first.parent == d / runs.EVALUATIONS
    first.mkdir(parents=True)
    runs.write_confusion(first / runs.CONFUSION, LABELS, CM)
    second = runs.new_evaluation_dir(d, "my data/set", when)
    assert second.name == "my_data_set-20260102-030405-2"
    second.mkdir()
    runs.write_json(second / runs.METRICS, {"dataset": "x.csv", "split": "all", "n": 30, "labels": LABELS})
    assert runs.find_evaluations(d) == [first, second]
    evs = rs.run_evaluations(rs.summarize(d))
    assert [e.name for e in evs] == [rs.OWN_EVALUATION, second.name, first.name]
    assert evs[0].matrix is not None and evs[0].metrics["split"] == "PublicTest"
    assert any("metrics.json is missing" in p for p in evs[2].problems) and evs[2].usable
    assert run_text.evaluation_caption(evs[1]) == "all of x.csv (n=30)"


@pytest.mark.parametrize("hp, expected", [
    ({}, "fer2013"),
    ({"ferplus": "votes.csv", "ferplus_weight": 0.15}, "fer2013 + FER+ votes (0.15)"),
    ({"ferplus": "votes.csv", "ferplus_weight": 0.15, "mix": "../data/CK+48/"}, "fer2013 + FER+ votes (0.15) + CK+48"),
    ({"ferplus": None, "mix": None}, "fer2013"),
])
def test_training_data_text_names_votes_and_mixed_in_data(hp, expected):
    assert rs.training_data_text({"dataset": {"path": "x/fer2013.csv.gz"}, "hyperparameters": hp}) == expected
    assert rs.training_data_text({"hyperparameters": hp}) is None


def test_dataset_name_from_config():
    assert rs.dataset_name({"dataset": {"path": "/data/CK+48/"}}) == "CK+48"
    assert rs.dataset_name({"dataset": {"path": "x/fer2013.csv"}}) == "fer2013"
    assert rs.dataset_name({}) is None


def test_training_text_and_started_from_show_a_fine_tuned_runs_origin():
    """A fine-tuned run names its source and that run's epochs, so 22 epochs are not mistaken for the whole training."""
    from ui.run_text import started_from, training_text

    config = {"epochs_done": 22, "epochs_planned": 22, "train_seconds": 6000, "device": "CPU: x",
              "init_from": {"run_id": "fer_vgg_s0", "epochs_done": 60, "path": "models/runs/fer_vgg_s0"}}
    assert started_from(config) == "fer_vgg_s0 (60 epochs)"
    assert training_text(config) == "22 epochs, 100 min, on CPU: x; fine-tuned from fer_vgg_s0 (60 epochs)"
    assert started_from({"epochs_done": 3}) is None
    assert training_text({"epochs_done": 3, "epochs_planned": 10}) == "3 epochs of 10"
    assert training_text({}) == "unknown"


def test_training_text_says_when_a_run_computed_in_bfloat16():
    from ui.run_text import precision_text, training_text

    assert precision_text({"hyperparameters": {"precision": "float32"}}) is None
    assert precision_text({"hyperparameters": {}}) is None  # runs from before the option
    assert training_text({"epochs_done": 5, "hyperparameters": {"precision": "bfloat16"}}) == "5 epochs, bfloat16 compute"
    switched = {"hyperparameters": {"precision": "bfloat16"},
                "resumes": [{"after_epoch": 36}, {"after_epoch": 39, "precision": "bfloat16"}]}
    assert precision_text(switched) == "float32 compute, bfloat16 from epoch 40"
