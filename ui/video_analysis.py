"""The Video analysis page: its flow (``render_page``), the clip-model picker, the analysis run with progress and Stop,
the results."""
from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from fer_core import runs
from fer_core.inference.classifier import ModelLoadError
from fer_core.live import engagement as eng
from fer_core.live import video as fv
from fer_core.live.clips import ClipClassifier, is_clip_run, load_clip_classifier

from . import charts, detector_picker, face_summary, keys
from .model_cache import selected_run_path
from .page_header import classifier_or_stop, page_header


PRIVACY_NOTE = ("**Privacy:** the video is decoded and analysed in this server's memory and never written to disk or "
                "sent anywhere; the results and the annotated copy live in this browser session only.")
LIMITS_NOTE = (f"Up to {fv.MAX_MB:g} MB and {fv.MAX_SECONDS:g} s; frames larger than {fv.MAX_SIDE} px are downscaled "
               "(set FER_VIDEO_MAX_MB, FER_VIDEO_MAX_SECONDS, FER_VIDEO_MAX_SIDE to change).")


@st.cache_resource(show_spinner="Loading the clip model…", max_entries=2)
def cached_clip_classifier(path: str) -> ClipClassifier:
    """Load (once per path) a clip model's run folder."""
    return load_clip_classifier(path)


def clip_model_runs() -> list[Path]:
    """Run folders under models/runs/ holding a clip model (config.json ``kind: clip`` and a model file)."""
    return [p for p in runs.find_runs() if (p / runs.MODEL).is_file() and is_clip_run(p)]


def clip_model_picker() -> str | None:
    """Sidebar select box of the clip models (None = no clip model); returns the chosen run folder."""
    options = [None, *[str(p) for p in clip_model_runs()]]
    if st.session_state.get(keys.VIDEO_CLIP_MODEL) not in options:
        st.session_state.pop(keys.VIDEO_CLIP_MODEL, None)
    return st.selectbox("Clip model (sliding windows)", options, key=keys.VIDEO_CLIP_MODEL,
                        format_func=lambda p: "None" if p is None else Path(p).name,
                        help="A model of short face sequences (CK+48 clips): it classifies each tracked face's latest "
                             "frames as one window, alongside the per-frame model.")


def run_analysis(data: bytes, name: str, classifier, settings: fv.VideoSettings, clip_classifier) -> None:
    """Analyse with a progress bar; the result goes to session state. A Stop click re-runs the page, which cuts this
    run short inside the progress callback; ``collect_stopped`` then keeps what it had processed."""
    try:
        job = fv.VideoAnalysis(data, classifier, settings, clip_classifier)
    except fv.VideoError as e:
        st.error(str(e))
        return
    st.session_state[keys.VIDEO_JOB] = {"name": name, "job": job}
    bar = st.progress(0.0, text="Starting…")
    try:
        result = job.run(progress=lambda frac, text: bar.progress(frac, text=text))
    except fv.VideoError as e:
        st.session_state.pop(keys.VIDEO_JOB, None)
        bar.empty()
        st.error(str(e))
        return
    except Exception as e:  # a model or codec failure: show it, keep whatever was processed
        st.session_state.pop(keys.VIDEO_JOB, None)
        bar.empty()
        st.error(f"The analysis failed after {job.decoded} frames: {type(e).__name__}: {e}")
        result = job.result() if job.decoded else None
        if result is None:
            return
    st.session_state.pop(keys.VIDEO_JOB, None)
    st.session_state[keys.VIDEO_RESULT] = {"name": name, "result": result}
    bar.empty()


def collect_stopped() -> bool:
    """After a Stop click: keep the interrupted run's partial result. True when there was a run to stop."""
    pending = st.session_state.pop(keys.VIDEO_JOB, None)
    if not pending:
        return False
    st.session_state[keys.VIDEO_RESULT] = {"name": pending["name"], "result": pending["job"].result()}
    return True


