"""Webcam: live emotion recognition over WebRTC, and an engagement monitor for online classes."""
import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from fer_core.live import engagement as eng
from ui import class_join as class_join_ui, keys, model_cache, webcam as webcam_ui, webrtc as webrtc_ui
from ui.model_cache import selected_run_path
from ui.page_header import classifier_or_stop, page_header

page_header("Webcam", ":material/videocam:", "Webcam: live emotions and engagement",
            "Press START and allow the camera: faces come back boxed and labelled live, and the engagement monitor "
            "below builds a per-second timeline of this session that you can export.", webcam_ui.PRIVACY_NOTE)

with st.sidebar:
    st.header("Live video")
    webcam_ui.detector_picker(keys.WEBCAM_DETECTOR)
    sensitivity = st.slider("Detector sensitivity", 0.0, 1.0, 0.5, 0.1, key=keys.WEBCAM_SENSITIVITY,
                            help="Higher finds smaller and harder faces, but also more false ones.")
    smoothing = st.slider("Smoothing strength", 0.0, 0.95, 0.6, 0.05, key=keys.WEBCAM_SMOOTHING,
                          help="Weight of the past in each face's moving average of probabilities: higher = calmer "
                               "labels, slower to follow a change of expression.")
    detect_every = st.slider("Detection interval (frames)", 1, 10, 3, key=keys.WEBCAM_DETECT_EVERY,
                             help="Find faces every k-th processed frame and carry the boxes in between "
                                  "(faster; the model still runs on every processed frame).")
    mirror = st.toggle("Mirror view", value=True, key=keys.WEBCAM_MIRROR, help="Show the video as in a mirror.")

classifier = classifier_or_stop(selected_run_path(), "the webcam")

processor = webcam_ui.session_processor(classifier)
processor.update_settings(sensitivity=sensitivity, smoothing=smoothing, detect_every=detect_every, mirror=mirror)
class_join_ui.class_join_panel(processor)  # optional: share this session's per-second aggregates with a class
rtc_configuration, ice_source = webrtc_ui.rtc_configuration()

video_col, live_col = st.columns([3, 2])
with video_col:
    ctx = webrtc_streamer(key=keys.WEBCAM_STREAM, mode=WebRtcMode.SENDRECV, rtc_configuration=rtc_configuration,
                          media_stream_constraints=webrtc_ui.MEDIA_CONSTRAINTS,
                          video_frame_callback=processor.callback, on_video_ended=processor.stream_ended,
                          async_processing=True)
    st.caption(f"Model **{classifier.name}** runs on **{model_cache.cached_runtime(classifier.backend)}** · ICE servers: {ice_source}")
with live_col:
    live = webcam_ui.LivePanel()

st.header("Engagement monitor")
st.markdown(f"**Engagement index** (concentration index, Sharma et al. 2019): {eng.FORMULA} "
            f"Levels: above {eng.HIGHLY_ENGAGED_ABOVE} highly engaged, above {eng.DISENGAGED_THRESHOLD} nominally "
            "engaged, else not engaged. A face is present in a second when tracked in at least half of its frames.")
monitor = webcam_ui.EngagementMonitor(processor)
live.render(processor.snapshot(), ctx.state.playing)
monitor.render()
webcam_ui.poll_while_playing(ctx, processor, live, monitor)
