"""Which device TensorFlow runs the model on (a GPU when it sees one, else the CPU)."""
from __future__ import annotations

import os
import platform


def describe_device() -> str:
    """``"GPU: <name>"`` for the first visible GPU, else ``"CPU: <model> (<n> cores)"``."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"GPU: {details.get('device_name', gpus[0].name)}"
    return cpu_text()


_RUNTIMES = {"tensorflow": "TensorFlow", "onnxruntime": "ONNX Runtime", "onnxruntime-int8": "ONNX Runtime (int8)"}


def describe_runtime(backend: str = "tensorflow") -> str:
    """Where and by what a classifier's forward pass runs: ``describe_device()`` plus the runtime, e.g.
    ``"CPU: AMD EPYC (2 cores), ONNX Runtime"`` (ONNX Runtime runs on the CPU only). An ensemble whose members run on
    different backends has them joined by "+" (``"onnxruntime-int8+tensorflow"``)."""
    kinds = backend.split("+")
    where = describe_device() if "tensorflow" in kinds else cpu_text()
    return f"{where}, " + " + ".join(_RUNTIMES.get(k, k) for k in kinds)


def cpu_text() -> str:
    return f"CPU: {_cpu_name()} ({os.cpu_count()} cores)"


INT8_DOT_FLAGS = {"avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI", "amx_int8": "AMX-INT8"}
BF16_FLAGS = {"avx512_bf16": "AVX-512 BF16", "amx_bf16": "AMX-BF16"}


def cpu_flags() -> frozenset[str] | None:
    """The instruction-set flags of ``/proc/cpuinfo``, or None where it cannot be read (not Linux)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def cpu_features(flags: frozenset[str] | None = None) -> str:
    """The instructions that decide int8 inference and bfloat16 training speed on this CPU, in words, e.g.
    ``"8-bit dot products: AVX-512 VNNI; bfloat16: none; AVX2: yes"``: the same int8 model runs about twice as fast
    with 8-bit dot products, and bfloat16 without hardware support is emulated, many times slower than float32."""
    flags = cpu_flags() if flags is None else flags
    if flags is None:
        return "CPU instruction sets unknown (no /proc/cpuinfo)"

    def named(table: dict[str, str]) -> str:
        return ", ".join(v for k, v in table.items() if k in flags) or "none"

    return (f"8-bit dot products: {named(INT8_DOT_FLAGS)}; bfloat16: {named(BF16_FLAGS)}; "
            f"AVX2: {'yes' if 'avx2' in flags else 'no'}")


def cpu_has_bf16(flags: frozenset[str] | None = None) -> bool | None:
    """Whether this CPU computes bfloat16 in hardware; None where that cannot be told."""
    flags = cpu_flags() if flags is None else flags
    return None if flags is None else any(k in flags for k in BF16_FLAGS)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
