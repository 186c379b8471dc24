"""analyze(): faces of a real portrait classified in one batch, DeepFace-shaped results, crops like the training faces."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

import fer_core
from fer_core.inference import analysis
from fer_core.inference.analysis import FaceResult, analyze, distribution, to_records
from fer_core.inference.preprocessing import FACE_MARGIN


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="module")
def clf(tiny_run):
    return fer_core.load_classifier(tiny_run)


class Spy:
    """A classifier stand-in recording each predict_proba call (its crops) and returning fixed probabilities."""

    labels = ("angry", "happy", "neutral")
    name = "spy"

    def __init__(self):
        self.calls: list[list[np.ndarray]] = []

    def predict_proba(self, faces, tta=None, photo=False):
        self.calls.append(list(faces))
        return np.tile(np.array([[0.1, 0.7, 0.2]], np.float32), (len(faces), 1))


def test_analyze_the_astronaut(astronaut, clf):
    results = analyze(astronaut, clf)
    assert len(results) == 1
    r = results[0]
    assert isinstance(r, FaceResult)
    assert r.probabilities.shape == (len(clf.labels),) and abs(float(r.probabilities.sum()) - 1) < 1e-4
    assert r.labels == clf.labels
    assert r.dominant_emotion == clf.labels[int(np.argmax(r.probabilities))]
    x, y, w, h = r.box
    assert 150 < x < 200 and 40 < y < 90 and 80 < w < 130


def test_to_dict_has_the_deepface_shape(astronaut, clf):
    d = analyze(astronaut, clf)[0].to_dict()
    assert set(d) == {"region", "emotion", "dominant_emotion", "face_confidence"}
    assert isinstance(d["face_confidence"], float) and 0.7 <= d["face_confidence"] <= 1.0  # YuNet's score
    assert set(d["region"]) == {"x", "y", "w", "h"} and all(isinstance(v, int) for v in d["region"].values())
    assert list(d["emotion"]) == list(clf.labels)
    assert abs(sum(d["emotion"].values()) - 100) < 0.05
    assert all(0 <= v <= 100 for v in d["emotion"].values())
    assert d["dominant_emotion"] == max(d["emotion"], key=d["emotion"].get)
    import json

    json.dumps(d)  # plain Python types only


def test_all_faces_of_an_image_go_to_the_model_in_one_batch(astronaut):
    spy = Spy()
    results = analyze(np.tile(astronaut, (2, 2, 1)), spy)
    assert len(results) == 4 and len(spy.calls) == 1 and len(spy.calls[0]) == 4
    assert [r.dominant_emotion for r in results] == ["happy"] * 4
    xs = [(r.box[1] // 512, r.box[0] // 512) for r in results]
    assert xs == [(0, 0), (0, 1), (1, 0), (1, 1)]  # reading order


def test_crops_are_the_haar_box_with_the_fer2013_margin(astronaut):
    spy = Spy()
    r = analyze(astronaut, spy, detector="haar")[0]  # square boxes; YuNet's need not be
    crop = spy.calls[0][0]
    side = round(max(r.box[2], r.box[3]) * (1 + 2 * FACE_MARGIN))
    assert crop.shape == (side, side, 3)
    x, y, w, h = r.box
    pad = (side - w) // 2
    assert np.array_equal(crop[pad:pad + h, pad:pad + w], astronaut[y:y + h, x:x + w])


def test_grayscale_bgra_and_16_bit_inputs(astronaut, clf):
    gray = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(astronaut, cv2.COLOR_BGR2BGRA)
    ref = analyze(astronaut, clf, "haar")  # Haar searches grey, so every format gives the same box
    for img in (gray, bgra, gray[..., None], astronaut.astype(np.uint16) * 257):
        res = analyze(img, clf, "haar")
        assert [r.box for r in res] == [r.box for r in ref]
    # the model is grey: a colour and a grey copy of the same photo give the same probabilities
    assert np.allclose(analyze(gray, clf, "haar")[0].probabilities, ref[0].probabilities, atol=1e-3)
    for img in (gray, bgra, astronaut.astype(np.uint16) * 257):  # YuNet: colour when there is colour, same face
        assert len(analyze(img, clf, "yunet")) == 1


def test_no_face_returns_an_empty_list_without_calling_the_model():
    spy = Spy()
    assert analyze(np.full((480, 640, 3), 200, np.uint8), spy) == []
    assert spy.calls == []


def test_whole_image_treats_the_image_as_one_face(clf):
    crop = np.random.default_rng(0).integers(0, 255, (48, 48), dtype=np.uint8)
    res = analyze(crop, clf, whole_image=True)
    assert len(res) == 1 and res[0].box == (0, 0, 48, 48)
    direct = clf.predict_proba(crop[None])[0]
    assert np.allclose(res[0].probabilities, direct, atol=1e-5)  # exactly the crop, no margin


def test_given_boxes_skip_detection(astronaut):
    spy = Spy()
    res = analyze(astronaut, spy, boxes=[(10, 10, 50, 50), (100, 100, 60, 60)])
    assert [r.box for r in res] == [(10, 10, 50, 50), (100, 100, 60, 60)]


def test_default_classifier_is_loaded_once(monkeypatch, astronaut, clf):
    import fer_core.inference.classifier as classifier_module

    calls = []

    def fake_load(path=None, tta=None):
        calls.append(path)
        return clf

    monkeypatch.setattr(classifier_module, "load_classifier", fake_load)
    monkeypatch.setattr(analysis, "_classifier", None)
    analyze(astronaut)
    analyze(astronaut)
    assert calls == [None]


def test_invalid_images_raise_value_errors(clf):
    for bad in (np.zeros((5,)), np.zeros((4, 4, 2)), np.zeros((0, 10, 3))):
        with pytest.raises(ValueError, match="Received: shape="):
            analyze(bad, clf)


def test_face_result_checks_and_helpers():
    r = FaceResult((1, 2, 3, 4), [0.2, 0.8], ("sad", "happy"))
    assert r.dominant_emotion == "happy" and r.confidence == pytest.approx(0.8)
    assert r.emotions == pytest.approx({"sad": 0.2, "happy": 0.8})
    with pytest.raises(ValueError, match="one probability per label"):
        FaceResult((0, 0, 1, 1), [1.0], ("sad", "happy"))
    rows = to_records([r, FaceResult((5, 5, 5, 5), [0.9, 0.1], ("sad", "happy"), face_confidence=0.91)], file="a.jpg")
    assert rows[0] == {"file": "a.jpg", "face": 1, "x": 1, "y": 2, "w": 3, "h": 4, "dominant_emotion": "happy",
                       "confidence": 0.8, "sad": 0.2, "happy": 0.8, "face_confidence": 1.0}
    assert rows[1]["face_confidence"] == 0.91 and r.face_confidence == 1.0
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="face_confidence"):
            FaceResult((0, 0, 1, 1), [0.5, 0.5], ("sad", "happy"), face_confidence=bad)
    assert distribution([r, r], ("sad", "happy", "neutral")) == {"sad": 0, "happy": 2, "neutral": 0}


def test_public_names_are_exported(astronaut):
    assert fer_core.FaceResult is FaceResult
    spy = Spy()
    assert [r.box for r in fer_core.analyze(astronaut, spy)] == [r.box for r in analyze(astronaut, spy)]
    import fer_core.analyze as cli  # importing the CLI module rebinds fer_core.analyze; it must stay callable

    assert callable(cli.main) and fer_core.analyze(astronaut, spy)[0].box == analyze(astronaut, spy)[0].box
    assert callable(fer_core.detect_faces) and fer_core.FaceDetector.__name__ == "FaceDetector"


def test_annotation_draws_each_face_in_its_emotion_colour(astronaut):
    from fer_core.inference.annotate import EMOTION_COLORS, draw_faces, draw_results, emotion_color, emotion_color_bgr

    assert set(EMOTION_COLORS) >= set(fer_core.EMOTIONS) and len(set(EMOTION_COLORS.values())) == len(EMOTION_COLORS)
    assert emotion_color("contempt") == EMOTION_COLORS["contempt"]
    assert emotion_color("bored") == emotion_color("bored")  # unknown labels get a stable colour
    results = [FaceResult((100, 100, 80, 80), [0.1, 0.9], ("sad", "happy")),
               FaceResult((300, 300, 80, 80), [0.9, 0.1], ("sad", "happy"))]
    out = draw_results(astronaut, results, numbers=True)
    assert out.shape == astronaut.shape and out is not astronaut
    assert tuple(out[140, 100]) == emotion_color_bgr("happy")  # left edge of the first box
    assert tuple(out[340, 300]) == emotion_color_bgr("sad")
    assert np.array_equal(out[0:50, 0:50], astronaut[0:50, 0:50])  # elsewhere untouched
    gray = draw_faces(cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY), [(0, 0, 30, 30)], ["angry"])
    assert gray.shape == astronaut.shape  # grey input comes back as BGR so the colours show
    with pytest.raises(ValueError, match="one label"):
        draw_faces(astronaut, [(0, 0, 5, 5)], [])


def test_detector_by_name_object_or_default_and_its_face_confidence(astronaut):
    from fer_core.inference.detection import DEFAULT_DETECTOR
    from fer_core.inference.haar import FaceDetector
    from fer_core.inference.yunet import YuNetDetector

    spy = Spy()
    (y,) = analyze(astronaut, spy, "yunet")
    (h,) = analyze(astronaut, spy, "haar")
    assert 0.7 <= y.face_confidence < 1.0 and h.face_confidence == 1.0  # YuNet's score; Haar answers yes or no
    assert analyze(astronaut, spy, YuNetDetector())[0].box == y.box
    assert analyze(astronaut, spy, FaceDetector())[0].box == h.box
    assert analyze(astronaut, spy)[0].box == analyze(astronaut, spy, DEFAULT_DETECTOR)[0].box
    assert analyze(astronaut, spy, boxes=[(1, 2, 30, 30)])[0].face_confidence == 1.0  # boxes given: no score
    with pytest.raises(ValueError, match=r"Expected one of \['haar', 'yunet'\]"):
        analyze(astronaut, spy, "mtcnn")
    with pytest.raises(ValueError, match="detect"):
        analyze(astronaut, spy, 42)


def test_any_object_with_detect_is_a_detector(astronaut):
    class Fixed:
        def detect(self, image):
            return [(100, 50, 80, 80)]

    spy = Spy()
    (r,) = analyze(astronaut, spy, Fixed())
    assert r.box == (100, 50, 80, 80) and r.face_confidence == 1.0


def test_alignment_turns_the_crop_so_the_eyes_are_level(astronaut):
    """align=True turns the crop about the box centre by the tilt of the eye line: the crop of a head tilted by 20
    degrees then matches the upright head's crop. (A stand-in detector reports the true eye points: YuNet's own
    landmarks hardly follow a tilt; see the note on fer_core.inference.analysis.ALIGN_DEFAULT.)"""
    from fer_core.inference.boxes import Detection
    from fer_core.inference.preprocessing import crop_face

    box = (164, 62, 118, 118)
    centre = (box[0] + box[2] / 2, box[1] + box[3] / 2)
    m = cv2.getRotationMatrix2D(centre, 20, 1.0)
    tilted = cv2.warpAffine(astronaut, m, (512, 512), borderMode=cv2.BORDER_REPLICATE)
    eyes = tuple(tuple(float(v) for v in m @ np.array([x, y, 1.0])) for x, y in ((200.1, 101.8), (247.1, 102.6)))

    class TrueEyes:
        def detect_scored(self, image):
            return [Detection(box, 0.9, eyes + ((0.0, 0.0),) * 3)]

        def detect(self, image):
            return [box]

    spy = Spy()
    analyze(tilted, spy, TrueEyes(), align=False)
    plain = spy.calls[-1][0]
    analyze(tilted, spy, TrueEyes(), align=True)
    levelled = spy.calls[-1][0]
    upright = crop_face(astronaut, box)
    assert plain.shape == levelled.shape == upright.shape

    def corr(a, b):
        return float(np.corrcoef(a.astype(np.float32).ravel(), b.astype(np.float32).ravel())[0, 1])

    inner = np.s_[15:-15, 15:-15]  # leave out the corners the turn fills with replicated border
    assert corr(levelled[inner], upright[inner]) > 0.95 > corr(plain[inner], upright[inner]) + 0.1
    analyze(astronaut, spy, "haar", align=True)  # no landmarks from Haar: the plain crop
    haar_aligned = spy.calls[-1][0]
    analyze(astronaut, spy, "haar", align=False)
    assert np.array_equal(haar_aligned, spy.calls[-1][0])
    assert analysis.ALIGN_DEFAULT in (True, False)


def test_photo_crops_are_equalised_like_the_training_images(tiny_run, monkeypatch):
    """A run trained on histogram-equalised images (inference.equalize "hist") gets photo crops equalised; dataset
    rows (``photo=False``, as evaluation passes them) are left as they are."""
    clf = fer_core.load_classifier(tiny_run)
    dull = np.random.default_rng(1).integers(100, 140, (48, 48)).astype(np.uint8)  # low contrast, as a photo may be
    monkeypatch.setattr(clf, "equalize", "hist")
    as_photo = clf.preprocess([dull], photo=True)[0, ..., 0]
    assert as_photo.min() == 0 and as_photo.max() == 255
    np.testing.assert_array_equal(clf.preprocess([dull])[0, ..., 0], dull)
    seen = []
    monkeypatch.setattr(clf, "predict_proba", lambda faces, tta=None, photo=False: seen.append(photo) or
                        np.full((len(faces), len(clf.labels)), 1 / len(clf.labels), np.float32))
    analyze(cv2.cvtColor(dull, cv2.COLOR_GRAY2BGR), clf, whole_image=True)
    assert seen == [True]
    monkeypatch.setattr(clf, "equalize", "none")
    np.testing.assert_array_equal(clf.preprocess([dull], photo=True)[0, ..., 0], dull)
