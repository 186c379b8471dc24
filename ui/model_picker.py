"""Sidebar choice of the emotion model among the stored runs; the choice is kept under ``keys.MODEL_CHOICE``."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from fer_core import runs

from . import keys
from .model_cache import available_model_runs


def image_model_runs() -> list[Path]:
    """Run folders with a model that classifies single face images (clip models are left out; ensembles of
    image runs are in)."""
    out = []
    for p in available_model_runs():
        try:
            kind = runs.read_json(p / runs.CONFIG).get("kind", "image")
        except runs.RunError:
            kind = "image"
        if kind != "clip":
            out.append(p)
    return out


def default_run_name() -> str:
    try:
        return runs.default_run_dir().name
    except runs.RunError:
        return "not configured"


def _same_run(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _is_ensemble(path: Path) -> bool:
    try:
        return runs.is_ensemble(runs.read_json(path / runs.CONFIG))
    except (runs.RunError, OSError):
        return False


DEFAULT = "__default__"  # the select box's value for the shipped default (None would read as "nothing chosen")


def model_picker(label: str = "Emotion model") -> str | None:
    """A select box of the stored image models (first: the shipped default); returns the chosen run folder or None.

    The choice is copied to ``keys.MODEL_CHOICE`` (a plain session value, not the widget's own key) so it survives
    moving to pages that do not show the picker.
    """
    try:
        default_dir = runs.default_run_dir()
    except runs.RunError:
        default_dir = None
    others = [str(p) for p in image_model_runs() if default_dir is None or not _same_run(p, default_dir)]
    options = [DEFAULT, *others]
    current = st.session_state.get(keys.MODEL_CHOICE)
    if current not in others:
        current = None
        st.session_state[keys.MODEL_CHOICE] = None
    st.session_state[keys.MODEL_PICKER] = current or DEFAULT

    def remember() -> None:
        picked = st.session_state[keys.MODEL_PICKER]
        st.session_state[keys.MODEL_CHOICE] = None if picked == DEFAULT else picked

    ensembles = {p for p in others if _is_ensemble(Path(p))}

    def option_text(p: str) -> str:
        if p == DEFAULT:
            return f"Default ({default_run_name()})"
        return f"{Path(p).name} (ensemble)" if p in ensembles else Path(p).name

    st.selectbox(label, options, key=keys.MODEL_PICKER, on_change=remember, format_func=option_text,
                 help="Models with a model file under models/runs/, and ensembles of them (their members' "
                      "probabilities averaged). The default is the one models/default.json names.")
    return st.session_state.get(keys.MODEL_CHOICE)
