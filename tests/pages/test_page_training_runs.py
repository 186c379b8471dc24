"""The Training Runs page (AppTest) on generated run folders, and its upload/figure helpers in ui.training_runs."""
from __future__ import annotations

import base64
import io
import shutil
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import plotly.graph_objects as go
import plotly.io as pio
from streamlit.testing.v1 import AppTest

from fer_core.runs import summary as rs
from fer_core import runs
from ui import keys, training_runs as runs_ui
from factories import CM, LABELS, make_run, with_test_copies

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "3_Training_runs.py")


@pytest.fixture
def main_dir(tmp_path, monkeypatch) -> Path:
    """An empty models/runs/ stand-in and no shipped default, so the real runs never show in tests."""
    main = tmp_path / "main_runs"
    main.mkdir()
    monkeypatch.setattr(runs, "RUNS_DIR", main)
    monkeypatch.setattr(runs, "DEFAULT_FILE", tmp_path / "no_default.json")
    monkeypatch.delenv(rs.ENV_RUNS_DIRS, raising=False)
    return main


@pytest.fixture
def extra_runs(tmp_path, main_dir, monkeypatch) -> Path:
    """Complete, training, corrupt and history-less runs in a folder named by FER_RUNS_DIRS."""
    extra = tmp_path / "extra_runs"
    make_run(extra, "a_complete")
    make_run(extra, "b_training", "training", epochs=2)
    make_run(extra, "c_corrupt", "corrupt")
    make_run(extra, "d_no_history", "no_history")
    monkeypatch.setenv(rs.ENV_RUNS_DIRS, str(extra))
    return extra


def run_page(**session) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for k, v in session.items():
        at.session_state[k] = v
    return at.run()


def charts(at: AppTest) -> list[go.Figure]:
    return [pio.from_json(c.proto.spec) for c in at.get("plotly_chart")]


def arr(value) -> np.ndarray:
    """A figure array as plotly serialises it (base64 ``bdata`` for numpy arrays) back to numpy."""
    if isinstance(value, dict) and "bdata" in value:
        shape = [int(n) for n in str(value.get("shape", "-1")).split(",")]
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).reshape(shape)
    return np.asarray(value)


def trace_types(fig: go.Figure) -> list[str]:
    return [t.type for t in fig.data]


def test_table_lists_every_run_with_warnings_for_broken_ones(extra_runs):
    at = run_page()
    assert not at.exception
    df = at.dataframe[0].value
    assert list(df["run"]) == ["a_complete", "b_training", "c_corrupt", "d_no_history"]
    row = df.set_index("run").loc["a_complete"]
    assert row["dataset"] == "fer2013" and row["architecture"] == "fer_vgg" and row["classes"] == 3
    assert row["test acc"] == pytest.approx(0.8) and row["best val acc"] == pytest.approx(0.65)
    assert row["test acc (no copies)"] == pytest.approx(22 / 28)  # CM less the two copies, both right
    assert df.set_index("run").loc["b_training", "status"] == "training 2/10"
    warnings = " ".join(w.value for w in at.warning)
    assert "c_corrupt" in warnings and "not valid JSON" in warnings
    assert "d_no_history" in warnings and "history.csv is missing" in warnings
    assert "a_complete" not in warnings and "b_training" not in warnings
    assert any("b_training" in i.value and "is training" in i.value for i in at.info)


def test_one_run_shows_curves_confusion_matrix_pairs_and_bars(extra_runs):
    at = run_page()
    assert at.multiselect(key=keys.RUNS_PICKED).value == [str(extra_runs / "a_complete")]
    figs = charts(at)
    curves, heat, bars = figs
    assert {t.name for t in curves.data} >= {"a_complete · train", "a_complete · validation",
                                                   "a_complete · learning rate"}
    assert any(t.yaxis == "y2" for t in curves.data)  # learning rate on the secondary axis
    assert trace_types(heat) == ["heatmap"] and np.array_equal(arr(heat.data[0].z), CM)
    assert trace_types(bars) == ["bar"] * 3
    pairs = at.dataframe[1].value
    assert list(pairs.iloc[0][["true", "predicted as", "count"]]) == ["sad", "angry", 3]
    assert [m.label for m in at.metric][:3] == ["accuracy", "macro-F1", "accuracy with flip TTA"]
    assert [m.label for m in at.metric][4:6] == ["accuracy without copies", "macro-F1 without copies"]
    assert at.metric[4].value == "78.6%"
    assert any("Without the 2 images that are pixel-for-pixel copies of images in Training" in c.value
               and "28 images" in c.value for c in at.caption)
    assert {b.label.split(" ")[0] for b in at.get("download_button")} == {
        "history.csv", "metrics.json", "confusion_matrix.csv", "model.keras"}
    assert at.json[0].value  # the configuration


