"""The Upload photo page: its flow (``render_page``), detector settings, one uploaded file analysed in memory and
rendered, downloads."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from fer_core.inference.analysis import FaceResult, analyze, distribution, to_records
from fer_core.inference.annotate import draw_results
from fer_core.inference.detection import DEFAULT_DETECTOR, make_detector
from fer_core.inference.haar import FaceDetector
from fer_core.inference.yunet import YuNetDetector
from fer_core.inference.preprocessing import ImageDecodeError, crop_face, decode_image, encode_png, resize_max_side

from . import charts, detector_picker, keys, model_picker
from .page_header import classifier_or_stop, page_header

IMAGE_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"]
DISPLAY_SIDE = 1600  # larger images are downscaled for display (results and downloads keep full resolution)
MAX_CHARTS = 6  # photos with more faces show one face's chart at a time (picked in a select box)
THUMB = 96
PRIVACY_NOTE = ("**Privacy:** photos are decoded and analysed in this server's memory, never written to disk or sent "
                "anywhere, and forgotten when you close the tab.")


@dataclass
class PhotoAnalysis:
    """One uploaded photo, decoded (BGR, full size), its faces and the annotated copy."""

    name: str
    image: np.ndarray
    results: list[FaceResult]
    labels: tuple[str, ...]
    whole_image: bool
    annotated: np.ndarray

    def to_json(self) -> str:
        """The faces in DeepFace's shape, as a JSON list: emotion scores in percent (``face_confidence`` 0-1, as
        DeepFace gives it)."""
        return json.dumps([r.to_dict() for r in self.results], indent=2)

    def table(self) -> pd.DataFrame:
        """One row per face with its box and every score in percent, as the JSON's emotions: the ``*_pct`` columns."""
        df = pd.DataFrame(to_records(self.results, file=self.name))
        if df.empty:
            return df
        scores = ["face_confidence", "confidence", *self.labels]
        df[scores] = (100 * df[scores]).round(2)
        return df.rename(columns={"face_confidence": "face_score_pct", "confidence": "confidence_pct",
                                  **{k: f"{k}_pct" for k in self.labels}})

    def to_csv(self) -> str:
        return self.table().to_csv(index=False)

    def summary_table(self) -> pd.DataFrame:
        """The table the page shows, narrow enough to read without scrolling sideways: each face's emotion, its
        confidence, the three likeliest emotions and the detector's score, in percent (the CSV has every column)."""
        rows = []
        for i, r in enumerate(self.results, start=1):
            top = sorted(zip(self.labels, r.probabilities), key=lambda kv: -kv[1])[:3]
            rows.append({"face": i, "emotion": r.dominant_emotion, "confidence %": round(100 * r.confidence, 1),
                         "top 3": " · ".join(f"{k} {100 * p:.0f}%" for k, p in top),
                         "face score %": round(100 * r.face_confidence, 1)})
        return pd.DataFrame(rows)


def analyze_upload(name: str, data: bytes, classifier, detector, whole_image: bool = False) -> PhotoAnalysis:
    """Decode ``data`` in memory and analyse it; ``ImageDecodeError`` (naming ``name``) for unreadable files."""
    image = decode_image(data, name=name)
    results = analyze(image, classifier, detector, whole_image=whole_image)
    annotated = draw_results(image, results, numbers=len(results) > 1)
    return PhotoAnalysis(name, image, results, tuple(classifier.labels), whole_image, annotated)


def detector_sidebar(method: str = DEFAULT_DETECTOR):
    """Sidebar widgets for the face detector ``method`` ("yunet" or "haar", from ``detector_picker``); returns the
    configured detector. The Haar-only settings stay visible, greyed out, when YuNet is picked."""
    st.subheader("Face detector settings")
    haar = method == "haar"
    min_size = st.slider("Minimum face size (px)", 16, 200, FaceDetector.min_size, 4, key=keys.PHOTO_MIN_SIZE,
                         help="Faces smaller than this (in the photo's pixels) are ignored. Lower it for group photos.")
    score = st.slider("Least face score (YuNet)", 0.5, 0.95, YuNetDetector.score_threshold, 0.05,
                      key=keys.PHOTO_MIN_SCORE, disabled=haar,
                      help="How sure YuNet must be that a box is a face. Lower finds more (and harder) faces, but "
                           "also more false ones.")
    strict = st.slider("Strictness (min neighbours, Haar)", 1, 10, FaceDetector.min_neighbors,
                       key=keys.PHOTO_MIN_NEIGHBORS, disabled=not haar,
                       help="How many overlapping detections a face needs. Lower finds more (and harder) faces, "
                            "but also more false ones.")
    scale = st.select_slider("Search step (scale factor, Haar)", [1.05, 1.1, 1.15, 1.2, 1.25, 1.3],
                             FaceDetector.scale_factor, key=keys.PHOTO_SCALE_FACTOR, disabled=not haar,
                             help="Smaller steps search more face sizes: slower, finds more.")
    verify = st.checkbox("Double-check faces (fewer false faces, Haar)", value=True, key=keys.PHOTO_VERIFY,
                         disabled=not haar,
                         help="Re-check each face with a second Haar cascade; turn off if a face you can see is missed.")
    if not haar:
        return make_detector(method, min_size=min_size, score_threshold=score)
    return FaceDetector(scale_factor=scale, min_neighbors=strict, min_size=min_size,
                        verify_neighbors=FaceDetector.verify_neighbors if verify else 0)


