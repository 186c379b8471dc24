"""ONNX Runtime inference for a run's model: the same network as model.keras, faster on small CPU batches.

One face of the default model (2 threads, preprocessing included): 2.0 ms on ONNX Runtime against 7.4 ms on
TensorFlow, whose fixed cost per call dominates a model this small. A run folder may
hold ``model.onnx`` next to ``model.keras`` (written by the training CLI, or later by ``python -m
fer_core.export_onnx RUN``). At load the two are compared on a fixed probe batch: an ONNX file that does not
compute what model.keras computes (stale, corrupt) is ignored with a warning, and the Keras model is used.
``model.int8.onnx`` is the same network quantized to 8-bit integers (static, per-channel, calibrated on training
images; ``quantize_int8``): about 2.4x faster again on a CPU with 8-bit dot-product instructions, at the same
PublicTest accuracy for the default model. It is checked the same way with a looser tolerance.
``FER_BACKEND`` = ``auto`` (default: the int8 file, else model.onnx, when TensorFlow sees no GPU), ``int8``, ``onnx``
(float32 model.onnx only) or ``keras`` chooses; ``FER_ONNX_THREADS`` caps ONNX Runtime's threads (default: one per core).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Callable

import numpy as np

log = logging.getLogger(__name__)

BACKENDS = ("auto", "int8", "onnx", "keras")
# 7-bit weights: without AVX-512 VNNI, ONNX Runtime's uint8 x int8 kernels add pairs of products in 16 bits, which
# saturates with full-range weights (a file quantized on a VNNI machine differed from Keras by 0.40 on an AVX2 one).
REDUCE_RANGE = True
PROBE_TOLERANCE = 1e-3  # max |p_onnx - p_keras| on the probe batch (float32 runs agree to ~1e-6)
INT8_TOLERANCE = 0.1  # the same for the int8 model (the shipped int8 files differ by 0.036 and 0.060 there)
SOURCE_KEY = "fer_core.source_sha256"  # int8 file metadata: SHA-256 of the model.onnx it was quantized from
# int8 file metadata written at quantization: its own outputs on probe_batch (what a load checks it against, since
# int8 may legitimately differ from float32 on a featureless probe where the net is at a tie), and how it agrees with
# float32 on the calibration faces (top-1 agreement, 99th percentile of the largest probability difference).
PROBE_OUTPUTS_KEY = "fer_core.int8_probe_outputs"
FACE_CHECK_KEY = "fer_core.int8_face_check"


class OnnxExportError(RuntimeError):
    """The Keras model could not be converted to ONNX (tf2onnx missing or the conversion failed)."""


def backend_choice(value: str | None = None) -> str:
    """``value`` or ``$FER_BACKEND`` (default ``auto``), checked against ``BACKENDS``."""
    choice = (value if value is not None else os.environ.get("FER_BACKEND", "auto")).strip().lower()
    if choice not in BACKENDS:
        raise ValueError(f"FER_BACKEND must be one of {BACKENDS}. Received: FER_BACKEND={choice!r}")
    return choice


def export_onnx(model, path: str | os.PathLike) -> Path:
    """Write ``model`` (a Keras model) as ONNX to ``path`` through Keras' exporter (tf2onnx); returns the path."""
    try:
        import tf2onnx  # noqa: F401
    except ImportError as e:
        raise OnnxExportError(f"Exporting to ONNX needs the tf2onnx package (pip install tf2onnx). Received: {e}") from None
    path = Path(path)
    model(np.zeros((1, *model.input_shape[1:]), np.float32))  # Keras exports only a model that has been called
    tmp = path.with_suffix(".onnx.tmp")
    try:
        model.export(str(tmp), format="onnx", verbose=False)
        os.replace(tmp, path)
    except Exception as e:  # tf2onnx raises many types
        tmp.unlink(missing_ok=True)
        raise OnnxExportError(f"Could not export {model.name} to ONNX ({type(e).__name__}: {e})") from e
    return path


def int8_path(onnx_path: str | os.PathLike) -> Path:
    """The int8 sibling of a float32 ONNX file: ``model.onnx`` -> ``model.int8.onnx``."""
    return Path(onnx_path).with_suffix(".int8.onnx")


def file_sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def calibration_inputs(clf, images: np.ndarray, n: int = 512, seed: int = 0) -> np.ndarray:
    """``n`` random training images as ``clf``'s model inputs, to calibrate int8 activation ranges."""
    idx = np.sort(np.random.default_rng(seed).permutation(len(images))[:n])
    return clf.preprocess(images[idx])


