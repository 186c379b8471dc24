"""The loaded model, cached across reruns and sessions with st.cache_resource."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from fer_core import runs
from fer_core.inference.classifier import Classifier, load_classifier

from . import keys


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def cached_classifier(path: str | None) -> Classifier:
    """Load (once per path) the classifier of a run folder; ``None`` = the shipped default."""
    return load_classifier(path)


@st.cache_resource(show_spinner=False)
def cached_runtime(backend: str = "tensorflow") -> str:
    """``fer_core.device.describe_runtime(backend)`` once per server and backend (it imports TensorFlow)."""
    from fer_core.device import describe_runtime

    return describe_runtime(backend)


def selected_run_path() -> str | None:
    """The run folder the user chose in a sidebar, or None for the shipped default."""
    return st.session_state.get(keys.MODEL_CHOICE)


def available_model_runs() -> list[Path]:
    """Run folders under models/runs/ that hold a model file (or, for an ensemble, whose members all do)."""
    return [p for p in runs.find_runs() if runs.has_model(p)]