def _cached_analysis(file_key: str, name: str, data: bytes, classifier, detector,
                     whole_image: bool) -> PhotoAnalysis:
    """Analyses are kept in this session only, so toggling a widget does not redo every photo."""
    key = (file_key, repr(detector), classifier.name, id(classifier), whole_image)
    store = st.session_state.setdefault(keys.PHOTO_RESULTS, {})
    if key not in store:
        store[key] = analyze_upload(name, data, classifier, detector, whole_image)
    return store[key]


def forget_other_files(file_keys: set[str]) -> None:
    """Drop analyses of files no longer uploaded (so nothing outlives its upload)."""
    store = st.session_state.get(keys.PHOTO_RESULTS, {})
    for k in [k for k in store if k[0] not in file_keys]:
        del store[k]


def file_key(name: str, data: bytes) -> str:
    return f"{name}:{hashlib.sha1(data).hexdigest()[:12]}"


def show_upload(name: str, data: bytes, classifier, detector) -> PhotoAnalysis | None:
    """Analyse and render one uploaded file; an unreadable file shows an error naming it (and returns None)."""
    fk = file_key(name, data)
    st.subheader(name, divider="gray")
    whole = bool(st.session_state.get(f"{keys.PHOTO_WHOLE_IMAGE}:{fk}", False))
    try:
        pa = _cached_analysis(fk, name, data, classifier, detector, whole)
    except ImageDecodeError as e:  # its message starts with the file name
        st.error(f"Could not read this file. {e}", icon=":material/broken_image:")
        return None
    except Exception as e:  # noqa: BLE001 - one bad file must never hide the others' results
        st.error(f"Could not analyse **{name}**: {type(e).__name__}: {e}")
        return None
    render_analysis(pa, fk)
    return pa


def render_analysis(pa: PhotoAnalysis, fk: str) -> None:
    """One photo: annotated image and charts (a single face side by side; a group as a grid), table, downloads."""
    h, w = pa.image.shape[:2]
    n = len(pa.results)
    shown, scale = resize_max_side(pa.annotated, DISPLAY_SIDE)
    note = f" · shown at {shown.shape[1]}x{shown.shape[0]}" if scale < 1 else ""
    what = "treated as one face" if pa.whole_image else f"{n} face{'s' if n != 1 else ''} found"
    st.caption(f"{w}x{h} px{note} · {what}")
    if n == 0 or pa.whole_image:
        if n == 0:
            st.warning(f"No face found in **{pa.name}**. Try the other face detector, a lower minimum face size or "
                       "face score (YuNet) or strictness (Haar) in the sidebar, "
                       "or, if the image already is a face crop (like a dataset sample), treat it as one face.")
        st.checkbox("Treat the whole image as one face", key=f"{keys.PHOTO_WHOLE_IMAGE}:{fk}")
    width = "stretch" if shown.shape[1] > 700 else "content"
    if n <= 1:
        left, right = st.columns([3, 2])
        left.image(shown, channels="BGR", width=width)
        if n:
            with right:
                _face_charts(pa, fk)
    else:
        left, right = st.columns([3, 2])
        left.image(shown, channels="BGR", width=width)
        with right:
            _group_charts(pa, fk)
        _thumbnails(pa)
        _face_charts(pa, fk)
    if n:
        pct = {c: st.column_config.NumberColumn(c, format="%.1f") for c in ("confidence %", "face score %")}
        st.dataframe(pa.summary_table(), hide_index=True, column_config=pct, key=f"{keys.PHOTO_CHART}:table:{fk}")
        _downloads(pa, fk)


