"""Home page: what the app does, how to use each page, and the card of the active emotion model."""
from pathlib import Path

import streamlit as st

from fer_core import runs
from fer_core.inference.classifier import ModelLoadError
from ui import model_card, model_picker
from ui.model_cache import cached_classifier

st.set_page_config(page_title="Facial expression recognition", page_icon=":material/mood:", layout="wide")
st.title("Facial expression recognition")
st.markdown(
    "This app finds faces in photos, webcam video and recorded video and tells which of seven basic emotions each "
    "face shows: **angry, disgust, fear, happy, sad, surprise, neutral** (the FER2013 classes). Faces are found "
    "by YuNet, a small neural network run by OpenCV (or, if you pick them, OpenCV's classic Haar cascades), and "
    "classified by a convolutional network trained in this project. "
    "Everything runs on this server; nothing you upload or stream is stored or sent anywhere.")

st.header("How to use it")
st.markdown(
    "- **Upload photo** — drop one or several photos (a selfie, a portrait, a group photo, a screenshot of a "
    "video-call gallery). Every face is boxed and labelled; you get each face's probabilities as a chart, a table, "
    "the group's emotion distribution, and downloads as JSON (DeepFace-style), CSV and an annotated PNG. The sidebar "
    "picks and tunes the face detector (YuNet or Haar, minimum face size, strictness) and picks the model.\n"
    "- **Webcam** — press START and allow the camera: faces are labelled live, and an engagement monitor builds a "
    "per-second timeline of the session that you can export.\n"
    "- **Training runs** — compare the stored models: learning curves, accuracy, confusion matrices, and evaluate a "
    "model on a dataset of your own.\n"
    "- **Video analysis** — upload a recorded video: each face is tracked, with an emotion timeline per face, a "
    "summary, exports and an annotated copy.\n\n"
    "From the command line: `python -m fer_core.analyze photo.jpg --json`.")

with st.sidebar:
    run_path = model_picker.model_picker()

st.header("Active model")
try:
    run_dir = Path(run_path) if run_path else runs.default_run_dir()
    classifier = cached_classifier(run_path)
except (ModelLoadError, runs.RunError) as e:
    st.error(f"The emotion model could not be loaded: {e}. Train one with `python -m fer_core.train` "
             "(see the README) or pick another model in the sidebar.")
else:
    model_card.show_model_card(classifier, run_dir)
