"""Hostile inputs, property-based (Hypothesis): random bytes, truncated and corrupted images and decompression bombs
through the upload path; odd dtypes and shapes into ``analyze`` and ``predict_proba``; NaN, infinities and garbage in
a run folder's files for ``fer_core.runs`` / ``fer_core.runs.summary`` and the Training runs page. Every case must end in the
documented exception (``ImageDecodeError``, ``ValueError``, ``RunError``, ``ModelLoadError``) or the page's message,
never another exception, a crash or a hang (a per-test timeout and a per-example deadline).

Examples are derandomized (the same cases every run, as CI needs) and nothing is stored (no example database);
``pytest --hypothesis-show-statistics`` counts the cases tried.
"""
from __future__ import annotations

import io
import json
import math
import shutil
import struct
import tempfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from fer_core.runs import summary as rs
from ui import run_text
from fer_core import runs
from fer_core.inference.preprocessing import MAX_PIXELS, ImageDecodeError, decode_image
from factories import make_run, png_with_declared_size

pytestmark = pytest.mark.timeout(600, func_only=True)  # a hang fails the test (not the model load) instead of stalling


def hostile(max_examples: int, seconds: float = 60.0) -> settings:
    """Moderate example counts, reproducible, no database in the checkout; the deadline only catches an example
    that nearly hangs (a busy machine must not fail the test)."""
    return settings(max_examples=max_examples, deadline=timedelta(seconds=seconds), derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])


# ---------------------------------------------------------------- image bytes

MODES = {"PNG": ["L", "RGB", "RGBA", "P", "1", "I;16", "LA"], "JPEG": ["L", "RGB", "CMYK"], "GIF": ["L", "P"],
         "BMP": ["1", "L", "P", "RGB"], "TIFF": ["L", "RGB", "RGBA", "CMYK", "1", "I;16"], "WEBP": ["RGB", "RGBA"]}
MAGICS = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"GIF87a", b"BM", b"II*\x00", b"MM\x00*",
          b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"\x00\x00\x01\x00"]


@st.composite
def encoded_images(draw) -> bytes:
    """A small valid image file in one of the upload formats and one of its pixel modes."""
    fmt = draw(st.sampled_from(sorted(MODES)))
    mode = draw(st.sampled_from(MODES[fmt]))
    w, h = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    rgb = np.random.default_rng(draw(st.integers(0, 1000))).integers(0, 256, (h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).convert(mode).save(buf, fmt)
    return buf.getvalue()


@st.composite
def truncated_images(draw) -> bytes:
    data = draw(encoded_images())
    return data[:draw(st.integers(0, len(data) - 1))]


@st.composite
def corrupted_images(draw) -> bytes:
    """A valid file with a few bytes overwritten (headers included)."""
    data = bytearray(draw(encoded_images()))
    for pos, value in draw(st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)), min_size=1,
                                    max_size=8)):
        data[pos] = value
    return bytes(data)


def _patched(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    out = bytearray(data)
    out[offset:offset + struct.calcsize(fmt)] = struct.pack(fmt, *values)
    return bytes(out)


def _encode(fmt: str, size=(1, 1), mode="L") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, fmt)
    return buf.getvalue()


