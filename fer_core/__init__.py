"""fer_core: facial expression recognition library behind the Streamlit app (no Streamlit imports here)."""
from __future__ import annotations

import importlib

from .labels import EMOTIONS

# Public names -> the module that defines them. Loaded lazily so `import fer_core` stays light
# (TensorFlow and OpenCV load only when a model or detector is first used).
_LAZY = {
    "load_classifier": "classifier",
    "Classifier": "classifier",
    "ModelLoadError": "classifier",
    "detect_faces": "detection",
    "FaceDetector": "detection",
    "YuNetDetector": "detection", "list_detectors": "detection", "YuNetLoadError": "detection",
    "analyze": "analysis",
    "FaceResult": "analysis",
    "list_models": "models",
    "create_model": "models",
    "register_model": "models",
    "FaceTracker": "tracking",
    "EngagementRecorder": "engagement", "concentration_index": "engagement",
    "LiveProcessor": "live", "LiveSettings": "live",
    "ClipClassifier": "clips", "load_clip_classifier": "clips", "load_clip_folder": "clips",
    "analyze_video": "video", "VideoAnalysis": "video", "VideoSettings": "video", "VideoError": "video",
}

__all__ = ["EMOTIONS", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'fer_core' has no attribute {name!r}")
