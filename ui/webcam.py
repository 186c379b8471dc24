"""UI pieces of the Webcam page: the per-session live processor, the live panel and the engagement monitor.

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

import plotly.graph_objects as go
import streamlit as st

from fer_core.live import engagement as eng
from fer_core.live.processor import LiveProcessor, LiveSnapshot

from . import keys
from .detector_picker import chosen as chosen_detector
from .detector_picker import detector_picker  # noqa: F401 - the Webcam page's sidebar calls it through this module

LIVE_REFRESH_S = 0.5  # the live panel (probabilities of the main face) refreshes about twice a second
MONITOR_REFRESH_S = 3.0  # the engagement timeline and summary
PRIVACY_NOTE = ("**Privacy:** no video frame or face image is stored or sent anywhere: frames are analysed in memory "
                "and dropped. Only per-second aggregates (presence, emotion, engagement index) are kept, in this "
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


def emotion_colours(labels) -> dict[str, str]:
    """Chart colours matching the boxes drawn on the video (``fer_core.annotate``'s per-emotion colours)."""
    from fer_core.inference.annotate import emotion_color

    return {label: emotion_color(label) for label in labels}


def probability_figure(labels, probabilities, title: str) -> go.Figure:
    """Horizontal bars of one face's smoothed probabilities."""
    colours = emotion_colours(labels)
    fig = go.Figure(go.Bar(x=list(probabilities), y=list(labels), orientation="h",
                           marker_color=[colours[k] for k in labels],
                           text=[f"{p:.0%}" for p in probabilities], textposition="auto"))
    fig.update_layout(title=title, height=300, margin=dict(l=10, r=10, t=40, b=10), xaxis=dict(range=[0, 1],
                      tickformat=".0%"), yaxis=dict(autorange="reversed"))
    return fig


def timeline_figure(timeline, labels, max_points: int = 600) -> go.Figure:
    """Engagement index per face over the session (top) and the share of each dominant emotion (bottom).

    Long sessions are shown in bins of several seconds so that the chart stays light to redraw every few seconds.
    """
    n_seconds = int(timeline["second"].max()) + 1 if len(timeline) else 1
    step = max(1, -(-n_seconds // max_points))
    binned = timeline.assign(second=timeline["second"] // step * step)
    colours = emotion_colours(labels)
    traces = []
    for face, rows in binned.groupby("face", sort=False):
        curve = rows.groupby("second")["engagement"].mean()
        traces.append(go.Scatter(x=curve.index, y=curve.to_numpy(), mode="lines", name=face, legendgroup="faces",
                                 yaxis="y", connectgaps=False))
    shares = eng.emotion_shares(timeline, labels, window=10)
    if step > 1 and len(shares):
        shares = shares.groupby(shares.index // step * step).mean()
    for label in labels:
        if label in shares and shares[label].any():
            traces.append(go.Scatter(x=shares.index, y=shares[label].to_numpy(), name=label, stackgroup="emotions",
                                     mode="lines", yaxis="y2", line=dict(width=0.5, color=colours[label])))
    line = dict(type="line", xref="paper", x0=0, x1=1, yref="y")
    layout = dict(
        height=520, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h"),
        xaxis=dict(anchor="y2", range=[0, max(n_seconds - 1, 1)],
                   title="seconds since start" + (f" ({step} s bins)" if step > 1 else "")),
        yaxis=dict(domain=[0.5, 1.0], range=[0, 1.02], title="engagement"),
        yaxis2=dict(domain=[0.0, 0.4], range=[0, 1], tickformat=".0%", title="emotions"),
        shapes=[{**line, "y0": eng.DISENGAGED_THRESHOLD, "y1": eng.DISENGAGED_THRESHOLD,
                 "line": dict(dash="dot", color="grey")},
                {**line, "y0": eng.HIGHLY_ENGAGED_ABOVE, "y1": eng.HIGHLY_ENGAGED_ABOVE,
                 "line": dict(dash="dot", color="green")}],
        annotations=[dict(text="Engagement index per face (dotted: disengaged at or below / highly engaged above)",
                          xref="paper", yref="paper", x=0, y=1.06, showarrow=False, xanchor="left"),
                     dict(text="Emotion shares of present faces (10 s window)", xref="paper", yref="paper", x=0,
                          y=0.45, showarrow=False, xanchor="left")])
    return go.Figure(data=traces, layout=layout)


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
        index.metric("Engagement index", f"{main.engagement:.2f}" if main else "—",
                     help=eng.engagement_level(main.engagement) if main else None)
        if snap.error:
            self._warning.warning(f"Processing failed on the latest frame (the video passes through unprocessed): "
                                  f"{snap.error}")
        else:
            self._warning.empty()
        if main:
            self._chart.plotly_chart(probability_figure(snap.labels, main.probabilities, f"{main.name} (largest face)"),
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

    def __init__(self, processor: LiveProcessor):
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
        # built when clicked (deferred), so they hold the record as it is then, also while the stream plays
        c1.download_button("Download timeline (CSV)", rec.to_csv, "engagement_timeline.csv", "text/csv",
                           key=f"{keys.WEBCAM_DOWNLOAD}_csv", on_click="ignore", icon=":material/download:")
        c2.download_button("Download session (JSON)", rec.to_json, "engagement_session.json", "application/json",
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
        self._chart.plotly_chart(timeline_figure(rec.timeline(), rec.labels),
                                 key=f"{keys.WEBCAM_STREAM}_timeline_{self._renders}")
        self._table.dataframe(rec.summary_table(summary), hide_index=True,
                              key=f"{keys.WEBCAM_STREAM}_summary_{self._renders}", column_config={
            "present (%)": st.column_config.NumberColumn(format="%.0f%%"),
            "mean engagement": st.column_config.NumberColumn(format="%.2f"),
            **{f"{k} (%)": st.column_config.NumberColumn(format="%.0f%%") for k in rec.labels}})


def poll_while_playing(ctx, processor: LiveProcessor, live: LivePanel, monitor: EngagementMonitor) -> None:
    """Refresh the panels from the processor until the stream stops (a rerun also ends it)."""
    ticks = 0
    every = max(1, round(MONITOR_REFRESH_S / LIVE_REFRESH_S))
    while ctx.state.playing:
        time.sleep(LIVE_REFRESH_S)
        live.render(processor.snapshot(), True)
        ticks += 1
        if ticks % every == 0:
            monitor.render()