@st.composite
def bombs(draw) -> bytes:
    """A tiny file whose header declares more than MAX_PIXELS pixels (PNG, GIF, BMP or JPEG)."""
    fmt = draw(st.sampled_from(["PNG", "GIF", "BMP", "JPEG"]))
    top = {"PNG": 2**31 - 1, "GIF": 65535, "BMP": 2**31 - 1, "JPEG": 65535}[fmt]
    w = draw(st.integers(MAX_PIXELS // top + 1, top))
    h = draw(st.integers(MAX_PIXELS // w + 1, top))
    if fmt == "PNG":
        return png_with_declared_size(w, h)
    if fmt == "GIF":  # the logical screen size, which Pillow reports
        return _patched(_encode("GIF"), 6, "<HH", w, h)
    if fmt == "BMP":  # BITMAPINFOHEADER width and height (negative: stored top-down)
        return _patched(_encode("BMP"), 18, "<ii", w, draw(st.sampled_from([h, -h])))
    data = _encode("JPEG", (8, 8))
    sof = data.index(b"\xff\xc0")  # baseline frame header: length, precision, height, width
    return _patched(data, sof + 5, ">HH", h, w)


random_bytes = st.one_of(st.binary(max_size=2048),
                         st.tuples(st.sampled_from(MAGICS), st.binary(max_size=512)).map(lambda t: t[0] + t[1]))
hostile_bytes = st.one_of(random_bytes, truncated_images(), corrupted_images(), bombs(), encoded_images())


def decoded_or_refused(data: bytes, name: str = "upload.bin") -> np.ndarray | None:
    """The decode contract: a BGR uint8 image within the pixel limit, or ``ImageDecodeError`` naming the file."""
    try:
        out = decode_image(data, name=name)
    except ImageDecodeError as e:
        assert str(e).startswith(f"{name}: ") and "Received" in str(e), str(e)
        return None
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3 and 0 < out.shape[0] * out.shape[1] <= MAX_PIXELS
    return out


@hostile(200)
@given(random_bytes)
@example(b"")
@example(b"\x89PNG\r\n\x1a\n")
@example(b"\xff\xd8\xff")
def test_random_bytes_decode_or_raise_image_decode_error(data):
    decoded_or_refused(data)


@hostile(200)
@given(st.one_of(truncated_images(), corrupted_images()))
def test_truncated_and_corrupted_images_decode_or_raise_image_decode_error(data):
    decoded_or_refused(data)


@hostile(60)
@given(bombs())
def test_decompression_bombs_are_refused_from_the_header(data):
    """Declared sizes beyond the limit are refused from the header, before any pixel is decoded."""
    with pytest.raises(ImageDecodeError, match="too large|corrupt|not an image"):
        decode_image(data, name="bomb")
    if not data.startswith(b"BM"):  # Pillow refuses some huge BMP headers as unsupported before reporting a size
        with pytest.raises(ImageDecodeError, match="too large"):
            decode_image(data, name="bomb")


# ---------------------------------------------------------------- the shipped model on odd arrays

@pytest.fixture(scope="module")
def clf():
    from fer_core.inference.classifier import load_classifier

    model = load_classifier()
    model.predict_proba([np.zeros((48, 48), np.uint8)])  # trace it before the deadlines start
    return model


@pytest.fixture(scope="module")
def detector():
    from fer_core.inference.haar import FaceDetector

    return FaceDetector()


@hostile(60)
@given(data=hostile_bytes)
def test_the_upload_path_analyses_or_refuses_any_bytes(clf, detector, data):
    """ui.photo.analyze_upload (what the Upload photo page calls per file): a result or
    ``ImageDecodeError``, which the page shows as 'Could not read this file' beside the other photos."""
    from ui.photo import analyze_upload

    try:
        pa = analyze_upload("upload.bin", data, clf, detector)
    except ImageDecodeError as e:
        assert str(e).startswith("upload.bin: ")
        return
    assert pa.annotated.shape == pa.image.shape and json.loads(pa.to_json()) is not None


NUMERIC = [np.uint8, np.bool_, np.int16, np.uint16, np.int64, np.float16, np.float32, np.float64]
NOT_NUMERIC = [np.complex128, np.dtype("U3"), np.dtype("M8[s]"), np.dtype(object)]


def arrays_of(dtypes, min_dims=0, max_dims=5, max_side=24):
    """Arrays of the given dtypes and any shape up to 5-D (0-size sides too); floats with NaN and infinities."""
    return st.sampled_from(dtypes).flatmap(lambda dt: hnp.arrays(
        np.dtype(dt), hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=max_side),
        elements=_elements(np.dtype(dt))))


def _elements(dt: np.dtype):
    if dt.kind == "f":
        return st.floats(width=8 * dt.itemsize, allow_nan=True, allow_infinity=True)
    if dt.kind == "O":
        return st.one_of(st.none(), st.integers(), st.text(max_size=3))
    return None


def is_image(a: np.ndarray) -> bool:
    """What ``check_image`` documents: numeric (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), at least 1x1."""
    numeric = a.dtype == bool or np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)
    shaped = a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (1, 3, 4))
    return numeric and shaped and a.shape[0] >= 1 and a.shape[1] >= 1


def assert_probabilities(p: np.ndarray, n: int, k: int) -> None:
    assert p.shape == (n, k) and p.dtype == np.float32 and np.isfinite(p).all()
    if n:
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-4)


