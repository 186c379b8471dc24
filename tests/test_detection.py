"""Haar face detection on a real portrait (scikit-image's astronaut), tiled groups, covered faces and face-free images."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from fer_core.detection import (CascadeLoadError, FaceDetector, detect_faces, load_cascade, non_max_suppression,
                                sort_boxes)

ASTRONAUT_FACE = (175, 65, 97, 97)  # where the cascade puts her face in the 512x512 original


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def iou(a, b) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def shifted(box, dx, dy, scale=1.0):
    x, y, w, h = box
    return x * scale + dx, y * scale + dy, w * scale, h * scale


def test_finds_the_astronaut(astronaut):
    boxes = detect_faces(astronaut)
    assert len(boxes) == 1
    assert iou(boxes[0], ASTRONAUT_FACE) > 0.6
    assert all(isinstance(v, int) for v in boxes[0])


def test_tiled_group_finds_every_face_in_reading_order(astronaut):
    tiled = np.tile(astronaut, (2, 2, 1))
    boxes = detect_faces(tiled)
    expected = [shifted(ASTRONAUT_FACE, dx, dy) for dy in (0, 512) for dx in (0, 512)]
    assert len(boxes) == 4
    for got, want in zip(boxes, expected):  # sorted: top row left to right, then the bottom row
        assert iou(got, want) > 0.6


def test_three_by_three_gallery_has_no_false_faces_on_the_background(astronaut):
    boxes = detect_faces(np.tile(astronaut, (3, 3, 1)))
    expected = [shifted(ASTRONAUT_FACE, dx, dy) for dy in (0, 512, 1024) for dx in (0, 512, 1024)]
    assert len(boxes) == 9
    assert all(iou(g, w) > 0.6 for g, w in zip(boxes, expected))


@pytest.mark.parametrize("cover", ["mouth", "lower_half", "cheeks"])
def test_partly_covered_face_is_found(astronaut, cover):
    img = astronaut.copy()
    x, y, w, h = ASTRONAUT_FACE
    skin = (120, 150, 200)  # a hand-coloured patch (BGR)
    if cover == "mouth":
        cv2.ellipse(img, (x + w // 2, y + int(h * 0.78)), (int(w * 0.35), int(h * 0.2)), 0, 0, 360, skin, -1)
    elif cover == "lower_half":
        cv2.rectangle(img, (x + 5, y + int(h * 0.6)), (x + w - 5, y + h + 30), skin, -1)
    else:  # hands by the cheeks
        cv2.rectangle(img, (x - 10, y + int(h * 0.45)), (x + int(w * 0.2), y + h + 20), skin, -1)
        cv2.rectangle(img, (x + int(w * 0.8), y + int(h * 0.45)), (x + w + 10, y + h + 20), skin, -1)
    boxes = detect_faces(img)
    assert len(boxes) == 1 and iou(boxes[0], ASTRONAUT_FACE) > 0.5


@pytest.mark.parametrize("name", ["coffee", "rocket", "chelsea", "coins", "brick", "hubble_deep_field"])
def test_no_face_in_face_free_pictures(name):
    from skimage import data

    img = getattr(data, name)()
    assert detect_faces(img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)) == []


def test_no_face_in_flat_noise_and_gradients():
    rng = np.random.default_rng(0)
    assert detect_faces(np.zeros((480, 640, 3), np.uint8)) == []
    assert detect_faces(rng.integers(0, 255, (480, 640), dtype=np.uint8)) == []
    assert detect_faces(np.tile(np.arange(256, dtype=np.uint8), (200, 1))) == []


def test_tiny_images_do_not_crash():
    for shape in ((1, 1), (10, 10, 3), (47, 200), (5, 1000, 4)):
        assert detect_faces(np.full(shape, 128, np.uint8)) == []


def test_huge_image_is_searched_downscaled_and_boxes_mapped_back(astronaut):
    big = np.full((3000, 4000, 3), 90, np.uint8)
    big[1000:2536, 2000:3536] = cv2.resize(astronaut, (1536, 1536))  # the face is ~290 px here
    det = FaceDetector()
    assert det.search_scale(big.shape) < 0.5
    boxes = det(big)
    assert len(boxes) == 1
    assert iou(boxes[0], shifted(ASTRONAUT_FACE, 2000, 1000, scale=3)) > 0.6


def test_min_size_filters_small_faces(astronaut):
    small = cv2.resize(astronaut, (256, 256))  # face ~48 px
    assert len(FaceDetector(min_size=32)(small)) == 1
    assert FaceDetector(min_size=80)(small) == []


def test_input_formats_give_the_same_boxes(astronaut):
    ref = detect_faces(astronaut)
    gray = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(astronaut, cv2.COLOR_BGR2BGRA)
    assert detect_faces(gray) == ref
    assert detect_faces(bgra) == ref
    assert detect_faces(gray[..., None]) == ref
    assert detect_faces(astronaut.astype(np.float32) / 255.0) == ref


@pytest.mark.parametrize("equalize", ["hist", "clahe", "none"])
def test_contrast_normalisation_modes(astronaut, equalize):
    dim = (astronaut * 0.35).astype(np.uint8)  # an under-exposed photo
    boxes = FaceDetector(equalize=equalize)(dim)
    assert len(boxes) == 1 and iou(boxes[0], ASTRONAUT_FACE) > 0.5


def test_several_cascades_are_merged_into_one_box_per_face(astronaut):
    det = FaceDetector(cascades=("default", "alt2", "profile"))
    boxes = det(astronaut)
    assert len(boxes) == 1 and iou(boxes[0], ASTRONAUT_FACE) > 0.5
    cands = det.candidates(astronaut)
    assert {c.cascade for c in cands} >= {"default", "alt2"}  # both proposed, NMS kept one
    assert sum(c.kept for c in cands) == 1


def test_verification_can_be_turned_off(astronaut):
    det = FaceDetector(verify_neighbors=0)
    assert all(c.verify == -1 for c in det.candidates(astronaut))
    assert len(det(astronaut)) >= 1


def test_frontal_cascades_verify_each_other_with_calibrated_thresholds(astronaut):
    det = FaceDetector(sure_neighbors=0)  # re-check every box, however sure
    assert det.cascades == ("alt2",)  # the default: searched with alt2, re-checked by the default cascade
    kept = [c for c in det.candidates(astronaut) if c.kept]
    assert len(kept) == 1 and kept[0].cascade == "alt2" and kept[0].verify >= det.verify_threshold("alt2")
    assert (det.verify_threshold("alt2"), det.verify_threshold("default"), det.verify_threshold("profile")) == (5, 6, 0)
    assert FaceDetector(verify_neighbors=4).verify_threshold("alt2") == 4
    assert FaceDetector(verify_neighbors=0).verify_threshold("default") == 0
    old = FaceDetector(cascades=("default",))  # the former default still works, verified by alt2
    boxes = old(astronaut)
    assert len(boxes) == 1 and iou(boxes[0], ASTRONAUT_FACE) > 0.6
    assert [c.cascade for c in old.candidates(astronaut) if c.kept] == ["default"]


def test_sure_boxes_skip_the_re_check(astronaut):
    det = FaceDetector()
    (face,) = [c for c in det.candidates(astronaut) if c.kept]
    assert face.neighbors >= det.sure_neighbors > 0 and face.verify == -1  # many hits: kept without re-check
    weak = [c for c in FaceDetector(min_neighbors=1).candidates(np.tile(astronaut, (3, 3, 1)))
            if c.neighbors < det.sure_neighbors]
    assert weak and all(c.verify >= 0 for c in weak)  # boxes with few hits are still re-checked
    assert FaceDetector(sure_neighbors=0).candidates(astronaut)[0].verify >= 0


def test_jpeg_gallery_of_25_faces_has_no_false_boxes(astronaut):
    tile = cv2.resize(astronaut, (384, 384), interpolation=cv2.INTER_AREA)
    jpeg = cv2.imencode(".jpg", np.tile(tile, (5, 5, 1)), [cv2.IMWRITE_JPEG_QUALITY, 90])[1]
    boxes = detect_faces(cv2.imdecode(jpeg, cv2.IMREAD_COLOR))
    expected = [shifted(ASTRONAUT_FACE, dx, dy, 0.75) for dy in range(0, 1920, 384) for dx in range(0, 1920, 384)]
    # every box is on a face (the JPEG artefacts once made 5 extra boxes on the suits); the cascade proposes
    # nothing for one of the 25 faces after the JPEG round trip
    assert all(max(iou(b, w) for w in expected) > 0.4 for b in boxes)
    assert len(boxes) >= 24


def test_search_scale_follows_the_cascade_window():
    shape = (480, 640, 3)
    assert FaceDetector(cascades=("alt2",)).search_scale(shape) == pytest.approx(20 / 48)  # alt2's window: 20 px
    assert FaceDetector(cascades=("default",)).search_scale(shape) == pytest.approx(24 / 48)  # default's: 24 px
    assert FaceDetector(cascades=("default", "alt2")).search_scale(shape) == pytest.approx(24 / 48)  # the largest
    assert FaceDetector(min_size=16).search_scale(shape) == 1.0


def test_settings_and_detector_arguments(astronaut):
    assert detect_faces(astronaut, min_neighbors=5) == FaceDetector(min_neighbors=5)(astronaut)
    with pytest.raises(ValueError, match="either a detector or settings"):
        detect_faces(astronaut, FaceDetector(), min_size=30)


@pytest.mark.parametrize("kw, match", [
    (dict(scale_factor=1.0), "scale_factor"), (dict(min_neighbors=-1), "min_neighbors"),
    (dict(min_size=2), "min_size"), (dict(max_side=10), "max_side"), (dict(equalize="gamma"), "equalize"),
    (dict(cascades=()), "at least one cascade"), (dict(sure_neighbors=-2), "sure_neighbors"),
])
def test_invalid_settings_raise_value_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        FaceDetector(**kw)


def test_missing_cascade_is_a_clear_error_naming_the_file(tmp_path):
    with pytest.raises(CascadeLoadError, match="not found.*nope_cascade.xml"):
        FaceDetector(cascades=("nope_cascade.xml",))
    bad = tmp_path / "broken_cascade.xml"
    bad.write_text("<opencv_storage><this is not a cascade")
    with pytest.raises(CascadeLoadError, match="broken_cascade.xml"):
        FaceDetector(cascades=(str(bad),))
    assert issubclass(CascadeLoadError, ValueError)


def test_cascades_are_loaded_once_per_thread():
    assert load_cascade("default") is load_cascade("default")
    assert load_cascade("profile") is not load_cascade("default")


def test_non_max_suppression_drops_overlaps_and_nested_boxes():
    boxes = np.array([[0, 0, 100, 100], [5, 5, 100, 100], [20, 20, 40, 40], [300, 0, 50, 50]], float)
    keep = non_max_suppression(boxes, np.array([10, 5, 20, 1], float), 0.3)
    # the nested box (score 20) wins first, then suppresses the big ones it lies inside; the far box survives
    assert sorted(keep) == [2, 3]
    keep = non_max_suppression(boxes[[0, 1, 3]], np.array([10, 5, 1], float), 0.3)
    assert sorted(keep) == [0, 2]
    assert non_max_suppression(np.zeros((0, 4)), np.zeros(0)) == []


def test_sort_boxes_reading_order_tolerates_small_vertical_jitter():
    boxes = [(300, 12, 50, 50), (10, 0, 50, 50), (150, 5, 50, 50), (10, 200, 50, 50), (200, 190, 50, 50)]
    assert sort_boxes(boxes) == [(10, 0, 50, 50), (150, 5, 50, 50), (300, 12, 50, 50),
                                 (10, 200, 50, 50), (200, 190, 50, 50)]
    assert sort_boxes([]) == []
