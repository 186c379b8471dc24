"""fer_core: facial expression recognition library behind the Streamlit app (no Streamlit imports here).

Packages by concern, each importing only the floors below it (``tests/test_architecture.py`` checks this):
``classroom``, ``training`` -> ``live``, ``api`` -> ``inference`` -> ``runs``, ``labels``, ``device``. The modules
``train``, ``evaluate``, ``ensemble``, ``export_onnx``, ``analyze``, ``serve``, ``train_clips`` and ``ferplus`` here
only forward ``python -m fer_core.<name>`` to their command line. The names below load lazily from their modules."""
from __future__ import annotations

import importlib

from .labels import EMOTIONS

# Public names -> the module that defines them. Loaded lazily so `import fer_core` stays light
# (TensorFlow and OpenCV load only when a model or detector is first used).
_LAZY = {
    "load_classifier": "inference.classifier",
    "Classifier": "inference.classifier",
    "ModelLoadError": "inference.classifier",
    "detect_faces": "inference.detection",
    "FaceDetector": "inference.haar",
    "YuNetDetector": "inference.yunet", "list_detectors": "inference.detection", "YuNetLoadError": "inference.yunet",
    "analyze": "inference.analysis",
    "FaceResult": "inference.analysis",
    "list_models": "training.architectures",
    "create_model": "training.architectures",
    "register_model": "training.architectures",
    "FaceTracker": "live.tracking",
    "EngagementRecorder": "live.engagement", "concentration_index": "live.engagement",
    "LiveProcessor": "live.processor", "LiveSettings": "live.processor",
    "ClipClassifier": "live.clips", "load_clip_classifier": "live.clips", "load_clip_folder": "training.clip_data",
    "analyze_video": "live.video", "VideoAnalysis": "live.video", "VideoSettings": "live.video", "VideoError": "live.video",
}

__all__ = ["EMOTIONS", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'fer_core' has no attribute {name!r}")