@hostile(100)
@given(image=st.one_of(arrays_of(NUMERIC), arrays_of(NOT_NUMERIC, max_side=6)), whole=st.booleans())
@example(image=np.full((20, 20, 3), np.nan), whole=True)
@example(image=np.array([[np.inf, -np.inf], [np.nan, 0.5]]), whole=True)
@example(image=np.zeros((0, 0, 3), np.uint8), whole=False)
@example(image=np.zeros((4, 4, 5), np.uint8), whole=True)
@example(image=np.zeros((3, 3, 3, 3), np.float64), whole=True)
def test_analyze_accepts_images_and_raises_value_error_for_the_rest(clf, detector, image, whole):
    from fer_core.inference.analysis import analyze

    if not is_image(image):
        with pytest.raises(ValueError, match="Expected"):
            analyze(image, clf, detector, whole_image=whole)
        return
    results = analyze(image, clf, detector, whole_image=whole)
    assert len(results) == 1 if whole else isinstance(results, list)
    for r in results:
        assert np.isfinite(r.probabilities).all() and r.dominant_emotion in clf.labels


@hostile(120)
@given(faces=st.one_of(arrays_of(NUMERIC, min_dims=1),
                       st.lists(st.one_of(arrays_of(NUMERIC, max_dims=4), arrays_of(NOT_NUMERIC, max_side=4)),
                                max_size=3),
                       st.none(), st.text(max_size=4), st.integers()),
       tta=st.one_of(st.none(), st.booleans(), st.sampled_from(["none", "flip", "crops", "FLIP", "sideways", ""]),
                     st.integers(-1, 2), st.floats()))
@example(faces=[np.full((48, 48), np.nan)], tta=None)
@example(faces=[np.full((30, 30, 3), -np.inf, np.float32)], tta="flip")
@example(faces=np.zeros((2, 48, 48, 5), np.uint8), tta=None)
@example(faces=[np.zeros((48, 48, 2), np.uint8)], tta=None)
@example(faces=[np.array(["a", "b"])], tta=None)
@example(faces=np.zeros((0, 48, 48), np.uint8), tta="crops")
def test_predict_proba_returns_probabilities_or_raises_value_error(clf, faces, tta):
    """A batch array (N, H, W[, C]) or a list of crops; each crop an image as ``is_image`` says, any numeric dtype
    (float NaN reads as 0, infinities saturate); anything else, and an unknown ``tta``, is a ``ValueError``."""
    if isinstance(faces, np.ndarray):
        crops = list(faces) if faces.ndim in (3, 4) else None
    else:
        crops = faces if isinstance(faces, list) else None
    good_tta = tta is None or isinstance(tta, bool) or tta in ("none", "flip", "crops", "FLIP", "")
    if crops is None or not all(is_image(np.asarray(c)) for c in crops) or not good_tta:
        with pytest.raises(ValueError):
            clf.predict_proba(faces, tta=tta)
        return
    assert_probabilities(clf.predict_proba(faces, tta=tta), len(crops), len(clf.labels))


@hostile(50)
@given(box=st.tuples(*[st.one_of(st.integers(-10**12, 10**12), st.floats()) for _ in range(4)]))
@example(box=(0, 0, 10**9, 10**9))
@example(box=(float("inf"), 0, 10, 10))
@example(box=(float("nan"), 0, 10, 10))
@example(box=(5, 5, 0, 10))
def test_analyze_with_hostile_boxes_gives_results_or_value_error(clf, box):
    """Boxes given by the caller (tracked boxes): a face crop for a box overlapping the image, a ``ValueError`` for
    one outside it, degenerate, not finite or absurdly larger than the image."""
    from fer_core.inference.analysis import analyze

    image = np.full((60, 80), 128, np.uint8)
    try:
        results = analyze(image, clf, boxes=[box])
    except ValueError as e:
        assert "box" in str(e).lower(), str(e)
        return
    assert len(results) == 1 and np.isfinite(results[0].probabilities).all()


# ---------------------------------------------------------------- run folders

json_leaves = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=6))
json_values = st.recursive(json_leaves, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                               st.dictionaries(st.text(max_size=6), kids, max_size=4)),
                           max_leaves=10)
CONFIG_KEYS = ["run_id", "labels", "architecture", "n_params", "epochs_planned", "epochs_done", "best_val_accuracy",
               "best_epoch", "train_seconds", "device", "dataset", "init_from", "finished", "kind", "members",
               "hyperparameters", "inference", "input_shape"]
