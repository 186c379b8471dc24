"""Video analysis: upload a recorded video; faces are tracked, their emotions and engagement charted per second."""
import streamlit as st

from fer_core.live import engagement as eng
from fer_core.live import video as fv
from fer_core.inference.classifier import ModelLoadError
from fer_core.runs import RunError
from ui import detector_picker, keys, video_analysis as video_ui
from ui.model_cache import selected_run_path
from ui.page_header import classifier_or_stop, page_header

page_header("Video analysis", ":material/movie:", "Video analysis: emotions and engagement over a recording",
            "Upload a recorded video: every (or every k-th) frame is analysed with face tracking and smoothing, as on "
            "the Webcam page. You get a timeline per face, a summary, CSV/JSON exports and an annotated copy.",
            video_ui.PRIVACY_NOTE)

with st.sidebar:
    st.header("Video analysis")
    every = st.slider("Analyse every k-th frame", 1, 10, 1, key=keys.VIDEO_EVERY,
                      help="1 analyses every frame; higher is faster. The annotated copy keeps every frame, showing "
                           "the latest boxes in between.")
    detector = detector_picker.detector_picker(keys.VIDEO_DETECTOR)
    sensitivity = st.slider("Detector sensitivity", 0.0, 1.0, 0.5, 0.1, key=keys.VIDEO_SENSITIVITY,
                            help="Higher finds smaller and harder faces, but also more false ones.")
    smoothing = st.slider("Smoothing strength", 0.0, 0.95, 0.6, 0.05, key=keys.VIDEO_SMOOTHING,
                          help="Weight of the past in each face's moving average of probabilities.")
    detect_every = st.slider("Detection interval (analysed frames)", 1, 10, 1, key=keys.VIDEO_DETECT_EVERY,
                             help="Find faces every k-th analysed frame and carry the boxes in between (faster, but "
                                  "fast-moving faces may get a new id).")
    clip_path = video_ui.clip_model_picker()
    clip_every = st.slider("Clip window step (analysed frames)", 1, 10, 3, key=keys.VIDEO_CLIP_EVERY,
                           disabled=clip_path is None,
                           help="Classify each face's latest frames as one clip every k-th analysed frame.")

upload = st.file_uploader("Video file", type=list(fv.VIDEO_TYPES), key=keys.VIDEO_UPLOAD, help=video_ui.LIMITS_NOTE)
st.caption(video_ui.LIMITS_NOTE)

stopped = st.session_state.get(keys.VIDEO_STOP, False) and video_ui.collect_stopped()

if upload is not None:
    settings = fv.VideoSettings(every=every, sensitivity=sensitivity, smoothing=smoothing, detect_every=detect_every,
                                clip_every=clip_every, detector=detector)
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
                clip_classifier = video_ui.cached_clip_classifier(clip_path)
            except (ModelLoadError, RunError) as e:
                st.warning(f"The clip model could not be loaded; analysing without it: {e}")
        c1, c2, _ = st.columns([1, 1, 4])
        start = c1.button("Analyse", type="primary", key=keys.VIDEO_START, icon=":material/play_arrow:")
        c2.button("Stop", key=keys.VIDEO_STOP, icon=":material/stop:", help="Stop the analysis and keep what is done.")
        st.caption(f"Model **{classifier.name}**" + (f" · clip model **{clip_classifier.name}**" if clip_classifier else ""))
        if start:
            video_ui.run_analysis(data, upload.name, classifier, settings, clip_classifier)
else:
    st.info(f"Upload a video ({', '.join(fv.VIDEO_TYPES)}) to analyse it.")

if stopped:
    st.toast("Analysis stopped: showing the part that was done.")
done = st.session_state.get(keys.VIDEO_RESULT)
if done:
    video_ui.show_result(done["name"], done["result"])
    st.markdown(f"**Engagement index** (concentration index, Sharma et al. 2019): {eng.FORMULA}")