def emotion_figure(result: fv.VideoResult, face: str) -> go.Figure:
    """One face's smoothed emotion probabilities over the video (stacked), with the clip model's windows on top."""
    frames = result.frames_table()
    mine = frames[frames["face"] == face]
    colours = charts.emotion_colours(result.labels)
    fig = go.Figure()
    for label in result.labels:
        fig.add_trace(go.Scatter(x=mine["time"], y=mine[f"p_{label}"], name=label, stackgroup="p", mode="lines",
                                 line=dict(width=0.5, color=colours[label])))
    clips = result.clips_table()
    clips = clips[clips["face"] == face] if len(clips) else clips
    if len(clips):
        clip_colours = charts.emotion_colours(result.clip_labels)
        fig.add_trace(go.Scatter(x=clips["time"], y=[1.04] * len(clips), mode="markers", name="clip model",
                                 marker=dict(symbol="square", size=9,
                                             color=[clip_colours[k] for k in clips["clip_emotion"]]),
                                 text=[f"clip: {k} {c:.0%}" for k, c in zip(clips["clip_emotion"], clips["clip_confidence"])],
                                 hovertemplate="%{x:.1f} s · %{text}<extra></extra>"))
    fig.update_layout(title=f"{face}: emotion probabilities over the video", height=340,
                      margin=dict(l=10, r=10, t=40, b=10),
                      legend=charts.LEGEND_RIGHT,
                      yaxis=dict(range=[0, 1.08], tickformat=".0%"), xaxis=dict(title="seconds into the video"))
    return fig


def status_text(result: fv.VideoResult) -> str:
    """One line the user (and the page test) reads: frames, faces and what happened."""
    faces = result.faces
    return (f"{result.frames_analysed} of {result.frames_decoded} frames analysed in {result.seconds:.1f} s · "
            f"{len(faces)} face{'s' if len(faces) != 1 else ''} tracked" + (f": {', '.join(faces)}" if faces else ""))


def show_result(name: str, result: fv.VideoResult) -> None:
    """Status, annotated video, timelines, per-face summary and the downloads of one analysis."""
    st.subheader(f"Results for {name}")
    if result.stopped:
        st.warning(f"Stopped by you after {result.frames_decoded} frames: the results cover the video up to there.")
    if result.truncated:
        st.warning(f"Only the first {fv.MAX_SECONDS:g} s were analysed (FER_VIDEO_MAX_SECONDS).")
    for w in result.warnings:
        st.warning(w)
    st.markdown(status_text(result))
    stem = Path(name).stem or "video"
    video_col, side_col = st.columns([3, 2])
    with video_col:
        if result.video:
            st.video(result.video, format=result.video_mime)
            st.caption(f"Annotated copy ({result.video_codec}, {result.video_ext}).")
        else:
            st.info("No annotated video was written.")
    with side_col:
        if not result.faces:
            st.info("No face was tracked. Try a higher detector sensitivity, or a video where faces are frontal "
                    "and well lit.")
        table = result.summary_table()
        if not table.empty:
            face_summary.show(table, result.labels)
        _downloads(result, stem)
    if not result.faces:
        return
    st.plotly_chart(charts.timeline_figure(result.timeline(), result.labels), key=f"{keys.VIDEO_DOWNLOAD}_timeline")
    face = st.selectbox("Face", result.faces, key=keys.VIDEO_FACE) if len(result.faces) > 1 else result.faces[0]
    if face not in result.faces:
        face = result.faces[0]
    st.plotly_chart(emotion_figure(result, face), key=f"{keys.VIDEO_DOWNLOAD}_emotions")
    if result.clip_labels:
        clips = result.clips_table()
        st.caption(f"Clip model: {len(clips)} windows classified" if len(clips) else
                   "Clip model: no face was tracked over enough consecutive analysed frames to fill a window.")


def _downloads(result: fv.VideoResult, stem: str) -> None:
    c1, c2 = st.columns(2)
    c1.download_button("Timeline (CSV)", result.to_csv(), f"{stem}_timeline.csv", "text/csv",
                       key=f"{keys.VIDEO_DOWNLOAD}_csv", on_click="ignore", icon=":material/download:")
    c2.download_button("Per frame (CSV)", result.frames_csv(), f"{stem}_frames.csv", "text/csv",
                       key=f"{keys.VIDEO_DOWNLOAD}_frames", on_click="ignore", icon=":material/download:")
    c3, c4 = st.columns(2)
    c3.download_button("Everything (JSON)", result.to_json(), f"{stem}_analysis.json", "application/json",
                       key=f"{keys.VIDEO_DOWNLOAD}_json", on_click="ignore", icon=":material/download:")
    if result.video:
        c4.download_button("Annotated video", result.video, f"{stem}_annotated.{result.video_ext}", result.video_mime,
                           key=f"{keys.VIDEO_DOWNLOAD}_video", on_click="ignore", icon=":material/download:")


