"""The Webcam page: its flow (``render_page``), the per-session live processor, the live panel and the engagement
monitor.

While the stream plays, the page stays in ``poll_while_playing``, a loop that pulls the processor's thread-safe
results (streamlit-webrtc's "pull values from the callback" pattern) into placeholders: the live panel about twice
a second, the timeline and summary every 3 s; the WebRTC callback itself never calls Streamlit. A loop rather than
timed fragments, because Streamlit ends every script or fragment run with ``gc.collect()`` and, Keras being
imported, ``keras.backend.clear_session()``, which clears TensorFlow's kernel cache: the next prediction then
re-instantiates the model (~60 ms of CPU, far more on a busy machine), stealing the video's time 2-3 times a second.
Widget clicks (sidebar, Reset, STOP) rerun the page as usual, which ends the loop and starts it again.
"""
from __future__ import annotations

import gc
import time
from dataclasses import replace

import streamlit as st

from fer_core.live import engagement as eng
from fer_core.live.batcher import shared_batched
from fer_core.live.processor import LiveProcessor, LiveSnapshot

from . import charts, class_join, face_summary, keys, model_cache, webrtc
from .detector_picker import chosen as chosen_detector
from .detector_picker import detector_picker
from .page_header import classifier_or_stop, page_header

LIVE_REFRESH_S = 0.5  # the live panel (probabilities of the main face) refreshes about twice a second
MONITOR_REFRESH_S = 3.0  # the engagement timeline and summary
PRIVACY_NOTE = ("**Privacy:** no video frame or face image is stored or sent anywhere: frames are analysed in memory "
                "and dropped. Only per-second aggregates (in view, facing the screen, expression, a research index) are kept, in this "
                "server's memory and for this browser session only, until you press Reset or close the tab.")


def session_processor(classifier) -> LiveProcessor:
    """This browser session's processor (created once; given the newly selected model when it changed, and the
    face detector picked in the sidebar)."""
    proc = st.session_state.get(keys.WEBCAM_PROCESSOR)
    if proc is None:
        proc = st.session_state[keys.WEBCAM_PROCESSOR] = LiveProcessor(classifier)
        freeze_long_lived_objects()
    elif proc.classifier is not classifier:
        proc.set_classifier(classifier)
    proc.update_settings(detector=chosen_detector(keys.WEBCAM_DETECTOR))  # the sidebar's choice; next frame uses it
    return proc


def freeze_long_lived_objects() -> None:
    """Keep Streamlit's per-run garbage collections from stalling the video callback.

    After every script run Streamlit calls ``gc.collect(2)`` (``runner.postScriptGC``) and, since Keras is imported,
    ``keras.backend.clear_session()``, which collects again. With TensorFlow loaded that walks ~0.4 M objects,
    0.2-0.6 s per collection holding the GIL (every widget click while the stream plays). Moving the objects alive now
    (modules, the model) into the permanent generation makes those collections nearly free.
    """
    gc.collect()
    gc.freeze()


def status_text(summary: dict) -> str:
    """One line the teacher (and the browser test) reads: recorded time and each face's time present."""
    faces = ", ".join(f"{name} present {f['seconds_present']} s" for name, f in summary["faces"].items())
    return f"Recorded {summary['recorded_seconds']} s" + (f" · {faces}" if faces else " · no face seen yet")


