"""FER+ votes: reading, 7-class distributions, and the check that they line up with the FER2013 rows."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from fer_core.training.data import DatasetError, load_fer2013
from fer_core.training.ferplus import FerPlusAlignmentError, align_votes, check_alignment, load_ferplus, main

from factories import make_fer_csv, write_votes



def test_votes_become_distributions_over_our_labels(tmp_path, fer_csv):
    ds = load_fer2013(fer_csv, "Training")
    path = write_votes(tmp_path / "votes.csv", ds.labels, ["Training"] * len(ds))
    votes = load_ferplus(path, "Training")
    dist, valid = votes.distributions(ds.label_names)
    assert valid.all() and dist.shape == (len(ds), 7)
    np.testing.assert_allclose(dist.sum(axis=1), 1.0, rtol=1e-6)  # contempt/unknown votes dropped
    assert (dist.argmax(axis=1) == ds.labels).all()
    report = check_alignment(ds, votes)
    assert report["agreement"] == 1.0 and report["chance_agreement"] < 0.2


def test_shuffled_votes_are_refused_with_the_evidence(tmp_path, fer_csv):
    ds = load_fer2013(fer_csv, "Training")
    path = write_votes(tmp_path / "votes.csv", ds.labels, ["Training"] * len(ds), shuffle_seed=3)
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
    aligned = write_votes(tmp_path / "aligned.csv", both.labels, usages)
    assert main(["--fer", str(fer_csv), "--ferplus", str(aligned)]) == 0
    assert capsys.readouterr().out.strip().endswith("aligned")
    shuffled = write_votes(tmp_path / "shuffled.csv", both.labels, usages, shuffle_seed=1)
    assert main(["--fer", str(fer_csv), "--ferplus", str(shuffled)]) == 1
    assert "NOT aligned" in capsys.readouterr().out


def _ferplus_image_folder(root, ds, usages):
    """FER+'s layout for ``ds``: ``FER2013Train/fer%07d.png`` by original row, holding the pictures with their
    intensities changed (equalised, then a little noise), as another copy of FER2013 may hold them."""
    rng = np.random.default_rng(5)
    folders = {"Training": "FER2013Train", "PublicTest": "FER2013Valid"}
    for i, (im, usage) in enumerate(zip(ds.images, usages)):
        folder = root / folders[usage]
        folder.mkdir(parents=True, exist_ok=True)
        changed = np.clip(cv2.equalizeHist(im).astype(int) + rng.integers(-2, 3, im.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"fer{i:07d}.png"), changed)
    return root


def test_votes_are_repaired_by_matching_images(tmp_path):
    csv_path = make_fer_csv(tmp_path / "fer.csv", n_per_class=6, usages=("Training",), seed=4)
    original = load_fer2013(csv_path, "Training")
    usages = ["Training"] * len(original)
    votes = write_votes(tmp_path / "votes.csv", original.labels, usages)  # in the original row order
    images = _ferplus_image_folder(tmp_path / "images", original, usages)
    order = np.random.default_rng(9).permutation(len(original))
    shuffled = original.subset(order)  # the CSV we train on, in another row order
    with pytest.raises(FerPlusAlignmentError):
        check_alignment(shuffled, load_ferplus(votes, "Training"))
    aligned, report = align_votes(shuffled, load_ferplus(votes, "Training"), images, "Training")
    assert report["matched"] == len(original) and report["min_correlation"] > 0.9
    np.testing.assert_array_equal(aligned.names, [f"fer{i:07d}.png" for i in order])
    assert check_alignment(shuffled, aligned)["agreement"] == 1.0


def test_unmatched_rows_get_no_votes_and_private_rows_are_refused(tmp_path):
    csv_path = make_fer_csv(tmp_path / "fer.csv", n_per_class=3, usages=("Training",), seed=6)
    ds = load_fer2013(csv_path, "Training")
    usages = ["Training"] * len(ds)
    votes = write_votes(tmp_path / "votes.csv", ds.labels, usages)
    images = _ferplus_image_folder(tmp_path / "images", ds, usages)
    (images / "FER2013Train" / "fer0000004.png").unlink()  # an image FER+ dropped
    aligned, report = align_votes(ds, load_ferplus(votes, "Training"), images, "Training")
    assert report["matched"] == len(ds) - 1
    assert aligned.names[4] == "" and aligned.votes[4].sum() == 0
    with pytest.raises(ValueError, match="usage must be one of"):
        align_votes(ds, load_ferplus(votes, "Training"), images, "PrivateTest")
    with pytest.raises(FileNotFoundError, match="FER2013Train"):
        align_votes(ds, load_ferplus(votes, "Training"), tmp_path / "nowhere", "Training")


def test_cli_writes_votes_in_the_csv_row_order(tmp_path, capsys):
    original = make_fer_csv(tmp_path / "orig.csv", n_per_class=4, seed=8)
    both = load_fer2013(original)
    usages = ["Training"] * 28 + ["PublicTest"] * 28
    votes = write_votes(tmp_path / "votes.csv", both.labels, usages)
    images = _ferplus_image_folder(tmp_path / "images", both, usages)
    lines = original.read_text().splitlines()
    rng = np.random.default_rng(2)
    body = [lines[1:29][i] for i in rng.permutation(28)] + [lines[29:][i] for i in rng.permutation(28)]
    shuffled_csv = tmp_path / "shuffled.csv"
    shuffled_csv.write_text("\n".join([lines[0], *body]) + "\n")
    out = tmp_path / "aligned.csv"
    assert main(["--fer", str(shuffled_csv), "--ferplus", str(votes), "--images", str(images), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Training: matched 28 of 28 rows" in printed and printed.strip().endswith("aligned")
    assert main(["--fer", str(shuffled_csv), "--ferplus", str(out)]) == 0
