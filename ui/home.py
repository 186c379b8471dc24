"""The home page: what the app does, how to use each page, what is kept (privacy), and the active model's card."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from fer_core import runs
from fer_core.inference.classifier import ModelLoadError

from . import class_store, model_cache, model_card, model_picker

TITLE = "Facial expression recognition"


def privacy_text(retention_days: float) -> str:
    """Both sides of what happens to what people upload or stream, in plain words."""
    return (
        "**Privacy.** Everything runs on this server. Nothing you upload or stream is stored or sent anywhere, with "
        "one exception: when a student joins a class (Webcam page, *Join a class*, after consenting), the "
        "per-second aggregates of their stream (face present, dominant emotion, engagement index; never a frame) "
        f"are kept in the class database for {retention_days:g} days after the lesson started, and shown to the "
        "teacher on the Class dashboard.")


def render() -> None:
    """The home page (the navigation's first entry, "Home")."""
    st.set_page_config(page_title=TITLE, page_icon=":material/mood:", layout="wide")
    st.title(TITLE)
    st.markdown(
        "This app finds faces in photos, webcam video and recorded video and tells which of seven basic emotions "
        "each face shows: **angry, disgust, fear, happy, sad, surprise, neutral** (the FER2013 classes). Faces are "
        "found by YuNet, a small neural network run by OpenCV (or, if you pick them, OpenCV's classic Haar cascades), "
        "and classified by a convolutional network trained in this project.")
    st.info(privacy_text(class_store.retention_days_or_default()), icon=":material/lock:")

    st.header("How to use it")
    st.markdown(
        "- **Upload photo** — drop one or several photos (a selfie, a portrait, a group photo, a screenshot of a "
        "video-call gallery). Every face is boxed and labelled; you get each face's probabilities as a chart, a "
        "table, the group's emotion distribution, and downloads as JSON (DeepFace-style), CSV and an annotated PNG. "
        "The sidebar picks and tunes the face detector (YuNet or Haar, minimum face size, strictness) and picks the "
        "model.\n"
        "- **Webcam** — press START and allow the camera: faces are labelled live, and an engagement monitor builds a "
        "per-second timeline of the session that you can export. Students join a class from here.\n"
        "- **Training runs** — compare the stored models: learning curves, accuracy, confusion matrices, and evaluate "
        "a model on a dataset of your own.\n"
        "- **Video analysis** — upload a recorded video: each face is tracked, with an emotion timeline per face, a "
        "summary, exports and an annotated copy.\n"
        "- **Class dashboard** — for a teacher: create a class session and give its join code to the students, who "
        "join from the Webcam page; see their presence, emotions and engagement live, and a summary per student and "
        "for the class after the lesson, with downloads.\n\n"
        "From the command line: `python -m fer_core.analyze photo.jpg --json`.")

    with st.sidebar:
        run_path = model_picker.model_picker()

    st.header("Active model")
    try:
        run_dir = Path(run_path) if run_path else runs.default_run_dir()
        classifier = model_cache.cached_classifier(run_path)
    except (ModelLoadError, runs.RunError) as e:
        st.error(f"The emotion model could not be loaded: {e}. Train one with `python -m fer_core.train` "
                 "(see the README) or pick another model in the sidebar.")
    else:
        model_card.show_model_card(classifier, run_dir)
