"""ONNX Runtime backend: the exported model computes what model.keras computes, and a bad model.onnx falls back."""
from __future__ import annotations

import logging
import shutil
import sys

import numpy as np
import pytest

from fer_core import runs
from fer_core.inference.classifier import load_classifier
from fer_core.export_onnx import main as export_main
from fer_core.inference.onnx_backend import INT8_TOLERANCE, OnnxExportError, backend_choice, export_onnx, quantize_int8

pytest.importorskip("onnxruntime")

FACES = np.random.default_rng(3).integers(0, 255, (5, 60, 52), dtype=np.uint8)


def _copy_run(tiny_run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(tiny_run, dst)
    return dst


def test_training_writes_model_onnx_and_it_runs_the_classifier(tiny_run):
    assert (tiny_run / runs.ONNX_MODEL).is_file()
    fast, ref = load_classifier(tiny_run, backend="onnx"), load_classifier(tiny_run, backend="keras")
    assert (fast.backend, ref.backend) == ("onnxruntime", "tensorflow")
    for tta in ("none", "flip", "crops"):
        np.testing.assert_allclose(fast.predict_proba(FACES, tta=tta), ref.predict_proba(FACES, tta=tta), atol=1e-5)
    assert fast.predict_proba(FACES[:0]).shape == (0, len(fast.labels))


def test_backend_from_environment_and_invalid_choice(tiny_run, monkeypatch):
    monkeypatch.setenv("FER_BACKEND", "keras")
    assert load_classifier(tiny_run).backend == "tensorflow"
    monkeypatch.setenv("FER_BACKEND", "tpu")
    with pytest.raises(ValueError, match="Received: FER_BACKEND='tpu'"):
        load_classifier(tiny_run)
    assert backend_choice("ONNX") == "onnx" and backend_choice("int8") == "int8"


def test_training_writes_an_int8_model_that_auto_prefers(tiny_run):
    assert (tiny_run / runs.ONNX_INT8_MODEL).is_file()
    fast, ref = load_classifier(tiny_run, backend="int8"), load_classifier(tiny_run, backend="keras")
    assert fast.backend == "onnxruntime-int8"
    for tta in ("none", "flip"):
        p = fast.predict_proba(FACES, tta=tta)
        assert p.shape == (len(FACES), len(fast.labels)) and np.allclose(p.sum(axis=1), 1, atol=1e-5)
        np.testing.assert_allclose(p, ref.predict_proba(FACES, tta=tta), atol=INT8_TOLERANCE)
    assert fast.predict_proba(FACES[:0]).shape == (0, len(fast.labels))
    assert load_classifier(tiny_run, backend="onnx").backend == "onnxruntime"  # onnx: float32 only


def test_corrupt_int8_model_falls_back_to_float32_onnx(tiny_run, tmp_path, caplog):
    run = _copy_run(tiny_run, tmp_path)
    (run / runs.ONNX_INT8_MODEL).write_bytes(b"\x00garbage")
    with caplog.at_level(logging.WARNING, logger="fer_core.inference.onnx_backend"):
        clf = load_classifier(run, backend="int8")
    assert clf.backend == "onnxruntime"
    assert "Ignoring" in caplog.text and runs.ONNX_INT8_MODEL in caplog.text


@pytest.mark.parametrize("damage", ["stale", "alone"])
def test_int8_model_is_used_only_as_a_copy_of_the_model_onnx_beside_it(tiny_run, tmp_path, caplog, damage):
    run = _copy_run(tiny_run, tmp_path)
    if damage == "stale":  # model.onnx exported again (new bytes): the int8 file no longer names it as its source
        from fer_core.inference.onnx_backend import probe_batch

        other = tmp_path / "other.onnx"
        export_onnx(load_classifier(run, backend="keras").model, other)
        quantize_int8(other, run / runs.ONNX_INT8_MODEL, probe_batch((48, 48, 1), 8))
        expected = "onnxruntime"
    else:
        (run / runs.ONNX_MODEL).unlink()
        expected = "tensorflow"
    with caplog.at_level(logging.WARNING, logger="fer_core.inference.onnx_backend"):
        clf = load_classifier(run)
    assert clf.backend == expected and "Ignoring" in caplog.text and runs.ONNX_INT8_MODEL in caplog.text
    assert ("was not quantized from" if damage == "stale" else "no model.onnx beside it") in caplog.text


def test_ensemble_runs_its_members_onnx_files_then_its_own_export(tiny_run, tmp_path, fer_csv):
    from fer_core.ensemble import main as ensemble_main

    root = tmp_path / "runs"
    for name in ("a", "b"):
        shutil.copytree(tiny_run, root / name)
    out = root / "ens"
    assert ensemble_main(["--members", str(root / "a"), str(root / "b"), "--out", str(out)]) == 0
    ref = load_classifier(out, backend="keras")
    assert ref.backend == "tensorflow"
    members = load_classifier(out)  # nothing exported for the ensemble: each member runs its own model.int8.onnx
    assert members.backend == "onnxruntime-int8"
    np.testing.assert_allclose(members.predict_proba(FACES), ref.predict_proba(FACES), atol=INT8_TOLERANCE)
    assert load_classifier(out, backend="onnx").backend == "onnxruntime"
    (root / "b" / runs.ONNX_MODEL).unlink()  # b has no ONNX file left: it runs on TensorFlow beside a's int8 file
    mixed = load_classifier(out)
    assert mixed.backend == "onnxruntime-int8+tensorflow"
    np.testing.assert_allclose(mixed.predict_proba(FACES), ref.predict_proba(FACES), atol=INT8_TOLERANCE)
    assert export_main([str(out), "--int8", "--calib-data", str(fer_csv), "--calib-n", "16"]) == 0
    (root / "a" / runs.ONNX_MODEL).unlink()  # the ensemble's own export needs no member file
    fast = load_classifier(out)
    assert fast.backend == "onnxruntime-int8"
    np.testing.assert_allclose(fast.predict_proba(FACES), ref.predict_proba(FACES), atol=INT8_TOLERANCE)
    assert ensemble_main(["--members", str(root / "a"), str(root / "b"), "--out", str(out)]) == 0  # rewritten:
    assert not (out / runs.ONNX_MODEL).exists() and not (out / runs.ONNX_INT8_MODEL).exists()  # stale exports go
    assert load_classifier(out).backend == "tensorflow"  # and no member has an ONNX file left


def test_a_cascade_runs_its_members_int8_files_and_has_nothing_to_export(tiny_run, tmp_path, capsys):
    from fer_core.ensemble import main as ensemble_main

    root = tmp_path / "runs"
    for name in ("a", "b"):
        shutil.copytree(tiny_run, root / name)
    out = root / "cascade"
    assert ensemble_main(["--members", str(root / "a"), str(root / "b"), "--out", str(out),
                          "--tta", "none", "--cascade-threshold", "1"]) == 0
    clf = load_classifier(out)
    assert clf.backend == "onnxruntime-int8"
    ref = load_classifier(out, backend="keras")
    np.testing.assert_allclose(clf.predict_proba(FACES), ref.predict_proba(FACES), atol=INT8_TOLERANCE)
    assert clf.cascade_counts["rows"] == len(FACES)
    assert export_main([str(out)]) == 1
    assert "is a cascade" in capsys.readouterr().err and not (out / runs.ONNX_MODEL).exists()


def test_quantize_rejects_an_empty_calibration_batch(tiny_run, tmp_path):
    with pytest.raises(ValueError, match=r"Received: shape=\(0, 48, 48, 1\)"):
        quantize_int8(tiny_run / runs.ONNX_MODEL, tmp_path / "q.onnx", np.zeros((0, 48, 48, 1), np.float32))


@pytest.mark.parametrize("damage", ["corrupt", "stale"])
def test_bad_model_onnx_is_ignored_with_a_warning(tiny_run, tmp_path, caplog, damage):
    run = _copy_run(tiny_run, tmp_path)
    if damage == "corrupt":
        (run / runs.ONNX_MODEL).write_bytes(b"not an onnx file")
    else:  # another network's weights: loads fine but computes something else
        from fer_core.training.architectures import create_model

        export_onnx(create_model("fer_vgg", 7), run / runs.ONNX_MODEL)
    with caplog.at_level(logging.WARNING, logger="fer_core.inference.onnx_backend"):
        clf = load_classifier(run, backend="onnx")
    assert clf.backend == "tensorflow"
    assert "Ignoring" in caplog.text and "using model.keras" in caplog.text
    np.testing.assert_allclose(clf.predict_proba(FACES), load_classifier(tiny_run, backend="keras").predict_proba(FACES),
                               atol=1e-6)


def test_export_cli_writes_and_checks_model_onnx(tiny_run, tmp_path, capsys):
    run = _copy_run(tiny_run, tmp_path)
    (run / runs.ONNX_MODEL).unlink()
    assert load_classifier(run, backend="onnx").backend == "tensorflow"
    assert export_main([str(run)]) == 0
    assert "checked against model.keras" in capsys.readouterr().out
    assert load_classifier(run, backend="onnx").backend == "onnxruntime"
    before = (run / runs.ONNX_MODEL).read_bytes()
    assert export_main([str(run)]) == 0  # a model.onnx that matches is kept as it is
    assert "kept: it already matched" in capsys.readouterr().out and (run / runs.ONNX_MODEL).read_bytes() == before
    assert export_main([str(tmp_path / "missing")]) == 1
    assert "Model file not found" in capsys.readouterr().err


def test_export_cli_int8_needs_and_uses_calibration_data(tiny_run, tmp_path, fer_csv, capsys):
    run = _copy_run(tiny_run, tmp_path)
    (run / runs.ONNX_INT8_MODEL).unlink()
    with pytest.raises(SystemExit) as exc:
        export_main([str(run), "--int8"])
    assert exc.value.code == 2 and "--int8 needs --calib-data" in capsys.readouterr().err
    assert export_main([str(run), "--int8", "--calib-data", str(fer_csv), "--calib-n", "16"]) == 0
    out = capsys.readouterr().out
    assert runs.ONNX_INT8_MODEL in out and "checked against model.keras" in out
    assert load_classifier(run).backend == "onnxruntime-int8"


def test_export_without_tf2onnx_is_a_clear_error(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    model = load_classifier(tiny_run, backend="keras").model
    with pytest.raises(OnnxExportError, match="needs the tf2onnx package"):
        export_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_shipped_default_model_runs_on_onnx_runtime_and_matches_keras():
    from fer_core.inference.onnx_backend import tensorflow_sees_gpu

    fast, ref = load_classifier(), load_classifier(backend="keras")
    assert fast.backend == ("tensorflow" if tensorflow_sees_gpu() else "onnxruntime-int8")  # a GPU keeps TensorFlow
    np.testing.assert_allclose(fast.predict_proba(FACES), ref.predict_proba(FACES), atol=INT8_TOLERANCE)
    fast = load_classifier(backend="onnx")
    assert fast.backend == "onnxruntime"
    np.testing.assert_allclose(fast.predict_proba(FACES), ref.predict_proba(FACES), atol=1e-5)


@pytest.mark.parametrize("backend, runtime", [("onnxruntime", ", ONNX Runtime"), ("onnxruntime-int8", ", ONNX Runtime (int8)"),
                                              ("tensorflow", ", TensorFlow"),
                                              ("onnxruntime-int8+tensorflow", ", ONNX Runtime (int8) + TensorFlow")])
def test_runtime_description_names_the_backend(backend, runtime):
    from fer_core.device import describe_runtime

    text = describe_runtime(backend)
    assert text.endswith(runtime) and text.split(":")[0] in ("CPU", "GPU")


def test_int8_file_records_its_face_check_and_is_loaded_against_its_own_probe_outputs(tiny_run, tmp_path, caplog):
    """int8 may differ from float32 on a featureless probe where the net is at a tie, so a load compares it with the
    outputs it recorded when it was quantized (its agreement with float32 was checked then, on faces)."""
    import json

    import onnx

    from fer_core.inference import onnx_backend

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    props = {p.key: p.value for p in onnx.load(str(run / runs.ONNX_INT8_MODEL)).metadata_props}
    check = json.loads(props[onnx_backend.FACE_CHECK_KEY])
    assert check["faces"] > 0 and 0.0 <= check["p99_max_diff"] <= INT8_TOLERANCE and 0.0 <= check["agreement"] <= 1.0
    assert np.asarray(json.loads(props[onnx_backend.PROBE_OUTPUTS_KEY])).shape == (4, 7)
    assert load_classifier(run, backend="int8").backend == "onnxruntime-int8"

    model = onnx.load(str(run / runs.ONNX_INT8_MODEL))
    wrong = np.full((4, 7), 1.0 / 7)
    wrong[:, 0] = 1.0  # far from anything the file computes
    onnx.helper.set_model_props(model, {**props, onnx_backend.PROBE_OUTPUTS_KEY: json.dumps(wrong.tolist())})
    onnx.save(model, str(run / runs.ONNX_INT8_MODEL))
    with caplog.at_level(logging.WARNING):
        clf = load_classifier(run, backend="int8")
    assert clf.backend == "onnxruntime" and "recorded when it was quantized" in caplog.text