def test_row_normalised_toggle(extra_runs):
    at = run_page()
    at.toggle(key=keys.RUNS_NORMALISE).set_value(True).run()
    assert not at.exception
    z = arr(charts(at)[1].data[0].z)
    np.testing.assert_allclose(z.sum(axis=1), 1.0)


def test_two_runs_side_by_side_and_training_curves_overlaid(extra_runs):
    a, b, d = (str(extra_runs / n) for n in ("a_complete", "b_training", "d_no_history"))
    at = run_page(**{keys.RUNS_PICKED: [a, d]})
    assert not at.exception
    figs = charts(at)
    heatmaps = [f for f in figs if trace_types(f) == ["heatmap"]]
    assert len(heatmaps) == 4  # two side by side + one in each run's tab
    assert [f.layout.title.text for f in heatmaps[:2]] == ["a_complete", "d_no_history"]
    assert any(f.layout.title.text == "F1 per class" for f in figs)
    assert len(at.tabs) == 2
    assert any("No epochs recorded yet for: d_no_history" in c.value for c in at.caption)

    at = run_page(**{keys.RUNS_PICKED: [a, b]})
    assert not at.exception
    names = {t.name for t in charts(at)[0].data}
    assert "b_training (training) · validation" in names and "a_complete · train" in names
    assert any("No metrics yet: b_training is still training" in i.value for i in at.info)


def test_empty_runs_folder_says_how_to_train(main_dir):
    at = run_page()
    assert not at.exception
    assert "python -m fer_core.train --data" in at.info[0].value
    assert not at.get("plotly_chart")


def test_extra_folder_from_the_sidebar(tmp_path, main_dir):
    other = tmp_path / "other"
    make_run(other, "sidebar_run")
    at = run_page()
    at.sidebar.text_input(key=keys.RUNS_EXTRA_DIRS).input(str(other)).run()
    assert not at.exception
    assert list(at.dataframe[0].value["run"]) == ["sidebar_run"]
    at.sidebar.text_input(key=keys.RUNS_EXTRA_DIRS).input(str(tmp_path / "nowhere")).run()
    assert any("Folder not found" in w.value for w in at.sidebar.warning)


@pytest.fixture
def tiny_copy(tiny_run, tmp_path, main_dir, monkeypatch) -> Path:
    """A copy of the trained tiny run (evaluations get written into it) in the folder FER_RUNS_DIRS names."""
    root = tmp_path / "eval_runs"
    root.mkdir()
    dst = shutil.copytree(tiny_run, root / "tiny")
    monkeypatch.setenv(rs.ENV_RUNS_DIRS, str(root))
    return dst


def test_evaluate_on_an_uploaded_csv_writes_and_shows_a_new_evaluation(tiny_copy, fer_csv, tmp_path):
    base = str(tiny_copy)
    data = with_test_copies(fer_csv, tmp_path / "copies.csv", k=3)  # 3 PublicTest rows repeat Training rows
    at = run_page()
    assert not at.exception
    assert at.button(key=f"{keys.RUNS_EVAL_START}:{base}").disabled  # until a file is uploaded
    at.get_by_key(f"{keys.RUNS_EVAL_UPLOAD}:{base}").set_value(("my faces.csv", data.read_bytes(), "text/csv"))
    at.selectbox(key=f"{keys.RUNS_EVAL_USAGE}:{base}").set_value("PublicTest")
    at.run()
    at.button(key=f"{keys.RUNS_EVAL_START}:{base}").click().run()
    assert not at.exception
    [out] = runs.find_evaluations(tiny_copy)
    assert out.name.startswith("my_faces-PublicTest-")
    metrics = runs.read_json(out / runs.METRICS)
    assert metrics["dataset"] == "my faces.csv" and metrics["split"] == "PublicTest" and metrics["n"] == 31
    assert "tta" in metrics and metrics["model"] == "tiny"
    assert metrics["unseen"]["copies_left_out"] == 3 and metrics["unseen"]["n"] == 28
    labels, cm = runs.read_confusion(out / runs.CONFUSION)
    assert cm.sum() == 31 and labels == metrics["labels"]
    assert at.selectbox(key=f"{keys.RUNS_EVAL_CHOICE}:{base}").value == out.name
    assert any(out.name in s.value for s in at.success)
    choice = at.selectbox(key=f"{keys.RUNS_EVAL_CHOICE}:{base}")
    assert f"{out.name} · PublicTest of my faces.csv (n=31)" in choice.options
    assert at.metric[0].value == f"{metrics['accuracy']:.1%}"
    assert at.metric[4].label == "accuracy without copies"
    assert at.metric[4].value == f"{metrics['unseen']['accuracy']:.1%}"


