"""--precision bfloat16: Keras's mixed_bfloat16 policy while training, switchable on resume, float32 files out."""
from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from fer_core import load_classifier, runs
from fer_core.training.architectures import create_model
from fer_core.training.trainer import (TrainConfig, compile_for_training, dtype_policy, emulated_bf16_warning,
                                       model_precision, recast_checkpoint, train)

from factories import interrupt_at


def test_bfloat16_run_switches_precision_on_resume_and_writes_float32_files(tmp_path, fer_csv):
    out = tmp_path / "bf16"
    cfg = TrainConfig(data=str(fer_csv), arch="fer2013_cnn", out=str(out), epochs=3, batch_size=16, tta=False,
                      precision="bfloat16")
    with pytest.raises(KeyboardInterrupt):
        train(cfg, on_epoch=interrupt_at(1), verbose=0)
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored, even after an interruption
    assert model_precision(keras.models.load_model(out / runs.CHECKPOINT)) == "bfloat16"
    assert model_precision(keras.models.load_model(out / runs.MODEL)) == "float32"  # what the app and ONNX read
    assert runs.read_json(out / runs.CONFIG)["hyperparameters"]["precision"] == "bfloat16"

    with pytest.raises(KeyboardInterrupt):
        train(dataclasses.replace(cfg, precision="float32"), on_epoch=interrupt_at(2), verbose=0)
    assert model_precision(keras.models.load_model(out / runs.CHECKPOINT)) == "float32"
    config = runs.read_json(out / runs.CONFIG)
    assert config["resumes"][0]["precision"] == "float32" and config["hyperparameters"]["precision"] == "float32"

    train(cfg, verbose=0)  # back to bfloat16 for the last epoch, then the export and evaluation
    config = runs.read_json(out / runs.CONFIG)
    assert [r.get("precision") for r in config["resumes"]] == ["float32", "bfloat16"] and config["finished"]
    assert [r["epoch"] for r in runs.read_history(out)] == [1, 2, 3]
    assert model_precision(keras.models.load_model(out / runs.MODEL)) == "float32"
    if (out / runs.ONNX_MODEL).exists():  # where the exporter is installed (it is in requirements-dev)
        import onnx

        graph = onnx.load(str(out / runs.ONNX_MODEL)).graph
        bf16 = onnx.TensorProto.BFLOAT16
        assert not any(t.data_type == bf16 for t in graph.initializer)
        assert not any(a.name == "to" and a.i == bf16 for n in graph.node if n.op_type == "Cast" for a in n.attribute)
    probs = load_classifier(out, backend="keras").predict_proba(np.zeros((2, 48, 48), np.uint8))
    assert probs.shape == (2, 7) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-3)


def test_recast_keeps_weights_and_optimizer_state():
    cfg = TrainConfig(data="-", arch="fer2013_cnn", out="-", optimizer="sgd", lr=0.01).resolved()
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 255, (8, 48, 48, 1)).astype(np.float32), np.eye(7, dtype=np.float32)[rng.integers(0, 7, 8)]
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = create_model("fer2013_cnn", 7)
        compile_for_training(model, cfg)
        model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    finally:
        keras.config.set_dtype_policy("float32")
    assert model_precision(model) == "bfloat16"
    recast = recast_checkpoint(model, cfg, (48, 48, 1), 7)
    assert model_precision(recast) == "float32"
    for a, b in zip(model.get_weights(), recast.get_weights()):
        np.testing.assert_array_equal(a, b)
    old_state = [np.asarray(v) for v in model.optimizer.variables]
    assert int(old_state[0]) == 2 and any(np.abs(s).sum() > 0 for s in old_state[2:])  # 2 steps, momentum built up
    for a, b in zip(old_state, recast.optimizer.variables):
        np.testing.assert_array_equal(a, np.asarray(b))


def test_a_float32_file_loaded_under_the_bfloat16_policy_still_reads_float32(tmp_path):
    model = create_model("fer2013_cnn", 7)
    model.save(tmp_path / "f32.keras")
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:  # weightless layers (the input's) take the global policy on load; the ones with weights keep their own
        assert model_precision(keras.models.load_model(tmp_path / "f32.keras")) == "float32"
        assert model_precision(create_model("fer2013_cnn", 7)) == "bfloat16"
    finally:
        keras.config.set_dtype_policy("float32")


def test_unknown_precision_is_a_clear_error():
    assert dtype_policy("bfloat16") == "mixed_bfloat16"
    with pytest.raises(ValueError, match="precision must be one of .*Received: precision='float16'"):
        dtype_policy("float16")


@pytest.mark.parametrize("precision, device, flags, warns", [
    ("bfloat16", "CPU: AMD EPYC (2 cores)", frozenset({"avx2", "fma"}), True),  # emulated: many times slower
    ("bfloat16", "CPU: AMD EPYC (2 cores)", frozenset({"avx2", "avx512_bf16"}), False),
    ("bfloat16", "GPU: NVIDIA H200", frozenset({"avx2"}), False),  # the accelerator computes it, not the CPU
    ("float32", "CPU: AMD EPYC (2 cores)", frozenset({"avx2"}), False),
])
def test_bfloat16_on_a_cpu_without_it_is_warned_about(precision, device, flags, warns):
    warning = emulated_bf16_warning(precision, device, flags)
    assert (warning is not None) is warns
    if warns:
        assert "--precision float32" in warning and "bfloat16: none" in warning