METRICS_KEYS = ["dataset", "split", "n", "labels", "accuracy", "macro_f1", "per_class", "tta", "backend", "unseen",
                "copies_left_out", "compared_with"]
GARBAGE_TEXT = ["", "{", "[1, 2]", "NaN", "Infinity", "null", "\"text\"", "{\"a\": NaN}", "[" * 5000 + "]" * 5000,
                "1" * 5000, "\x00\x00", "{\"accuracy\": 1e999}"]


def json_documents(keys: list[str]):
    """A JSON object over the run schema's keys with any values (NaN and infinities included), or garbage text."""
    objects = st.dictionaries(st.sampled_from(keys), json_values, max_size=len(keys)).map(
        lambda d: json.dumps(d, allow_nan=True))
    return st.one_of(objects, objects, st.sampled_from(GARBAGE_TEXT), st.text(max_size=40),
                     st.binary(max_size=40))


history_cells = st.one_of(st.sampled_from(["", "nan", "inf", "-inf", "1", "0.5", "-3", "1e999", "abc", "NaN"]),
                          st.text(max_size=5))
history_files = st.one_of(
    st.tuples(st.lists(st.sampled_from([*runs.HISTORY_COLUMNS, "junk", ""]), min_size=1, max_size=8),
              st.lists(st.lists(history_cells, max_size=9), max_size=6)).map(
        lambda t: "\n".join(",".join(row) for row in [t[0], *t[1]]) + "\n"),
    st.sampled_from(["", "epoch,loss,accuracy\n", "epoch,loss,accuracy\n1,2\n", "\x00\xff\xfe", "epoch\n" + "x" * 200_000]),
    st.binary(max_size=60))
confusion_files = st.one_of(
    st.lists(st.lists(st.sampled_from(["true", "angry", "happy", "sad", "", "1", "-2", "nan", "99999999999999999999",
                                       "x"]), max_size=5), max_size=5).map(
        lambda rows: "\n".join(",".join(r) for r in rows) + "\n"),
    st.binary(max_size=40))


@st.composite
def hostile_runs(draw) -> dict[str, str | bytes | None]:
    """File contents replacing a complete generated run's files (None: leave the good file)."""
    return {runs.CONFIG: draw(st.none() | json_documents(CONFIG_KEYS)),
            runs.METRICS: draw(st.none() | json_documents(METRICS_KEYS)),
            runs.HISTORY: draw(st.none() | history_files),
            runs.CONFUSION: draw(st.none() | confusion_files),
            runs.STATE: draw(st.none() | json_documents(["epochs_done", "best_val_accuracy"]))}


def write_run(root: Path, files: dict) -> Path:
    run = make_run(root, "hostile")
    for name, content in files.items():
        if content is not None:
            (run / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    return run


def finite_or_none(v) -> bool:
    return v is None or (isinstance(v, (int, float)) and math.isfinite(v))


@hostile(150)
@given(files=hostile_runs())
@example(files={runs.CONFIG: None, runs.METRICS: None, runs.HISTORY: "epoch,loss,accuracy\n,\n", runs.CONFUSION: None,
                runs.STATE: None})
@example(files={runs.CONFIG: None, runs.METRICS: None, runs.HISTORY: None, runs.CONFUSION: None,
                runs.STATE: '{"epochs_done":1e20}'})
def test_run_summary_and_figures_survive_any_run_files(files):
    """What the Training runs page computes for a run folder: the summary (a problem listed per unreadable file),
    the table row, evaluations, confusion summaries and every figure: no exception but ``RunError`` listed as a
    folder that could not be read."""
    from ui import training_runs as runs_ui

    with tempfile.TemporaryDirectory() as tmp:
        run = write_run(Path(tmp), files)
        summaries, failed = rs.summarize_all([run], now=0.0)
        assert len(summaries) + len(failed) == 1
        for s in summaries:
            row = run_text.table_row(s)
            df = runs_ui.runs_dataframe([row])
            for col in runs_ui.PERCENT_COLUMNS:
                assert finite_or_none(row[col]), (col, row[col])
            assert len(df) == 1
            run_text.training_text(s.info.config)
            run_text.status_text(s)
            if s.info.history:
                assert all(math.isfinite(r["epoch"]) for r in s.info.history)
                runs_ui.curves_figure([("hostile", s.info.history, False)]).to_json()
            named = []
            for ev in rs.run_evaluations(s):
                run_text.evaluation_caption(ev)
                if ev.matrix is not None:
                    run_text.most_confused(ev.labels, ev.matrix)
                    runs_ui.confusion_figure(ev.labels, ev.matrix, True).to_json()
                if ev.metrics:
                    run_text.per_class_rows(ev.metrics)
                    runs_ui.per_class_figure(ev.metrics).to_json()
                    named.append(("hostile", ev.metrics))
            runs_ui.f1_comparison_figure(named * 2).to_json()


PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "3_Training_runs.py")