class LivePanel:
    """Metrics and the main face's probabilities, drawn into placeholders so that the poll loop can refresh them."""

    def __init__(self):
        c1, c2 = st.columns(2)
        c3, c4 = st.columns(2)
        self._slots = [c.empty() for c in (c1, c2, c3, c4)]
        self._warning, self._chart, self._caption = st.empty(), st.empty(), st.empty()
        self._renders = 0  # element keys must be unique within a run, and the poll loop redraws the chart

    def render(self, snap: LiveSnapshot, playing: bool) -> None:
        self._renders += 1
        if not playing:  # the stream may have ended after its last processed frame: nothing is live now
            snap = replace(snap, faces=(), fps=0.0, lag_ms=None, error="")
        main = snap.main_face
        faces, fps, face, index = self._slots
        faces.metric("Faces present", len(snap.faces))
        fps.metric("Processing", f"{snap.fps:.1f} fps", help="Processed frames per second. Frames arriving while one "
                   "is being processed are dropped, so the delay does not build up.")
        face.metric(f"Main face ({main.name})" if main else "Main face",
                    f"{main.emotion} {main.confidence:.0%}" if main else "—")
        index.metric("Facing the screen", ("unknown" if main.facing is None else "yes" if main.facing else
                                           "no, looking away") if main else "—",
                     help=f"Facing the screen: {eng.FACING_RULE}. Unknown with the Haar detector, which gives no "
                          "landmarks.")
        if snap.error:
            self._warning.warning(f"Processing failed on the latest frame (the video passes through unprocessed): "
                                  f"{snap.error}")
        else:
            self._warning.empty()
        if main:
            self._chart.plotly_chart(charts.probability_bar(snap.labels, main.probabilities,
                                                            f"{main.name} (largest face)", height=300),
                                     key=f"{keys.WEBCAM_STREAM}_probabilities_{self._renders}")
        elif playing:
            self._chart.caption("No face tracked right now: face the camera, with light on your face.")
        else:
            self._chart.empty()
        if playing and snap.frames:
            lag = "" if snap.lag_ms is None else f" · frames arrive {snap.lag_ms:.0f} ms later than at best"
            self._caption.caption(f"{snap.frames} frames processed · {snap.processing_ms:.0f} ms each{lag}")
        else:
            self._caption.empty()


class EngagementMonitor:
    """Reset, status line, timeline chart, session summary and CSV/JSON downloads of the session's record."""

    def __init__(self, processor: LiveProcessor, playing: bool = False):
        self.processor = processor
        if st.button("Reset", key=keys.WEBCAM_RESET, icon=":material/restart_alt:",
                     help="Forget this session's engagement record; face ids restart at Face 1."):
            processor.reset()
        self._status, self._chart = st.empty(), st.empty()
        st.subheader("Session summary")
        self._table = st.empty()
        self._renders = 0
        rec = processor.recorder
        c1, c2 = st.columns(2)
        # While the stream plays the page stays in one run, so the files are built when clicked (deferred) and hold
        # the record as it is then. Stopped, they are built now: Streamlit drops a deferred file as soon as a run of
        # any session finds it unreferenced, and with several viewers a click right after STOP could miss it.
        csv_data, json_data = (rec.to_csv, rec.to_json) if playing else (rec.to_csv(), rec.to_json())
        c1.download_button("Download timeline (CSV)", csv_data, "engagement_timeline.csv", "text/csv",
                           key=f"{keys.WEBCAM_DOWNLOAD}_csv", on_click="ignore", icon=":material/download:")
        c2.download_button("Download session (JSON)", json_data, "engagement_session.json", "application/json",
                           key=f"{keys.WEBCAM_DOWNLOAD}_json", on_click="ignore", icon=":material/download:")

    def render(self) -> None:
        self._renders += 1
        rec = self.processor.recorder
        summary = rec.summary()
        self._status.markdown(status_text(summary))
        if rec.empty:
            self._chart.info("Nothing recorded yet: press START above and the timeline builds up second by second.")
            self._table.empty()
            return
        self._chart.plotly_chart(charts.timeline_figure(rec.timeline(), rec.labels),
                                 key=f"{keys.WEBCAM_STREAM}_timeline_{self._renders}")
        with self._table.container():
            face_summary.show(rec.summary_table(summary), rec.labels,
                              key=f"{keys.WEBCAM_STREAM}_summary_{self._renders}")


def poll_while_playing(ctx, processor: LiveProcessor, live: LivePanel, monitor: EngagementMonitor,
                       share_panel: class_join.SharePanel | None = None) -> None:
    """Refresh the panels from the processor (and the class share's state and counter) until the stream stops (a
    rerun also ends it)."""
    ticks = 0
    every = max(1, round(MONITOR_REFRESH_S / LIVE_REFRESH_S))
    while ctx.state.playing:
        time.sleep(LIVE_REFRESH_S)
        snap = processor.snapshot()
        live.render(snap, True)
        if share_panel is not None:
            share_panel.render(True, snap.frames)
        ticks += 1
        if ticks % every == 0:
            monitor.render()


def class_mode() -> bool:
    """A student of this browser session shares with a class now."""
    share = st.session_state.get(keys.CLASS_SHARE)
    return share is not None and share.sharing