def quantize_int8(src: str | os.PathLike, dst: str | os.PathLike, calibration: np.ndarray, batch: int = 64) -> Path:
    """Quantize the float32 ONNX file ``src`` to ``dst`` (QDQ, int8 per-channel weights, uint8 activations) with
    activation ranges calibrated on ``calibration``: model inputs ``(N, H, W, C)`` float32 pixels. ``dst`` records
    ``src``'s SHA-256 (``SOURCE_KEY``), so a stale int8 file is recognised even where the loose tolerance is not."""
    try:
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as e:
        raise OnnxExportError(f"Quantizing needs onnxruntime and onnx (pip install onnxruntime onnx). Received: {e}") from None
    calibration = np.asarray(calibration, np.float32)
    if calibration.ndim != 4 or len(calibration) == 0:
        raise ValueError(f"calibration must be a non-empty (N, H, W, C) batch. Received: shape={calibration.shape}")
    src, dst = Path(src), Path(dst)
    pre, tmp = dst.with_suffix(".pre.tmp"), dst.with_suffix(".onnx.tmp")

    class Reader(CalibrationDataReader):
        def __init__(self, name: str):
            self.name, self.start = name, 0

        def get_next(self):
            if self.start >= len(calibration):
                return None
            self.start += batch
            return {self.name: calibration[self.start - batch:self.start]}

    try:
        import onnx

        name = onnx.load(str(src)).graph.input[0].name
        quant_pre_process(str(src), str(pre))
        quantize_static(str(pre), str(tmp), Reader(name), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        reduce_range=REDUCE_RANGE)
        check, probe_outputs = _compare_int8(src, tmp, calibration)
        if not check["p99_max_diff"] <= INT8_TOLERANCE:
            raise ValueError(f"the int8 model's probabilities differ from float32's on the calibration faces. Expected "
                             f"a 99th percentile of at most {INT8_TOLERANCE}. Received: {check}")
        quantized = onnx.load(str(tmp))
        onnx.helper.set_model_props(quantized, {SOURCE_KEY: file_sha256(src), FACE_CHECK_KEY: json.dumps(check),
                                                PROBE_OUTPUTS_KEY: json.dumps(probe_outputs.round(6).tolist())})
        onnx.save(quantized, str(tmp))
        os.replace(tmp, dst)
    except Exception as e:  # onnx / onnxruntime raise many types
        raise OnnxExportError(f"Could not quantize {src} ({type(e).__name__}: {e})") from e
    finally:
        pre.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return dst


def _compare_int8(fp32_path: Path, int8_file: Path, faces: np.ndarray) -> tuple[dict, np.ndarray]:
    """How the int8 file agrees with the float32 one on ``faces``, and its outputs on ``probe_batch``."""
    import onnxruntime as ort

    sessions = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (fp32_path, int8_file)]
    name = sessions[0].get_inputs()[0].name
    out = [np.concatenate([s.run(None, {name: faces[i:i + 256]})[0] for i in range(0, len(faces), 256)])
           for s in sessions]
    diff = np.abs(out[0] - out[1]).max(axis=1)
    check = {"faces": int(len(faces)), "agreement": float(np.mean(out[0].argmax(1) == out[1].argmax(1))),
             "p99_max_diff": float(np.percentile(diff, 99))}
    probe = probe_batch(tuple(faces.shape[1:]))
    return check, sessions[1].run(None, {name: probe})[0]


def probe_batch(input_shape: tuple[int, ...], n: int = 4) -> np.ndarray:
    """A fixed batch of pixel images (0-255 float32) on which both backends must agree: flat grey, a gradient, noise."""
    rng = np.random.default_rng(0)
    h, w, c = input_shape
    grad = np.broadcast_to(np.linspace(0, 255, w, dtype=np.float32)[None, :, None], (h, w, c))
    imgs = [np.full((h, w, c), 128, np.float32), np.array(grad)]
    imgs += [rng.integers(0, 256, (h, w, c)).astype(np.float32) for _ in range(max(0, n - 2))]
    return np.stack(imgs[:n])


def onnx_forward(path: Path, keras_forward: Callable[[np.ndarray], np.ndarray], input_shape: tuple[int, ...],
                 tolerance: float = PROBE_TOLERANCE, fallback: str = "model.keras",
                 source_sha256: str | None = None) -> Callable[[np.ndarray], np.ndarray] | None:
    """A forward function ``float32 (N, H, W, C) -> (N, K)`` on ONNX Runtime for ``path``, or None (logged) when
    onnxruntime is missing, the file does not load, or it differs from ``keras_forward`` on ``probe_batch`` by more
    than ``tolerance``, or (given ``source_sha256``) was not quantized from that file; the warning names
    ``fallback``, what the caller uses instead. An int8 file that recorded its own probe outputs when it was quantized
    (``PROBE_OUTPUTS_KEY``; its agreement with float32 was checked then, on faces) is compared with those."""
    try:
        import onnxruntime as ort
    except ImportError:
        log.warning("onnxruntime is not installed; %s is not used (pip install onnxruntime)", path)
        return None
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    # Idle ORT threads otherwise spin for a while after each run, stealing the cores OpenCV's detector runs on next.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    threads = int(os.environ.get("FER_ONNX_THREADS", "0") or 0)
    if threads:
        opts.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        inp = session.get_inputs()[0]
        shape = tuple(inp.shape[1:])
        if shape != tuple(input_shape):
            raise ValueError(f"input shape {shape} differs from model.keras' {tuple(input_shape)}")
        if source_sha256 is not None and session.get_modelmeta().custom_metadata_map.get(SOURCE_KEY) != source_sha256:
            log.warning("Ignoring %s: it was not quantized from the model.onnx beside it (stale; re-export it with "
                        "python -m fer_core.export_onnx --int8); using %s", path, fallback)
            return None
        name = inp.name

        def forward(x: np.ndarray) -> np.ndarray:
            return session.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]

        probe = probe_batch(tuple(input_shape))
        recorded = session.get_modelmeta().custom_metadata_map.get(PROBE_OUTPUTS_KEY) if source_sha256 else None
        expected = np.asarray(json.loads(recorded), np.float32) if recorded else keras_forward(probe)
        diff = float(np.max(np.abs(forward(probe) - expected)))
    except Exception as e:  # onnxruntime raises its own types for a corrupt file
        log.warning("Ignoring %s: it could not be loaded (%s: %s); using %s", path, type(e).__name__, e, fallback)
        return None
    if not diff <= tolerance:
        against = "the outputs recorded when it was quantized" if recorded else "model.keras"
        log.warning("Ignoring %s: it disagrees with %s (max probability difference %.3g on the probe batch; "
                    "re-export it with python -m fer_core.export_onnx); using %s", path, against, diff, fallback)
        return None
    return forward


def tensorflow_sees_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))