@hostile(20)
@given(files=hostile_runs())
@example(files={runs.CONFIG: '{"labels": NaN, "epochs_planned": Infinity, "epochs_done": NaN}', runs.METRICS: None,
                runs.HISTORY: "epoch,loss,accuracy\nnan,1,0.5\n", runs.CONFUSION: None, runs.STATE: None})
@example(files={runs.CONFIG: None, runs.METRICS: '{"accuracy": "high", "macro_f1": null, "per_class": [1]}',
                runs.HISTORY: None, runs.CONFUSION: None, runs.STATE: None})
@example(files={runs.CONFIG: None, runs.HISTORY: None, runs.CONFUSION: None, runs.STATE: None,
                runs.METRICS: '{"accuracy": 0.5, "unseen": {"accuracy": "high", "n": NaN, "copies_left_out": "two", '
                              '"compared_with": 3, "tta": {"accuracy": []}, "unseen": {"n": 1}}}'})
@example(files={runs.CONFIG: None, runs.HISTORY: None, runs.CONFUSION: None, runs.STATE: None,
                runs.METRICS: '{"accuracy": 0.5, "unseen": [1, 2]}'})
def test_training_runs_page_shows_any_run_folder_without_exception(files):
    """The Training runs page on a folder holding the hostile run: never an exception; a broken file is named in a
    warning (or the folder in 'could not be read')."""
    from streamlit.testing.v1 import AppTest

    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        tmp = Path(tmp)
        run = write_run(tmp / "extra", files)
        (tmp / "main").mkdir()
        mp.setattr(runs, "RUNS_DIR", tmp / "main")
        mp.setattr(runs, "DEFAULT_FILE", tmp / "no_default.json")
        mp.setenv(rs.ENV_RUNS_DIRS, str(run.parent))
        at = AppTest.from_file(PAGE, default_timeout=60).run()
        assert not at.exception, [e.value for e in at.exception]
        s = rs.summarize_all([run], now=0.0)
        problems = [p for x in s[0] for p in x.problems] + [why for _, why in s[1]]
        shown = " ".join(w.value for w in at.warning)
        assert all(p in shown for p in problems), (problems, shown)


@pytest.fixture(scope="module")
def tiny_model_file(tmp_path_factory) -> Path:
    """An untrained 7-class model.keras (24x24 grey input): load_classifier's config handling, in a fraction of a
    second per load."""
    import keras

    inp = keras.Input((24, 24, 1))
    model = keras.Model(inp, keras.layers.Dense(7, activation="softmax")(keras.layers.Flatten()(inp)))
    path = tmp_path_factory.mktemp("tiny_model") / runs.MODEL
    model.save(path)
    return path


@hostile(30)
@given(config=json_documents(CONFIG_KEYS))
@example(config='{"labels": "abcdefg"}')
@example(config='{"labels": [1, 2, 3, 4, 5, 6, 7]}')
@example(config='{"inference": "flip"}')
@example(config='{"inference": {"tta": NaN}}')
@example(config='{"kind": "ensemble", "members": NaN}')
def test_load_classifier_on_a_hostile_config_loads_or_raises_model_load_error(tiny_model_file, config):
    from fer_core.inference.classifier import ModelLoadError, load_classifier

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        run.mkdir()
        shutil.copy(tiny_model_file, run / runs.MODEL)
        (run / runs.CONFIG).write_bytes(config if isinstance(config, bytes) else config.encode("utf-8", "surrogatepass"))
        try:
            clf = load_classifier(run, backend="keras")
        except ModelLoadError as e:
            assert str(e)
            return
        assert len(clf.labels) == 7 and all(isinstance(k, str) and k for k in clf.labels)
        assert_probabilities(clf.predict_proba(np.zeros((2, 24, 24), np.uint8)), 2, 7)
