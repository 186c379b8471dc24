"""FER+ votes: reading, 7-class distributions, and the check that they line up with the FER2013 rows."""
from __future__ import annotations

import numpy as np
import pytest

from fer_core.data import DatasetError, load_fer2013
from fer_core.ferplus import FERPLUS_COLUMNS, FerPlusAlignmentError, check_alignment, load_ferplus, main

# conftest's make_fer_csv writes labels 0..6, 4 per class, per usage; FER+ column of each of our labels:
OURS_TO_COLUMN = {0: "anger", 1: "disgust", 2: "fear", 3: "happiness", 4: "sadness", 5: "surprise", 6: "neutral"}


def _write_votes(path, labels, usages, shuffle_seed=None):
    rows = [f"Usage,Image name,{','.join(FERPLUS_COLUMNS)}"]
    order = np.arange(len(labels))
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(len(labels))
    for i, j in enumerate(order):
        v = dict.fromkeys(FERPLUS_COLUMNS, 0)
        v[OURS_TO_COLUMN[labels[j]]] = 7
        v["contempt"] = 2
        v["unknown"] = 1
        rows.append(f"{usages[i]},fer{i:07d}.png," + ",".join(str(v[c]) for c in FERPLUS_COLUMNS))
    path.write_text("\n".join(rows) + "\n")
    return path


def test_votes_become_distributions_over_our_labels(tmp_path, fer_csv):
    ds = load_fer2013(fer_csv, "Training")
    path = _write_votes(tmp_path / "votes.csv", ds.labels, ["Training"] * len(ds))
    votes = load_ferplus(path, "Training")
    dist, valid = votes.distributions(ds.label_names)
    assert valid.all() and dist.shape == (len(ds), 7)
    np.testing.assert_allclose(dist.sum(axis=1), 1.0, rtol=1e-6)  # contempt/unknown votes dropped
    assert (dist.argmax(axis=1) == ds.labels).all()
    report = check_alignment(ds, votes)
    assert report["agreement"] == 1.0 and report["chance_agreement"] < 0.2


def test_shuffled_votes_are_refused_with_the_evidence(tmp_path, fer_csv):
    ds = load_fer2013(fer_csv, "Training")
    path = _write_votes(tmp_path / "votes.csv", ds.labels, ["Training"] * len(ds), shuffle_seed=3)
    with pytest.raises(FerPlusAlignmentError, match="do not line up"):
        check_alignment(ds, load_ferplus(path, "Training"))


def test_malformed_votes_file_names_the_problem(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Usage,name,a,b\nTraining,x,1,2\n")
    with pytest.raises(DatasetError, match="expected the header"):
        load_ferplus(bad)
    with pytest.raises(FileNotFoundError):
        load_ferplus(tmp_path / "absent.csv")


def test_cli_exit_code_says_whether_the_files_line_up(tmp_path, fer_csv, capsys):
    both = load_fer2013(fer_csv)
    usages = ["Training"] * 28 + ["PublicTest"] * 28
    aligned = _write_votes(tmp_path / "aligned.csv", both.labels, usages)
    assert main(["--fer", str(fer_csv), "--ferplus", str(aligned)]) == 0
    assert capsys.readouterr().out.strip().endswith("aligned")
    shuffled = _write_votes(tmp_path / "shuffled.csv", both.labels, usages, shuffle_seed=1)
    assert main(["--fer", str(fer_csv), "--ferplus", str(shuffled)]) == 1
    assert "NOT aligned" in capsys.readouterr().out