def render_page() -> None:
    """The Video analysis page: settings (sidebar), upload, Analyse / Stop, and the latest result."""
    page_header("Video analysis", ":material/movie:", "Video analysis: emotions and engagement over a recording",
                "Upload a recorded video: every (or every k-th) frame is analysed with face tracking and smoothing, as "
                "on the Webcam page. You get a timeline per face, a summary, CSV/JSON exports and an annotated copy.",
                PRIVACY_NOTE)
    with st.sidebar:
        st.header("Video analysis")
        every = st.slider("Analyse every k-th frame", 1, 10, 1, key=keys.VIDEO_EVERY,
                          help="1 analyses every frame; higher is faster. The annotated copy keeps every frame, "
                               "showing the latest boxes in between.")
        detector = detector_picker.detector_picker(keys.VIDEO_DETECTOR)
        sensitivity = st.slider("Detector sensitivity", 0.0, 1.0, 0.5, 0.1, key=keys.VIDEO_SENSITIVITY,
                                help="Higher finds smaller and harder faces, but also more false ones.")
        smoothing = st.slider("Smoothing strength", 0.0, 0.95, 0.6, 0.05, key=keys.VIDEO_SMOOTHING,
                              help="Weight of the past in each face's moving average of probabilities.")
        detect_every = st.slider("Detection interval (analysed frames)", 1, 10, 1, key=keys.VIDEO_DETECT_EVERY,
                                 help="Find faces every k-th analysed frame and carry the boxes in between (faster, "
                                      "but fast-moving faces may get a new id).")
        clip_path = clip_model_picker()
        clip_every = st.slider("Clip window step (analysed frames)", 1, 10, 3, key=keys.VIDEO_CLIP_EVERY,
                               disabled=clip_path is None,
                               help="Classify each face's latest frames as one clip every k-th analysed frame.")

    upload = st.file_uploader("Video file", type=list(fv.VIDEO_TYPES), key=keys.VIDEO_UPLOAD, help=LIMITS_NOTE)
    st.caption(LIMITS_NOTE)
    stopped = st.session_state.get(keys.VIDEO_STOP, False) and collect_stopped()

    if upload is not None:
        settings = fv.VideoSettings(every=every, sensitivity=sensitivity, smoothing=smoothing,
                                    detect_every=detect_every, clip_every=clip_every, detector=detector)
        data = upload.getvalue()
        try:
            info = fv.probe(data, settings)
        except fv.VideoError as e:
            st.error(f"{upload.name}: {e}")
        else:
            st.markdown(f"**{upload.name}**: {info.describe()}")
            classifier = classifier_or_stop(selected_run_path(), "the video")
            clip_classifier = None
            if clip_path:
                try:
                    clip_classifier = cached_clip_classifier(clip_path)
                except (ModelLoadError, runs.RunError) as e:
                    st.warning(f"The clip model could not be loaded; analysing without it: {e}")
            c1, c2, _ = st.columns([1, 1, 4])
            start = c1.button("Analyse", type="primary", key=keys.VIDEO_START, icon=":material/play_arrow:")
            c2.button("Stop", key=keys.VIDEO_STOP, icon=":material/stop:", help="Stop the analysis and keep what is done.")
            st.caption(f"Model **{classifier.name}**"
                       + (f" · clip model **{clip_classifier.name}**" if clip_classifier else ""))
            if start:
                run_analysis(data, upload.name, classifier, settings, clip_classifier)
    else:
        st.info(f"Upload a video ({', '.join(fv.VIDEO_TYPES)}) to analyse it.")

    if stopped:
        st.toast("Analysis stopped: showing the part that was done.")
    done = st.session_state.get(keys.VIDEO_RESULT)
    if done:
        show_result(done["name"], done["result"])
        st.markdown(f"**Engagement index** (concentration index, Sharma et al. 2019): {eng.FORMULA}")
