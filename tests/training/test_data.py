"""Dataset parsing: FER2013 CSV (good and malformed rows), image folders, class selection, splits."""
from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from fer_core.training.data import (DatasetError, copies_of, fer2013_training_copies, load_dataset, load_fer2013,
                                    load_image_folder, select_classes, stratified_split)
from fer_core.labels import EMOTIONS

from factories import make_fer_csv, with_test_copies


def _write_csv(path, rows):
    path.write_text("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")
    return path


def _row(label=3, n=2304, usage="Training", value="7"):
    return f"{label},{' '.join([value] * n)},{usage}"


@pytest.mark.parametrize("gz", [False, True])
def test_fer2013_reads_plain_and_gz_and_splits_by_usage(tmp_path, gz):
    path = make_fer_csv(tmp_path / ("f.csv.gz" if gz else "f.csv"), n_per_class=2, gz=gz)
    train = load_fer2013(path, "Training")
    test = load_fer2013(path, "PublicTest")
    both = load_fer2013(path)
    assert train.images.shape == (14, 48, 48) and train.images.dtype == np.uint8
    assert len(test) == 14 and len(both) == 28
    assert train.label_names == EMOTIONS
    assert train.class_counts() == {name: 2 for name in EMOTIONS}
    # The generated pattern: label k has a bright band at rows 6k..6k+5.
    assert train.images[train.labels == 2][0][12:18].min() == 220


def test_fer2013_without_usage_rows_is_empty_not_error(tmp_path):
    path = make_fer_csv(tmp_path / "f.csv", usages=("Training",))
    assert len(load_fer2013(path, "PrivateTest")) == 0


@pytest.mark.parametrize("row, message", [
    (_row(n=2000), "row 2: expected 2304 pixels"),
    (_row(label=9), "row 2: emotion must be 0-6"),
    (_row(label="x"), "row 2: emotion must be an integer"),
    (_row(value="300"), "row 2: pixel values must be 0-255"),
    (_row(value="a"), "row 2: pixels must be space-separated integers"),
    ("3,1 2 3", "row 2: expected 3 fields"),
])
def test_fer2013_malformed_rows_name_file_and_row(tmp_path, row, message):
    path = _write_csv(tmp_path / "bad.csv", [row])
    with pytest.raises(DatasetError, match=message) as info:
        load_fer2013(path)
    assert "bad.csv" in str(info.value)