def stream_options(modes) -> dict:
    """How the video is streamed: alone, full video both ways (SENDRECV, 640x480, annotated); in a class, the small,
    slow class stream, sent only (SENDONLY, nothing drawn) unless the student turns on the preview. The component key
    differs per mode, so a change starts a new stream with the new constraints."""
    if not class_mode():
        return {"class_mode": False, "key": keys.WEBCAM_STREAM, "mode": modes.SENDRECV,
                "constraints": webrtc.MEDIA_CONSTRAINTS, "annotate": True}
    preview = st.toggle("Show my video", value=False, key=keys.WEBCAM_CLASS_PREVIEW,
                        help="Send the boxed video back to this page. Off, the server only analyses the video "
                             "(less work for it and for your connection).")
    return {"class_mode": True, "key": f"{keys.WEBCAM_STREAM}_class{'_preview' if preview else ''}",
            "mode": modes.SENDRECV if preview else modes.SENDONLY, "constraints": webrtc.CLASS_MEDIA_CONSTRAINTS,
            "annotate": preview}


def render_page() -> None:
    """The Webcam page: live settings (sidebar), the optional class join, the WebRTC stream beside the live panel,
    and the engagement monitor."""
    page_header("Webcam", ":material/videocam:", "Webcam: live emotions and engagement",
                "Press START and allow the camera: faces come back boxed and labelled live, and the engagement monitor "
                "below builds a per-second timeline of this session that you can export.", PRIVACY_NOTE)
    with st.sidebar:
        st.header("Live video")
        detector_picker(keys.WEBCAM_DETECTOR)
        sensitivity = st.slider("Detector sensitivity", 0.0, 1.0, 0.5, 0.1, key=keys.WEBCAM_SENSITIVITY,
                                help="Higher finds smaller and harder faces, but also more false ones.")
        smoothing = st.slider("Smoothing strength", 0.0, 0.95, 0.6, 0.05, key=keys.WEBCAM_SMOOTHING,
                              help="Weight of the past in each face's moving average of probabilities: higher = "
                                   "calmer labels, slower to follow a change of expression.")
        detect_every = st.slider("Detection interval (frames)", 1, 10, 3, key=keys.WEBCAM_DETECT_EVERY,
                                 help="Find faces every k-th processed frame and carry the boxes in between "
                                      "(faster; the model still runs on every processed frame).")
        mirror = st.toggle("Mirror view", value=True, key=keys.WEBCAM_MIRROR, help="Show the video as in a mirror.")

    # Looked up on each run, as the page itself did: the page tests put a stand-in module in sys.modules, since the
    # real one needs a live server.
    from streamlit_webrtc import WebRtcMode, webrtc_streamer

    classifier = classifier_or_stop(model_cache.selected_run_path(), "the webcam")
    # in a class, every student's faces on this server are classified in shared batches (fer_core.live.batcher)
    processor = session_processor(shared_batched(classifier) if class_mode() else classifier)
    processor.update_settings(sensitivity=sensitivity, smoothing=smoothing, detect_every=detect_every, mirror=mirror)
    share_panel = class_join.class_join_panel(processor)  # optional: share this session's aggregates with a class
    rtc_configuration, ice_source = webrtc.rtc_configuration()
    stream = stream_options(WebRtcMode)
    processor.update_settings(annotate=stream["annotate"])

    video_col, live_col = st.columns([3, 2])
    with video_col:
        ctx = webrtc_streamer(key=stream["key"], mode=stream["mode"], rtc_configuration=rtc_configuration,
                              media_stream_constraints=stream["constraints"],
                              video_frame_callback=processor.callback, on_video_ended=processor.stream_ended,
                              async_processing=True)
        if stream["class_mode"]:
            st.caption("In a class, the camera sends a small, slow stream (640x360 at up to 10 fps) and no video comes "
                       "back unless you turn on the preview (turning it on or off restarts the video: press START).")
        st.caption(f"Model **{classifier.name}** runs on **{model_cache.cached_runtime(classifier.backend)}** · "
                   f"ICE servers: {ice_source}")
    with live_col:
        live = LivePanel()

    st.header("Engagement monitor")
    st.markdown("Per second, three signals apart: **in view** (a face in at least one processed frame of the "
                f"second), **facing the screen** ({eng.FACING_RULE}) and the **expression**. Disengaged means "
                f"{eng.DISENGAGED_RULE}. The downloads add {eng.FORMULA}")
    monitor = EngagementMonitor(processor, ctx.state.playing)
    live.render(processor.snapshot(), ctx.state.playing)
    if share_panel is not None:
        share_panel.render(ctx.state.playing, processor.snapshot().frames)
    monitor.render()
    poll_while_playing(ctx, processor, live, monitor, share_panel)