def _face_charts(pa: PhotoAnalysis, fk: str) -> None:
    """Each face's probabilities: one chart, a grid of up to MAX_CHARTS, or the face picked in a select box."""
    n = len(pa.results)
    if n > MAX_CHARTS:
        picks = [st.selectbox("Face", range(n), format_func=lambda i: f"#{i + 1} {pa.results[i].dominant_emotion}",
                              key=f"{keys.PHOTO_FACE}:{fk}", help="Pick a face to see all its probabilities.")]
    else:
        picks = list(range(n))
    cols = st.columns(min(len(picks), 3)) if len(picks) > 1 else [st.container()]
    for j, i in enumerate(picks):
        r = pa.results[i]
        title = f"{r.dominant_emotion} ({100 * r.confidence:.0f}%)"
        if n > 1:
            title = f"Face #{i + 1}: {title}"
        cols[j % len(cols)].plotly_chart(charts.probability_bar(pa.labels, r.probabilities, title=title),
                                         key=f"{keys.PHOTO_CHART}:face{i}:{fk}")


def face_thumbnails(pa: PhotoAnalysis) -> list[np.ndarray]:
    """A small RGB crop of every face (a bit of context around the box)."""
    import cv2

    thumbs = []
    for r in pa.results:
        crop = crop_face(pa.image, r.box, margin=0.1)
        thumbs.append(cv2.cvtColor(cv2.resize(crop, (THUMB, THUMB), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
    return thumbs


def _thumbnails(pa: PhotoAnalysis) -> None:
    st.markdown("**Every face**")
    st.image(face_thumbnails(pa), caption=[f"#{i} {r.dominant_emotion} {100 * r.confidence:.0f}%"
                                           for i, r in enumerate(pa.results, start=1)], width=THUMB)


def _group_charts(pa: PhotoAnalysis, fk: str) -> None:
    st.plotly_chart(charts.emotion_distribution(distribution(pa.results, pa.labels)),
                    key=f"{keys.PHOTO_CHART}:group:{fk}")
    st.plotly_chart(charts.mean_probabilities(pa.labels, [r.probabilities for r in pa.results]),
                    key=f"{keys.PHOTO_CHART}:mean:{fk}")


def _downloads(pa: PhotoAnalysis, fk: str) -> None:
    stem = pa.name.rsplit(".", 1)[0] or "photo"
    c1, c2, c3 = st.columns(3)
    c1.download_button("Results (JSON)", pa.to_json(), f"{stem}_emotions.json", "application/json",
                       key=f"{keys.PHOTO_DOWNLOAD}:json:{fk}", on_click="ignore", icon=":material/download:",
                       help="DeepFace's shape: emotion scores in percent, face_confidence from 0 to 1.")
    c2.download_button("Results (CSV)", pa.to_csv(), f"{stem}_emotions.csv", "text/csv",
                       key=f"{keys.PHOTO_DOWNLOAD}:csv:{fk}", on_click="ignore", icon=":material/download:",
                       help="One row per face: its box in pixels, then every score in percent (the *_pct columns).")
    c3.download_button("Annotated image (PNG)", lambda: encode_png(pa.annotated), f"{stem}_annotated.png", "image/png",
                       key=f"{keys.PHOTO_DOWNLOAD}:png:{fk}", on_click="ignore", icon=":material/download:")


def render_page() -> None:
    """The Upload photo page: model and detector (sidebar), the uploads, each file analysed and shown."""
    page_header("Upload photo", ":material/photo_camera:", "Upload a photo",
                "Drop one or several photos: a selfie, a portrait, a group photo or a screenshot of a video-call "
                "gallery. Every face is boxed and labelled with its emotion.", PRIVACY_NOTE)
    with st.sidebar:
        run_path = model_picker.model_picker()
        detector = detector_sidebar(detector_picker.detector_picker(keys.PHOTO_DETECTOR))
    classifier = classifier_or_stop(run_path, "photos")
    files = st.file_uploader("Photos", type=IMAGE_TYPES, accept_multiple_files=True, key=keys.PHOTO_UPLOADS,
                             help="JPEG, PNG, WebP, BMP, GIF or TIFF; several at once.")
    forget_other_files({file_key(f.name, f.getvalue()) for f in files or []})
    if not files:
        st.markdown("No photo yet: drop one above. Tip: for a whole class, upload a screenshot of the video-call "
                    "gallery and lower the minimum face size in the sidebar if small faces are missed.")
    for f in files or []:
        show_upload(f.name, f.getvalue(), classifier, detector)
