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


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