def test_evaluate_reports_a_bad_upload_without_a_traceback(tiny_copy):
    base = str(tiny_copy)
    at = run_page()
    at.get_by_key(f"{keys.RUNS_EVAL_UPLOAD}:{base}").set_value(("broken.csv", b"emotion,pixels\n9,1 2 3\n", "text/csv"))
    at.run()
    at.button(key=f"{keys.RUNS_EVAL_START}:{base}").click().run()
    assert not at.exception
    assert "Could not evaluate" in at.error[0].value and "emotion must be 0-6" in at.error[0].value
    assert not (tiny_copy / runs.EVALUATIONS).exists()


def _png(label: int) -> bytes:
    img = np.full((64, 64), 30, np.uint8)
    img[label * 8: label * 8 + 8] = 220
    return cv2.imencode(".png", img)[1].tobytes()


def test_dataset_from_a_zip_of_class_folders_leaves_nothing_on_disk(monkeypatch, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i, cls in enumerate(["anger", "happy"]):
            for k in range(3):
                z.writestr(f"CK+mini/{cls}/S00{k}_001_0000000{k}.png", _png(i))
        z.writestr("__MACOSX/CK+mini/._x", b"junk")
    made = []
    real = runs_ui.tempfile.TemporaryDirectory

    def spy(*a, **kw):
        made.append(real(*a, **kw))
        return made[-1]

    monkeypatch.setattr(runs_ui.tempfile, "TemporaryDirectory", spy)
    ds, copies = runs_ui.read_upload("mini.zip", buf.getvalue(), size=48)
    assert copies is None  # class folders have no Training rows to compare with
    assert ds.label_names == ("angry", "happy") and len(ds) == 6 and ds.images.shape[1:] == (48, 48)
    assert ds.source == "mini.zip"
    assert made and not Path(made[0].name).exists()


def test_read_upload_rejects_wrong_files():
    with pytest.raises(ValueError, match="not a valid zip"):
        runs_ui.read_upload("x.zip", b"PK nope")
    with pytest.raises(ValueError, match="Received: 'faces.txt'"):
        runs_ui.read_upload("faces.txt", b"")


def test_figures_from_histories_and_matrices():
    hist = [{"epoch": 1, "loss": 1.0, "accuracy": 0.5, "val_loss": None, "val_accuracy": None, "lr": 0.1}]
    fig = runs_ui.curves_figure([("r", hist, True)])
    assert {t.name for t in fig.data} == {"r (training) · train", "r (training) · learning rate"}
    heat = runs_ui.confusion_figure(LABELS, CM, normalise=True)
    assert heat.data[0].text[2][0] == "30%"
    bars = runs_ui.per_class_figure({"per_class": {"a": {"precision": 1, "recall": 0.5, "f1": 0.66, "support": 2}}})
    assert [t.name for t in bars.data] == ["precision", "recall", "F1"]


def test_curves_show_the_weight_average_when_a_run_kept_one():
    hist = [{"epoch": e, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.4, "lr": 0.1,
             "ema_val_accuracy": None if e == 1 else 0.45} for e in (1, 2, 3)]
    fig = runs_ui.curves_figure([("r", hist, False)])
    ema = [t for t in fig.data if t.name == "r · weight average (EMA), validation"]
    assert len(ema) == 1 and list(ema[0].y) == [None, 0.45, 0.45] and ema[0].showlegend


def test_an_ensemble_run_shows_its_members_metrics_and_no_curves(tmp_path, main_dir, monkeypatch):
    root = tmp_path / "ens_runs"
    make_run(root, "m0")
    make_run(root, "m1")
    ens = root / "ens"
    ens.mkdir()
    runs.write_json(ens / runs.CONFIG, {"kind": "ensemble", "run_id": "ens", "members": ["m0", "m1"],
                                        "labels": LABELS, "n_params": 24690, "inference": {"tta": "crops"},
                                        "dataset": {"path": "../shared/data/fer2013/fer2013.csv.gz"}})
    metrics = {"dataset": "fer2013.csv.gz", "split": "PublicTest", "labels": LABELS,
               **rs_metrics(CM + np.eye(3, dtype=int))}
    metrics["tta"] = {"method": "crops", **rs_metrics(CM + 2 * np.eye(3, dtype=int))}
    runs.write_json(ens / runs.METRICS, metrics)
    runs.write_confusion(ens / runs.CONFUSION, LABELS, CM + np.eye(3, dtype=int))
    lonely = root / "unevaluated"
    lonely.mkdir()
    runs.write_json(lonely / runs.CONFIG, {"kind": "ensemble", "members": ["m0", "gone"], "labels": LABELS})
    monkeypatch.setenv(rs.ENV_RUNS_DIRS, str(root))

    at = run_page(**{keys.RUNS_PICKED: [str(ens)]})
    assert not at.exception
    df = at.dataframe[0].value.set_index("run")
    assert df.loc["ens", "architecture"] == "ensemble of m0 + m1" and df.loc["ens", "status"] == "complete"
    assert df.loc["ens", "parameters"] == 24690 and df.loc["ens", "test acc (TTA)"] == pytest.approx(30 / 36)
    assert df.loc["unevaluated", "status"] == "not evaluated"
    infos = " ".join(i.value for i in at.info)
    assert "**ens** is an ensemble of **m0** and **m1**" in infos and "no training curves" in infos
    assert "unevaluated** is an ensemble not evaluated yet" in infos
    warnings = " ".join(w.value for w in at.warning)
    assert "ensemble member 'gone' not found" in warnings
    assert not any(w.value.startswith("**ens**") for w in at.warning)
    figs = charts(at)
    assert [trace_types(f)[0] for f in figs] == ["heatmap", "bar"]  # no curves
    assert np.array_equal(arr(figs[0].data[0].z), CM + np.eye(3, dtype=int))
    assert [m.label for m in at.metric][2] == "accuracy with crops TTA"
    members = next(d.value for d in at.dataframe if "member" in d.value.columns)
    assert list(members["member"]) == ["m0", "m1"] and list(members["model"]) == ["found", "found"]
    assert any("model.keras: none" in c.value for c in at.caption)

    at = run_page(**{keys.RUNS_PICKED: [str(ens), str(root / "m0")]})  # with a trained run: its curves only
    assert not at.exception
    names = {t.name for t in charts(at)[0].data}
    assert "m0 · train" in names and not any(n.startswith("ens") for n in names)


def rs_metrics(cm):
    from fer_core.training.evaluation import metrics_from_confusion

    return metrics_from_confusion(cm, LABELS)


def test_runs_say_which_split_picked_the_model_and_plot_the_test_curve():
    """A run selected on the holdout reports PublicTest as a test figure, and its test curve is drawn apart."""
    from ui import run_text

    holdout = {"dataset": {"validation": {"split": "holdout (10% of Training)", "n": 2872}},
               "selection": {"split": "holdout (10% of Training)", "what": "the epoch with the best validation accuracy"}}
    assert run_text.selection_split(holdout) == "holdout (10% of Training)"
    assert run_text.selection_split({}) == "PublicTest"  # runs from before the field were selected on PublicTest
    hist = [{"epoch": e, "loss": 1.0 / e, "accuracy": 0.5, "val_accuracy": 0.4, "test_accuracy": 0.41,
             "ema_val_accuracy": 0.42, "ema_test_accuracy": 0.43, "lr": 0.01} for e in (1, 2, 3)]
    names = [t.name for t in runs_ui.curves_figure([("r", hist, False)]).data]
    assert "r · test (reported, never used to pick)" in names and "r · weight average (EMA), test" in names


def test_the_ensemble_note_says_whether_it_averages_or_cascades(tmp_path):
    for name, extra in (("avg", {}), ("cascade", {"cascade": {"threshold": 0.675}})):
        d = tmp_path / name
        d.mkdir()
        runs.write_json(d / runs.CONFIG, {"kind": "ensemble", "members": ["m0", "m1"], **extra})
    assert runs_ui.ensemble_note(rs.summarize(tmp_path / "avg"), "avg") == (
        "**avg** is an ensemble of **m0** and **m1**, not trained itself: it averages its members' probabilities. "
        "It has no training curves (pick the members to see theirs).")
    assert "not trained itself: **m0** answers alone where its top probability is at least 0.675, the members' " \
           "averaged probabilities elsewhere." in runs_ui.ensemble_note(rs.summarize(tmp_path / "cascade"), "c")
