"""Ensemble run folders: loading (softmax average of the members), member errors, the fer_core.ensemble CLI, and how
runs.load_run / runs.summary / the model picker and card see them."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fer_core import EMOTIONS, runs
from fer_core.runs import summary as rs
from ui import run_text
from fer_core.inference.classifier import ModelLoadError, load_classifier
from fer_core.ensemble import main as ensemble_main
from tests.factories import load_bench, make_fer_csv


def make_member(root: Path, name: str, seed: int, labels=EMOTIONS, shape=(48, 48, 1)) -> Path:
    """A small untrained image model (random weights per seed) saved as a run folder."""
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape, name="pixels")
    x = keras.layers.Rescaling(1 / 255)(inp)
    x = keras.layers.Conv2D(4, 3, strides=4, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(len(labels), activation="softmax")(x)
    d = root / name
    d.mkdir(parents=True)
    keras.Model(inp, out, name="tiny").save(d / runs.MODEL)
    runs.write_json(d / runs.CONFIG, {"run_id": name, "labels": list(labels), "architecture": "tiny",
                                      "dataset": {"path": "data/fer_small.csv"}})
    return d


def make_ensemble(root: Path, name: str, members: list[str], **extra) -> Path:
    d = root / name
    d.mkdir(parents=True)
    runs.write_json(d / runs.CONFIG, {"kind": "ensemble", "members": members, **extra})
    return d


@pytest.fixture(scope="module")
def members(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("members")
    make_member(root, "a", 1)
    make_member(root, "b", 2)
    return root


FACES = np.random.default_rng(0).integers(0, 255, (6, 48, 48), dtype=np.uint8)


@pytest.mark.parametrize("tta", ["none", "flip", "crops"])
def test_ensemble_gives_the_average_of_its_members(members, tmp_path, tta):
    root = tmp_path / "runs"
    shutil.copytree(members, root)
    ens = make_ensemble(root, "ens", ["a", "b"], labels=list(EMOTIONS), inference={"tta": "flip"})
    clf = load_classifier(ens)
    a, b = load_classifier(root / "a"), load_classifier(root / "b")
    assert clf.labels == EMOTIONS and clf.name == "ens" and clf.tta == "flip"
    assert clf.n_params == a.n_params + b.n_params
    pa, pb = a.predict_proba(FACES, tta=tta), b.predict_proba(FACES, tta=tta)
    assert not np.allclose(pa, pb, atol=1e-3)  # distinct members, so the average is a real test
    p = clf.predict_proba(FACES, tta=tta)
    assert p.shape == (6, 7)
    np.testing.assert_allclose(p, (pa + pb) / 2, atol=1e-5)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert clf.predict_proba(FACES[:0], tta=tta).shape == (0, 7)


def test_a_cascade_runs_the_others_only_where_the_first_member_is_unsure(members, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(members, root)
    a, b = load_classifier(root / "a"), load_classifier(root / "b")
    pa, pb = a.predict_proba(FACES, tta="none"), b.predict_proba(FACES, tta="none")
    threshold = float(np.median(pa.max(axis=1)))  # about half the faces are sure, half are not
    sure = pa.max(axis=1) >= threshold
    assert 0 < sure.sum() < len(FACES)
    ens = make_ensemble(root, "cascade", ["a", "b"], labels=list(EMOTIONS), inference={"tta": "none"},
                        cascade={"threshold": threshold})
    clf = load_classifier(ens)
    p = clf.predict_proba(FACES)
    np.testing.assert_allclose(p, np.where(sure[:, None], pa, (pa + pb) / 2), atol=1e-5)
    assert clf.cascade_counts == {"rows": len(FACES), "escalated": int((~sure).sum())}
    for t, expected in ((0, pa), (1, (pa + pb) / 2)):  # 0: the first member alone; 1: the plain average
        runs.write_json(ens / runs.CONFIG, {**runs.read_json(ens / runs.CONFIG), "cascade": {"threshold": t}})
        np.testing.assert_allclose(load_classifier(ens).predict_proba(FACES), expected, atol=1e-5)


@pytest.mark.parametrize("cascade", [{"threshold": 1.5}, {"threshold": "high"}, {"threshold": True}, {}, 0.7])
def test_a_bad_cascade_setting_is_a_clear_error(members, tmp_path, cascade):
    root = tmp_path / "runs"
    shutil.copytree(members, root)
    ens = make_ensemble(root, "cascade", ["a", "b"], cascade=cascade)
    with pytest.raises(ModelLoadError, match=r"cascade must be \{\"threshold\": a number from 0 to 1\}. Received: "):
        load_classifier(ens)


def test_members_may_be_paths_relative_to_the_parent_or_absolute(members, tmp_path):
    ens = make_ensemble(tmp_path / "elsewhere", "ens", [str(members / "a"), f"../{members.name}/b"])
    shutil.copytree(members, tmp_path / members.name)  # "../<members>/b" from tmp_path/elsewhere
    clf = load_classifier(ens)
    assert clf.labels == EMOTIONS  # taken from the members when config.json has none
    assert runs.ensemble_members(ens, runs.read_json(ens / runs.CONFIG)) == [members / "a",
                                                                           tmp_path / "elsewhere" / ".." / members.name / "b"]


def test_missing_member_is_a_clear_error(members, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(members, root)
    with pytest.raises(ModelLoadError, match=r"member 'zz' is missing \(no such folder\).*Received: members=\['a', 'zz'\]"):
        load_classifier(make_ensemble(root, "e1", ["a", "zz"]))
    (root / "b" / runs.MODEL).unlink()
    with pytest.raises(ModelLoadError, match=r"member 'b' is missing \(no model.keras in it\)"):
        load_classifier(make_ensemble(root, "e2", ["a", "b"]))
    with pytest.raises(ModelLoadError, match=r"non-empty list.*Received: members=\[\]"):
        load_classifier(make_ensemble(root, "e3", []))
    (root / "c").mkdir()
    (root / "c" / runs.MODEL).write_bytes(b"garbage")
    runs.write_json(root / "c" / runs.CONFIG, {"labels": list(EMOTIONS)})
    with pytest.raises(ModelLoadError, match="member 'c' could not be loaded.*corrupt"):
        load_classifier(make_ensemble(root, "e4", ["a", "c"]))
    with pytest.raises(ModelLoadError, match="contains itself"):
        load_classifier(make_ensemble(root, "e5", ["a", "e5"]))


def test_members_must_share_labels_and_input_shape(members, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(members, root)
    make_member(root, "reordered", 3, labels=EMOTIONS[::-1])
    make_member(root, "small", 4, shape=(40, 40, 1))
    with pytest.raises(ModelLoadError, match=r"share labels.*as 'a'.*Received: member 'reordered' labels=\['neutral'"):
        load_classifier(make_ensemble(root, "e1", ["a", "reordered"]))
    with pytest.raises(ModelLoadError, match=r"share the input shape; expected \(48, 48, 1\).*Received: member 'small' "
                                             r"input_shape=\(40, 40, 1\)"):
        load_classifier(make_ensemble(root, "e2", ["a", "small"]))
    with pytest.raises(ModelLoadError, match=r"(config.json labels must be the members'|\"labels\" should be a list of distinct).*Received: (labels=)?\['x'"):
        load_classifier(make_ensemble(root, "e3", ["a", "b"], labels=["x"] * 7))


def test_load_run_and_summary_of_an_ensemble(members, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(members, root)
    ens = make_ensemble(root, "ens", ["a", "b"], labels=list(EMOTIONS), n_params=10)
    info = runs.load_run(ens)
    assert info.is_ensemble and info.members == [root / "a", root / "b"] and info.has_model
    assert info.history is None and not any("history" in p or "model.keras" in p for p in info.problems)
    s = rs.summarize(ens)
    assert s.status == rs.NOT_EVALUATED and s.problems == [] and not s.in_progress
    row = run_text.table_row(s)
    assert row["architecture"] == "ensemble of a + b" and row["epochs"] is None and row["parameters"] == 10
    assert ens in runs.find_runs(root)

    broken = make_ensemble(root, "broken", ["a", "gone"])
    info = runs.load_run(broken)
    assert not info.has_model
    assert any("ensemble member 'gone' not found" in p for p in info.problems)
    assert not runs.has_model(broken)


def test_model_picker_lists_ensembles_whose_members_have_models(members, tmp_path, monkeypatch):
    from ui import model_cache, model_picker

    root = tmp_path / "runs"
    shutil.copytree(members, root)
    good = make_ensemble(root, "good", ["a", "b"])
    make_ensemble(root, "bad", ["a", "nope"])
    monkeypatch.setattr(runs, "RUNS_DIR", root)
    assert model_cache.available_model_runs() == [root / "a", root / "b", good]
    assert good in model_picker.image_model_runs()


@pytest.fixture(scope="module")
def trained_pair(tmp_path_factory, tiny_run) -> Path:
    """The trained tiny run twice: ``a`` as is, ``b`` with its weights perturbed (so the two differ)."""
    import keras

    root = tmp_path_factory.mktemp("pair")
    shutil.copytree(tiny_run, root / "a")
    shutil.copytree(tiny_run, root / "b")
    model = keras.models.load_model(root / "b" / runs.MODEL, compile=False)
    rng = np.random.default_rng(5)
    model.set_weights([w + rng.normal(0, 0.05, w.shape).astype(w.dtype) * (w.ndim > 1) for w in model.get_weights()])
    model.save(root / "b" / runs.MODEL)
    return root


def test_cli_writes_an_evaluated_readable_ensemble_run(trained_pair, tmp_path, fer_csv, capsys):
    root = tmp_path / "runs"
    shutil.copytree(trained_pair, root)
    out = root / "ens"
    assert ensemble_main(["--members", str(root / "a"), str(root / "b"), "--out", str(out), "--data", str(fer_csv),
                          "--usage", "PublicTest", "--tta", "crops"]) == 0
    printed = capsys.readouterr().out
    assert "ensemble of a, b" in printed and "with crops TTA" in printed
    assert not (out / runs.MODEL).exists()  # weights are not duplicated
    config = runs.read_json(out / runs.CONFIG)
    a = load_classifier(root / "a", backend="keras")
    assert config["kind"] == "ensemble" and config["members"] == ["a", "b"] and config["run_id"] == "ens"
    member_equalize = json.loads((root / "a" / runs.CONFIG).read_text())["inference"]["equalize"]
    assert config["labels"] == list(EMOTIONS) and config["inference"] == {"tta": "crops", "equalize": member_equalize}
    assert config["n_params"] == 2 * a.n_params and config["input_shape"] == [48, 48, 1]
    assert config["dataset"]["path"] == runs.read_json(root / "a" / runs.CONFIG)["dataset"]["path"]
    metrics = runs.read_json(out / runs.METRICS)
    assert metrics["n"] == 28 and metrics["tta"]["method"] == "crops" and metrics["model"] == "ens"
    assert metrics["unseen"]["copies_left_out"] == 0 and metrics["unseen"]["tta"]["method"] == "crops"
    labels, cm = runs.read_confusion(out / runs.CONFUSION)
    assert labels == list(EMOTIONS) and cm.sum() == 28
    s = rs.summarize(out)
    assert s.status == rs.COMPLETE and s.problems == []
    clf = load_classifier(out, backend="keras")  # members' ONNX files under auto: test_onnx_backend
    assert clf.tta == "crops" and clf.n_params == 2 * a.n_params
    # the ensemble's own metrics are those of the averaged model
    p = clf.predict_proba(np.zeros((1, 48, 48), np.uint8), tta="none")
    b = load_classifier(root / "b", backend="keras")
    np.testing.assert_allclose(p, (a.predict_proba(np.zeros((1, 48, 48), np.uint8), tta="none")
                                   + b.predict_proba(np.zeros((1, 48, 48), np.uint8), tta="none")) / 2, atol=1e-5)

    # written again without --data: config only, the stale evaluation removed
    assert ensemble_main(["--members", str(root / "a"), str(root / "b"), "--out", str(out)]) == 0
    assert not (out / runs.METRICS).exists() and runs.read_json(out / runs.CONFIG)["inference"]["tta"] == "flip"


def test_cli_records_the_holdout_figure_the_card_shows(trained_pair, tmp_path, capsys):
    from fer_core.training.trainer import load_holdout
    from ui import model_card

    fer_csv = make_fer_csv(tmp_path / "fer10.csv", n_per_class=10)  # 10% held out: one face per class

    root = tmp_path / "runs"
    shutil.copytree(trained_pair, root)
    out = root / "ens"
    (out / runs.EVALUATIONS / "old-mix").mkdir(parents=True)  # a previous mix's evaluation: stale once rewritten
    runs.write_json(out / runs.CONFIG, {"kind": "ensemble", "members": ["a"]})
    assert ensemble_main(["--members", str(root / "a"), str(root / "b"), "--out", str(out), "--data", str(fer_csv),
                          "--usage", "PublicTest", "--tta", "none", "--holdout", "--selection", "the best holdout mix",
                          "--note", "no TTA: flip is over budget"]) == 0
    hold = load_holdout(str(fer_csv))
    assert f"{hold.split}: accuracy" in capsys.readouterr().out
    config = runs.read_json(out / runs.CONFIG)
    evals = [p.name for p in (out / runs.EVALUATIONS).iterdir()]
    assert len(evals) == 1 and evals[0].startswith("holdout-") and evals[0].endswith("-none")
    saved = runs.read_json(out / runs.EVALUATIONS / evals[0] / runs.METRICS)
    assert saved["n"] == len(hold) and saved["split"] == hold.split and config["best_val_accuracy"] == saved["accuracy"]
    assert config["selection"] == {"split": hold.split, "what": "the best holdout mix"}
    assert evals[0] in config["best_val_note"] and config["inference_note"] == "no TTA: flip is over budget"
    assert runs.read_json(out / runs.METRICS)["split"] == "PublicTest"
    card = model_card.selection_text(config)
    assert f"the members are the best holdout mix; the ensemble scores {100 * saved['accuracy']:.1f}% on it" in card


def test_cli_writes_a_cascade_and_refuses_a_threshold_outside_0_to_1(trained_pair, tmp_path, capsys):
    pair = [str(trained_pair / "a"), str(trained_pair / "b")]
    out = tmp_path / "cascade"
    assert ensemble_main(["--members", *pair, "--out", str(out), "--cascade-threshold", "2"]) == 2
    assert "Received: cascade_threshold=2.0" in capsys.readouterr().err and not out.exists()
    assert ensemble_main(["--members", *pair, "--out", str(out), "--tta", "none", "--cascade-threshold", "0.6"]) == 0
    config = runs.read_json(out / runs.CONFIG)
    assert config["cascade"] == {"threshold": 0.6}
    assert config["architecture_description"].startswith("Cascade: a alone on the faces where its top probability "
                                                         "is at least 0.6; elsewhere the average")
    assert load_classifier(out).cascade_counts == {"rows": 0, "escalated": 0}


def test_cli_refuses_holdout_without_a_fer_csv(trained_pair, tmp_path, capsys):
    out = tmp_path / "ens"
    pair = [str(trained_pair / "a"), str(trained_pair / "b")]
    assert ensemble_main(["--members", *pair, "--out", str(out), "--holdout"]) == 2
    assert "--holdout needs --data to be a FER2013 CSV. Received: data=None" in capsys.readouterr().err
    assert ensemble_main(["--members", *pair, "--out", str(out), "--selection", "picked"]) == 2
    assert "add --holdout" in capsys.readouterr().err and not out.exists()


def test_cli_stores_members_outside_the_parent_as_relative_paths(trained_pair, tmp_path):
    out = tmp_path / "ensembles" / "ens"
    assert ensemble_main(["--members", str(trained_pair / "a"), str(trained_pair / "b"), "--out", str(out)]) == 0
    refs = runs.read_json(out / runs.CONFIG)["members"]
    assert all(r.startswith("../") and r.endswith(n) for r, n in zip(refs, "ab", strict=True))
    assert load_classifier(out).labels == EMOTIONS


def test_cli_errors_leave_nothing_behind(trained_pair, tmp_path, capsys):
    out = tmp_path / "ens"
    assert ensemble_main(["--members", str(trained_pair / "a"), str(tmp_path / "missing"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "member" in err and "missing" in err and "Received: members=" in err
    assert not out.exists()
    assert ensemble_main(["--members", str(trained_pair / "a"), "--out", str(out)]) == 2
    assert "at least two members" in capsys.readouterr().err
    assert ensemble_main(["--members", str(trained_pair / "a"), str(trained_pair / "b"),
                          "--out", str(trained_pair / "a")]) == 2
    assert runs.read_json(trained_pair / "a" / runs.CONFIG).get("kind") != "ensemble"


def _mixes_bench():
    return load_bench("bench_ensemble_mixes")


def test_the_mix_bench_averages_members_and_ranks_mixes_by_the_first_set():
    labels = ["a", "b"]
    y = np.array([0, 0, 1, 1])
    # "x" is right on rows 0-2, "y" on rows 1-3; their average is right on all four; "z" is always wrong.
    x = np.array([[.9, .1], [.6, .4], [.2, .8], [.6, .4]])
    yy = np.array([[.4, .6], [.9, .1], [.1, .9], [.1, .9]])
    z = np.array([[.1, .9], [.2, .8], [.9, .1], [.8, .2]])
    probs = {n: {"holdout": p, "test": p[::-1]} for n, p in (("x", x), ("y", yy), ("z", z))}
    truth = {"holdout": y, "test": y[::-1]}
    rows = _mixes_bench().score_mixes(probs, truth, labels, max_members=2)
    assert [r["mix"] for r in rows][0] == ("x", "y") and len(rows) == 6  # 3 singles + 3 pairs
    best = rows[0]
    assert best["holdout"] == (1.0, 1.0) and best["test"] == (1.0, 1.0)
    singles = {r["mix"][0]: r["holdout"][0] for r in rows if len(r["mix"]) == 1}
    assert singles == {"x": 0.75, "y": 0.75, "z": 0.0}
    assert rows[-1]["mix"] == ("z",)


def test_the_mix_bench_compares_two_mixes_face_by_face():
    bench = _mixes_bench()
    assert bench.mcnemar_exact(0, 0) == 1.0
    assert bench.mcnemar_exact(5, 5) == 1.0
    assert bench.mcnemar_exact(6, 0) == pytest.approx(2 / 64)  # a fair coin lands one way six times: 2 * (1/2)^6
    assert bench.mcnemar_exact(0, 6) == bench.mcnemar_exact(6, 0)
    y = np.array([0, 0, 1, 1])
    right, wrong = np.eye(2)[y], np.eye(2)[1 - y]
    half = np.vstack([right[:2], wrong[2:]])  # right on the first two faces only
    probs = {"a": {"s": right}, "b": {"s": half}}
    assert bench.compare(probs, {"s": y}, ("a",), ("b",)) == {"s": (2, 0, 0.5)}


def test_the_cascade_bench_scores_a_threshold_as_the_loaded_cascade_runs_it():
    first = np.array([[.9, .1], [.55, .45], [.3, .7]])
    other = np.array([[.2, .8], [.1, .9], [.8, .2]])
    out, sent = load_bench("bench_cascade").cascade_outputs([first, other], 0.6)
    assert sent == pytest.approx(1 / 3)  # only row 1 (top .55) is unsure
    np.testing.assert_allclose(out, [[.9, .1], [.325, .675], [.3, .7]])


def test_the_weights_bench_grid_sums_to_one_and_refuses_a_step_that_does_not_divide_it():
    bench = load_bench("bench_ensemble_weights")
    grid = bench.simplex_grid(3, 0.5)
    assert sorted(grid) == sorted([(1, 0, 0), (0, 1, 0), (0, 0, 1), (.5, .5, 0), (.5, 0, .5), (0, .5, .5)])
    assert len(bench.simplex_grid(3, 0.1)) == 66  # C(12, 2)
    assert all(abs(sum(w) - 1) < 1e-9 for w in bench.simplex_grid(4, 0.1))
    with pytest.raises(ValueError, match="Received: n=2, step=0.3"):
        bench.simplex_grid(2, 0.3)


def test_the_weights_bench_combines_by_weighted_arithmetic_and_geometric_means():
    bench = load_bench("bench_ensemble_weights")
    a = np.array([[.9, .1], [.5, .5]])
    b = np.array([[.1, .9], [.2, .8]])
    np.testing.assert_allclose(bench.combine([a, b], (1, 0), "mean"), a)
    np.testing.assert_allclose(bench.combine([a, b], (.5, .5), "mean"), [[.5, .5], [.35, .65]])
    geo = bench.combine([a, b], (.5, .5), "geometric")
    np.testing.assert_allclose(geo.sum(axis=1), 1)
    # sqrt(.9 * .1) = sqrt(.1 * .9): an even split; sqrt(.5 * .2) against sqrt(.5 * .8): 1 : 2
    np.testing.assert_allclose(geo, [[.5, .5], [1 / 3, 2 / 3]])
    with pytest.raises(ValueError, match="Received: how='median'"):
        bench.combine([a, b], (.5, .5), "median")
    with pytest.raises(ValueError, match="1 weights for 2 members"):
        bench.combine([a, b], (1,), "mean")


def test_the_weights_bench_keeps_confident_first_answers_and_ranks_the_equal_average_first_on_a_tie():
    bench = load_bench("bench_ensemble_weights")
    first = np.array([[.9, .1], [.55, .45]])
    other = np.array([[.2, .8], [.1, .9]])
    combined = bench.combine([first, other], (.5, .5), "mean")
    np.testing.assert_allclose(bench.with_threshold(first, combined, 0.6), [[.9, .1], [.325, .675]])
    np.testing.assert_allclose(bench.with_threshold(first, combined, None), combined)
    # row 0 is the first member's alone (top .9); row 1 goes to the weighting, which the first member alone gets
    # wrong: the weightings that get it right tie at 100%, and of those the equal arithmetic average ranks first
    y = np.array([0, 1])
    rows = bench.score({"holdout": [first, other]}, {"holdout": y}, step=0.5, threshold=0.6)
    assert rows[0]["how"] == "mean" and rows[0]["weights"] == (.5, .5)
    # with no threshold every row goes to the weighting: "other" alone loses row 0, "first" alone row 1, so the
    # two single-member weightings rank last
    rows = bench.score({"holdout": [first, other]}, {"holdout": y}, step=0.5, threshold=None)
    assert [r["right"]["holdout"].tolist() for r in rows if r["weights"] == (0.0, 1.0)] == [[False, True]] * 2
    assert rows[-1]["weights"] in {(0.0, 1.0), (1.0, 0.0)}