def test_fer2013_bad_header_and_missing_file(tmp_path):
    (tmp_path / "h.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DatasetError, match="header"):
        load_fer2013(tmp_path / "h.csv")
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_fer2013(tmp_path / "nope.csv")
    with pytest.raises(DatasetError, match="Usage must be"):
        load_fer2013(make_fer_csv(tmp_path / "ok.csv"), "Validation")


def _make_folder(root, classes=("anger", "happy", "sadness"), n=4, size=(60, 50)):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            img = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
            cv2.imwrite(str(root / c / f"S{i:03d}_001_0000000{i}.png"), img)
    return root


def test_image_folder_loads_resizes_grays_and_canonicalises(tmp_path):
    root = _make_folder(tmp_path / "ds")
    (root / "happy" / "notes.txt").write_text("not an image")
    cv2.imwrite(str(root / "happy" / "S100_001_00000001.tiff"), np.full((30, 30), 128, np.uint16) * 256)
    ds = load_image_folder(root, size=48)
    assert ds.label_names == ("angry", "happy", "sad")
    assert ds.images.shape == (13, 48, 48)
    assert ds.class_counts() == {"angry": 4, "happy": 5, "sad": 4}
    assert set(ds.groups) >= {"S000", "S100"}
    assert load_dataset(root).label_names == ds.label_names


def test_image_folder_errors(tmp_path):
    with pytest.raises(DatasetError, match="no sub-folders"):
        (tmp_path / "empty").mkdir()
        load_image_folder(tmp_path / "empty")
    root = _make_folder(tmp_path / "ds2", classes=("happy",))
    (root / "sad").mkdir()
    with pytest.raises(DatasetError, match="sad: class folder holds no images"):
        load_image_folder(root)
    root3 = _make_folder(tmp_path / "ds3", classes=("happy",))
    (root3 / "happy" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="broken.png: unreadable image"):
        load_image_folder(root3)


def test_select_classes_keeps_order_and_remaps(tmp_path, caplog):
    ds = load_fer2013(make_fer_csv(tmp_path / "f.csv", n_per_class=3), "Training")
    with caplog.at_level(logging.INFO):
        four = select_classes(ds, ("angry", "happy", "sad", "surprise"))
    assert four.label_names == ("angry", "happy", "sad", "surprise")
    assert four.class_counts() == {"angry": 3, "happy": 3, "sad": 3, "surprise": 3}
    assert "Dropped 9 images" in caplog.text
    merged = select_classes(ds, ("negative", "happy"), remap={"angry": "negative", "sad": "negative", "fear": "negative"})
    assert merged.class_counts() == {"negative": 9, "happy": 3}
    with pytest.raises(DatasetError, match="not in the dataset"):
        select_classes(ds, ("joy",))


def test_stratified_split_is_seeded_and_stratified(tmp_path):
    ds = load_fer2013(make_fer_csv(tmp_path / "f.csv", n_per_class=10), "Training")
    a_train, a_val = stratified_split(ds, 0.2, seed=1)
    b_train, b_val = stratified_split(ds, 0.2, seed=1)
    assert np.array_equal(a_val.images, b_val.images)
    assert a_val.class_counts() == {name: 2 for name in EMOTIONS}
    assert len(a_train) + len(a_val) == len(ds)


def test_split_by_subject_keeps_subjects_apart(tmp_path):
    ds = load_image_folder(_make_folder(tmp_path / "ds", n=6))
    train, val = stratified_split(ds, 0.34, seed=0, by_group=True)
    assert set(train.groups).isdisjoint(set(val.groups)) and len(val) > 0


def test_real_fer2013_counts(shared_data):
    ds = load_fer2013(shared_data / "fer2013" / "fer2013.csv.gz", "PublicTest")
    assert len(ds) == 3589 and ds.images.shape[1:] == (48, 48)


def test_real_ck48_folder(shared_data):
    ds = load_image_folder(shared_data / "CK+48")
    assert len(ds) == 981 and "angry" in ds.label_names and "sad" in ds.label_names


def test_copies_of_marks_only_pixel_for_pixel_repeats(tmp_path):
    path = with_test_copies(make_fer_csv(tmp_path / "f.csv", n_per_class=2), tmp_path / "copies.csv", k=3)
    train, test = load_fer2013(path, "Training"), load_fer2013(path, "PublicTest")
    mask = copies_of(test, train)
    assert mask.dtype == bool and mask.shape == (17,)
    assert mask.sum() == 3 and mask[-3:].all()  # the three appended rows, none of the generated ones
    nudged = test.subset(np.arange(len(test)))
    nudged.images = nudged.images.copy()
    nudged.images[-1, 0, 0] ^= 1  # one pixel off is not a copy
    assert copies_of(nudged, train).sum() == 2
    assert not copies_of(test, test.subset(np.arange(0))).any()


def test_fer2013_training_copies_applies_to_test_rows_of_a_csv_only(tmp_path):
    path = with_test_copies(make_fer_csv(tmp_path / "f.csv", n_per_class=2), tmp_path / "copies.csv", k=2,
                            usage="PrivateTest")
    private = load_fer2013(path, "PrivateTest")
    assert fer2013_training_copies(path, private, "PrivateTest").sum() == 2
    assert fer2013_training_copies(path, load_fer2013(path, "Training"), "Training") is None
    assert fer2013_training_copies(path, load_fer2013(path), None) is None
    only_test = make_fer_csv(tmp_path / "t.csv", usages=("PublicTest",))
    assert fer2013_training_copies(only_test, load_fer2013(only_test, "PublicTest"), "PublicTest") is None


def test_real_publictest_repeats_training_rows(shared_data):
    """FER2013 itself: 280 PublicTest rows repeat a Training row pixel for pixel."""
    path = shared_data / "fer2013" / "fer2013.csv.gz"
    mask = fer2013_training_copies(path, load_fer2013(path, "PublicTest"), "PublicTest")
    assert mask.shape == (3589,) and mask.sum() == 280
