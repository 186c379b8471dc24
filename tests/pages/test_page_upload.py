"""Upload Photo page (AppTest): files analysed independently, charts, table, group view, no-face fallback, errors."""
from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import fer_core
from fer_core import runs
from fer_core.inference.classifier import ModelLoadError
from ui import keys, model_cache, model_picker, photo as photo_ui

REPO = Path(__file__).resolve().parents[2]
PAGE = str(REPO / "pages" / "1_Upload_photo.py")


@pytest.fixture(scope="module")
def clf(tiny_run):
    return fer_core.load_classifier(tiny_run)


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def png(img: np.ndarray) -> bytes:
    return cv2.imencode(".png", img)[1].tobytes()


def png_with_declared_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb that is cheap to make)."""
    import struct
    import zlib

    data = bytearray(png(np.zeros((1, 1), np.uint8)))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@pytest.fixture(autouse=True)
def tiny_model(monkeypatch, tiny_run, clf):
    monkeypatch.setattr(runs, "default_run_dir", lambda: Path(tiny_run))
    monkeypatch.setattr(model_picker, "available_model_runs", lambda: [Path(tiny_run)])
    monkeypatch.setattr(model_cache, "cached_classifier", lambda path: clf)


def upload(files: list[tuple[str, bytes, str]]) -> AppTest:
    at = AppTest.from_file(PAGE)
    at.run(timeout=120)
    assert not at.exception, at.exception
    at.file_uploader(key=keys.PHOTO_UPLOADS).set_value(files)
    at.run(timeout=300)
    assert not at.exception, at.exception
    return at


def figures(at: AppTest) -> list[go.Figure]:
    return [go.Figure(json.loads(c.proto.spec)) for c in at.get("plotly_chart")]


def test_page_before_any_upload():
    at = AppTest.from_file(PAGE)
    at.run(timeout=120)
    assert not at.exception
    assert at.title[0].value == "Upload a photo"
    assert any("No photo yet" in m.value for m in at.markdown)
    assert at.file_uploader(key=keys.PHOTO_UPLOADS).accept_multiple_files
    assert at.slider(key=keys.PHOTO_MIN_NEIGHBORS).value == fer_core.FaceDetector.min_neighbors
    assert at.slider(key=keys.PHOTO_MIN_SIZE).value == fer_core.FaceDetector.min_size


def test_portrait_gives_annotated_image_chart_table_and_downloads(portrait, clf):
    at = upload([("astronaut.png", png(portrait), "image/png")])
    assert not at.error
    assert any("1 face found" in c.value for c in at.caption)
    figs = figures(at)
    assert len(figs) == 1 and list(figs[0].data[0].y) == list(clf.labels)
    assert abs(sum(figs[0].data[0].x) - 100) < 0.1
    table = at.dataframe[0].value  # narrow enough to read without scrolling sideways; the CSV has every column
    assert len(table) == 1 and list(table.columns) == ["face", "emotion", "confidence %", "top 3", "face score %"]
    assert table["top 3"].iat[0].count("%") == 3 and 0 < table["confidence %"].iat[0] <= 100
    assert len(at.image) >= 1  # the annotated photo
    assert {b.proto.label for b in at.get("download_button")} == {"Results (JSON)", "Results (CSV)",
                                                                  "Annotated image (PNG)"}


def test_corrupt_empty_and_huge_files_get_errors_while_good_ones_render(portrait):
    at = upload([("broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg", "image/jpeg"),
                 ("astronaut.png", png(portrait), "image/png"),
                 ("empty.png", b"", "image/png"),
                 ("huge.png", png_with_declared_size(20_000, 20_000), "image/png"),
                 ("notes.png", b"shopping list: milk, eggs", "image/png")])
    errors = [e.value for e in at.error]
    assert len(errors) == 4
    for name, why in (("broken.jpg", "corrupt|not an image"), ("empty.png", "empty"), ("huge.png", "too large"),
                      ("notes.png", "not an image")):
        msg = next(e for e in errors if name in e)
        assert any(w in msg for w in why.split("|")), msg
    assert len(figures(at)) == 1 and len(at.dataframe) == 1  # the good photo still shows


def test_group_photo_shows_thumbnails_and_the_group_distribution(portrait, clf):
    at = upload([("class.jpg", cv2.imencode(".jpg", np.tile(portrait, (2, 2, 1)))[1].tobytes(), "image/jpeg")])
    assert any("4 faces found" in c.value for c in at.caption)
    figs = figures(at)
    titles = [f.layout.title.text or "" for f in figs]
    assert sum(t.startswith("Face #") for t in titles) == 4
    dist = next(f for f in figs if f.layout.title.text == "Emotions of the group")
    assert sum(dist.data[0].y) == 4 and list(dist.data[0].x) == list(clf.labels)
    assert any(f.layout.title.text == "Average over faces" for f in figs)
    assert len(at.dataframe[0].value) == 4
    thumbs = [i for i in at.image if len(i.captions) == 4]
    assert thumbs and all(c.startswith("#") for c in thumbs[0].captions)


def test_many_faces_show_one_chart_at_a_time(portrait):
    gallery = np.tile(cv2.resize(portrait, (384, 384)), (3, 3, 1))
    at = upload([("gallery.png", png(gallery), "image/png")])
    assert any("9 faces found" in c.value for c in at.caption)
    face_box = next(s for s in at.selectbox if s.label == "Face")
    assert len(face_box.options) == 9
    assert sum((f.layout.title.text or "").startswith("Face #") for f in figures(at)) == 1
    face_box.set_value(8)
    at.run(timeout=300)
    assert not at.exception
    assert any((f.layout.title.text or "").startswith("Face #9") for f in figures(at))


def test_no_face_offers_the_whole_image_as_one_face(clf):
    crop = np.random.default_rng(0).integers(0, 255, (48, 48), dtype=np.uint8)
    at = upload([("sample.png", png(crop), "image/png")])
    assert any("No face found in **sample.png**" in w.value for w in at.warning)
    assert not figures(at)
    box = next(c for c in at.checkbox if c.label == "Treat the whole image as one face")
    box.check()
    at.run(timeout=300)
    assert not at.exception
    assert len(figures(at)) == 1 and len(at.dataframe) == 1
    assert any("treated as one face" in c.value for c in at.caption)


def test_rgba_grayscale_16_bit_and_rotated_uploads_work(portrait):
    rgb = cv2.cvtColor(portrait, cv2.COLOR_BGR2RGB)

    def enc(img: Image.Image, fmt="PNG", **kw) -> bytes:
        buf = io.BytesIO()
        img.save(buf, fmt, **kw)
        return buf.getvalue()

    exif = Image.Exif()
    exif[0x0112] = 8  # stored rotated: displayed after a 90 degree turn
    rotated = enc(Image.fromarray(rgb).transpose(Image.Transpose.ROTATE_270), "JPEG", exif=exif.tobytes())
    files = [("rgba.png", enc(Image.fromarray(rgb).convert("RGBA")), "image/png"),
             ("gray.png", enc(Image.fromarray(rgb).convert("L")), "image/png"),
             ("deep.png", enc(Image.fromarray((cv2.cvtColor(portrait, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257))),
              "image/png"),
             ("rotated.jpg", rotated, "image/jpeg")]
    at = upload(files)
    assert not at.error
    assert sum("1 face found" in c.value for c in at.caption) == 4


def test_very_large_photo_is_downscaled_for_display(portrait):
    big = cv2.resize(portrait, (2400, 2400))
    at = upload([("big.jpg", cv2.imencode(".jpg", big)[1].tobytes(), "image/jpeg")])
    assert any("shown at 1600x1600" in c.value for c in at.caption)


def test_model_error_is_shown_not_raised(monkeypatch):
    def broken(path):
        raise ModelLoadError("Could not load the model x.keras: it is corrupt")

    monkeypatch.setattr(model_cache, "cached_classifier", broken)
    at = AppTest.from_file(PAGE)
    at.run(timeout=120)
    assert not at.exception
    assert "could not be loaded" in at.error[0].value and "corrupt" in at.error[0].value


def test_downloads_hold_deepface_json_csv_and_png(portrait, clf):
    pa = photo_ui.analyze_upload("a.png", png(np.tile(portrait, (1, 2, 1))), clf, fer_core.FaceDetector())
    faces = json.loads(pa.to_json())
    assert len(faces) == 2 and set(faces[0]) == {"region", "emotion", "dominant_emotion", "face_confidence"}
    csv = pa.to_csv().splitlines()  # in percent, as the JSON's emotions, and saying so in the column names
    header = csv[0].split(",")
    assert header[:9] == ["file", "face", "x", "y", "w", "h", "face_score_pct", "dominant_emotion", "confidence_pct"]
    assert header[9:] == [f"{k}_pct" for k in clf.labels] and len(csv) == 3
    table = pa.table()
    assert abs(table[[f"{k}_pct" for k in clf.labels]].sum(axis=1) - 100).max() < 0.1
    assert abs(table["confidence_pct"] - [max(f["emotion"].values()) for f in faces]).max() < 0.01
    from fer_core.inference.preprocessing import decode_image, encode_png

    annotated = decode_image(encode_png(pa.annotated))
    assert annotated.shape == pa.image.shape and not np.array_equal(annotated, pa.image)


def test_detector_picker_offers_both_detectors_and_the_settings_follow_it(portrait):
    from fer_core.inference.detection import DEFAULT_DETECTOR, list_detectors

    at = AppTest.from_file(PAGE)
    at.run(timeout=120)
    box = at.selectbox(key=keys.PHOTO_DETECTOR)
    assert box.value == DEFAULT_DETECTOR and len(box.options) == len(list_detectors()) == 2
    assert at.slider(key=keys.PHOTO_MIN_NEIGHBORS).disabled and not at.slider(key=keys.PHOTO_MIN_SCORE).disabled
    at.file_uploader(key=keys.PHOTO_UPLOADS).set_value([("astronaut.png", png(portrait), "image/png")])
    at.run(timeout=300)
    assert not at.exception and any("1 face found" in c.value for c in at.caption)
    assert 70 <= at.dataframe[0].value["face score %"].iat[0] < 100  # YuNet's score
    at.selectbox(key=keys.PHOTO_DETECTOR).set_value("haar").run(timeout=300)
    assert not at.exception and not at.slider(key=keys.PHOTO_MIN_NEIGHBORS).disabled
    assert at.slider(key=keys.PHOTO_MIN_SCORE).disabled
    assert any("1 face found" in c.value for c in at.caption)
    assert at.dataframe[0].value["face score %"].iat[0] == 100  # Haar answers yes or no


def test_missing_yunet_file_is_shown_naming_it_and_haar_analyses_instead(portrait, tmp_path, monkeypatch):
    from fer_core.inference import detection, yunet

    monkeypatch.setattr(yunet, "YUNET_FILE", tmp_path / "face_detection_yunet_2023mar.onnx")
    monkeypatch.setattr(detection, "_shared", {})
    at = upload([("astronaut.png", png(portrait), "image/png")])
    assert not at.exception
    assert any("not found" in e.value and "face_detection_yunet_2023mar.onnx" in e.value and "Haar" in e.value
               for e in at.error)
    assert any("1 face found" in c.value for c in at.caption)  # analysed with Haar
    assert not at.slider(key=keys.PHOTO_MIN_NEIGHBORS).disabled
