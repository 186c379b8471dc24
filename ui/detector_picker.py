"""The sidebar's choice of face detector, one line on the Upload photo, Webcam and Video pages."""
from __future__ import annotations

import streamlit as st

from fer_core.inference.detection import DEFAULT_DETECTOR, default_detector, list_detectors
from fer_core.inference.yunet import YuNetLoadError

LABELS = {"yunet": "YuNet (CNN)", "haar": "Haar cascades (classic)"}
HELP = ("YuNet, a small neural network run by OpenCV, finds turned, tilted, dim and partly covered faces that the "
        "classic Haar cascades miss (on the project's real-photo benchmark: 99 % against 94 % of the faces). "
        "Haar is the classic OpenCV detector.")


def detector_picker(key: str) -> str:
    """A select box of ``list_detectors()`` (``DEFAULT_DETECTOR`` first chosen) under ``key``; returns the name to
    use. A detector whose model file cannot be loaded is reported, naming the file, and Haar is used instead."""
    names = list_detectors()
    name = st.selectbox("Face detector", names, index=names.index(DEFAULT_DETECTOR), key=key,
                        format_func=lambda n: LABELS.get(n, n) + (" · default" if n == DEFAULT_DETECTOR else ""),
                        help=HELP)
    try:
        default_detector(name)  # loads (and checks) the model file once per process
    except YuNetLoadError as e:
        st.error(f"{e} Using the Haar detector instead.", icon=":material/error:")
        return "haar"
    return name


def chosen(key: str) -> str:
    """The detector picked under ``key`` in this session (``DEFAULT_DETECTOR`` before the picker has run; Haar when
    the picked one cannot be loaded), for code that builds detectors away from the picker."""
    name = st.session_state.get(key, DEFAULT_DETECTOR)
    name = name if name in list_detectors() else DEFAULT_DETECTOR
    try:
        default_detector(name)
    except YuNetLoadError:
        return "haar"
    return name
