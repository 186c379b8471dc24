"""UI pieces of the class dashboard: create or reopen a session, its join code and one-time teacher token, the live
view (a fragment that re-reads the database every few seconds) and the lesson summary with its downloads.

Only the browser that created the session or entered its teacher token sees it: the session id is kept in that
browser session's state; after a reload the teacher enters the token again and everything comes back from the
database. The figures come from ``fer_core.class_summary``.
"""
from __future__ import annotations

import time

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from fer_core.classroom import figures as cs
from fer_core.live import engagement as eng
from fer_core.classroom.store import ClassroomError, ClassSession, ClassStore, ClassStoreUnavailable
from fer_core.labels import EMOTIONS

from . import keys
from .webcam import emotion_colours, freeze_long_lived_objects

LIVE_REFRESH_S = 3.0


@st.cache_resource(show_spinner=False)
def freeze_once() -> bool:
    """Every fragment run ends with Streamlit's garbage collection (and Keras's, when a student's model is loaded);
    freezing the objects alive now keeps those collections from stalling the students' video threads."""
    freeze_long_lived_objects()
    return True


# ----- opening a session -----
def teacher_session(store: ClassStore) -> ClassSession | None:
    """The session this browser opened, or the create / reopen forms (None until one is opened)."""
    sid = st.session_state.get(keys.CLASS_TEACHER_SESSION)
    if sid is not None:
        try:
            return store.session(sid)
        except ClassroomError as e:  # deleted after the retention time, or the database is unavailable
            st.error(str(e))
            if not isinstance(e, ClassStoreUnavailable):  # gone for good; an outage keeps it for the next run
                st.session_state.pop(keys.CLASS_TEACHER_SESSION, None)
            return None
    create_col, open_col = st.columns(2)
    with create_col:
        st.subheader("Start a class session")
        with st.form(keys.CLASS_CREATE_FORM):
            title = st.text_input("Lesson title (optional)", key=keys.CLASS_TITLE, max_chars=120)
            hours = st.slider("Students can join for (hours)", 0.5, 8.0, 2.0, 0.5, key=keys.CLASS_JOIN_HOURS)
            create = st.form_submit_button("Create session", icon=":material/add_circle:", type="primary")
    with open_col:
        st.subheader("Reopen a session")
        with st.form(keys.CLASS_OPEN_FORM):
            token = st.text_input("Teacher token", key=keys.CLASS_TOKEN_INPUT, type="password",
                                  help="The token shown once when the session was created (ABCDEF.xxxx...).")
            reopen = st.form_submit_button("Open dashboard", icon=":material/lock_open:")
    try:
        if create:
            session, new_token = store.create_session(title, join_hours=hours)
            st.session_state[keys.CLASS_NEW_TOKEN] = new_token
        elif reopen:
            session = store.open_session(token)
        else:
            return None
    except ClassroomError as e:
        st.error(str(e))
        return None
    st.session_state[keys.CLASS_TEACHER_SESSION] = session.id
    st.rerun()


def session_header(store: ClassStore, session: ClassSession) -> ClassSession:
    """Join code, the new token (once), lesson state, End lesson and Close; returns the session as it is now."""
    title = f" · {session.title}" if session.title else ""
    if session.live:
        st.markdown(f"### Join code: `{session.display_code}`{title}")
        st.caption(f"Students open the **Webcam** page, unfold *Join a class*, enter this code and a name, consent and "
                   f"press START. Joining is open until "
                   f"{time.strftime('%H:%M', time.localtime(session.join_expires_at))}.")
    else:
        st.markdown(f"### Lesson `{session.display_code}`{title} ended at "
                    f"{time.strftime('%H:%M', time.localtime(session.ended_at))}")
    token = st.session_state.get(keys.CLASS_NEW_TOKEN)
    if token:
        st.warning("**Your teacher token, shown only now.** Keep it to reopen this dashboard after a reload or from "
                   "another browser: only a hash of it is stored, nobody can show it again.", icon=":material/key:")
        st.code(token, language=None)
        if st.button("I have saved the token", key=keys.CLASS_TOKEN_SAVED):
            st.session_state.pop(keys.CLASS_NEW_TOKEN, None)
            st.rerun()
    end_col, close_col, _ = st.columns([1, 1, 3])
    if session.live and end_col.button("End lesson", key=keys.CLASS_END, icon=":material/stop_circle:",
                                       help="Stops joining and sharing for everyone; the summary below becomes final."):
        session = store.end_session(session.id)
        st.rerun()
    if close_col.button("Close dashboard", key=keys.CLASS_CLOSE, icon=":material/logout:",
                        help="Forget this session in this browser (the data stays; reopen it with the token)."):
        for key in (keys.CLASS_TEACHER_SESSION, keys.CLASS_NEW_TOKEN, keys.CLASS_TIMELINE):
            st.session_state.pop(key, None)
        st.rerun()
    return session


# ----- live view -----
def _timeline(store: ClassStore, session_id: int) -> cs.LiveTimeline:
    live = st.session_state.get(keys.CLASS_TIMELINE)
    if live is None or live.session_id != session_id or live.store is not store:
        live = st.session_state[keys.CLASS_TIMELINE] = cs.LiveTimeline(store, session_id)
    return live


def curve_figure(curve: pd.DataFrame) -> go.Figure:
    """The class's mean engagement (students present) and how many were present, over the lesson."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=curve["minute"], y=curve["mean_engagement"], mode="lines", name="mean engagement",
                             line=dict(color="#1f77b4", width=2), connectgaps=False))
    fig.add_trace(go.Scatter(x=curve["minute"], y=curve["present"], mode="lines", name="students present",
                             yaxis="y2", line=dict(color="#999999", width=1, dash="dot")))
    top = max(1, int(curve["present"].max()) if len(curve) else 1)
    fig.update_layout(shapes=[dict(type="line", xref="paper", x0=0, x1=1, yref="y", y0=y, y1=y,
                                   line=dict(dash="dot", color=colour, width=1))
                              for y, colour in ((eng.DISENGAGED_THRESHOLD, "grey"), (eng.HIGHLY_ENGAGED_ABOVE, "green"))],
                      height=320, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h"),
                      title="Class engagement (mean of the students present)",
                      xaxis=dict(title="minutes since the session started"),
                      yaxis=dict(range=[0, 1.02], title="engagement"),
                      yaxis2=dict(range=[0, top + 0.5], overlaying="y", side="right", title="present",
                                  showgrid=False, rangemode="tozero"))
    return fig


def emotions_figure(counts: dict[str, int]) -> go.Figure:
    colours = emotion_colours(list(counts))
    fig = go.Figure(go.Bar(x=list(counts), y=list(counts.values()), marker_color=[colours[k] for k in counts],
                           text=[str(v) for v in counts.values()], textposition="auto"))
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=40, b=10), title="Emotions now (students in view)",
                      yaxis=dict(title="students", dtick=1, rangemode="tozero"))
    return fig


def status_line(states: pd.DataFrame) -> str:
    """Who is in which state, in one line ("**Sharing now:** Ana, Ben · **Absent:** Cleo")."""
    parts = []
    for status, title in (("active", "Sharing now"), ("absent", "Absent"), ("waiting for video", "Waiting for video"),
                          ("left", "Left")):
        names = states.loc[states["status"] == status, "name"].tolist()
        if names:
            parts.append(f"**{title}:** {', '.join(names)}")
    return " · ".join(parts)


@st.fragment(run_every=LIVE_REFRESH_S)
def live_view(store: ClassStore, session_id: int, disengaged_after: float) -> None:
    """Re-read the database and redraw every ``LIVE_REFRESH_S`` seconds (only this fragment reruns)."""
    try:
        session = store.session(session_id)
        people = store.participants(session_id)
        seconds = _timeline(store, session_id).refresh()
    except ClassroomError as e:
        st.warning(f"The live view cannot be updated now (it retries every {LIVE_REFRESH_S:.0f} s). {e}")
        return
    now = time.time()
    states = cs.participant_states(session, people, seconds, now)
    active = states[states["status"] == "active"]
    late = cs.disengaged_longer_than(states, disengaged_after)
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Participants", len(people))
    m2.metric("Sharing now", len(active))
    m3.metric("Class engagement now", f"{active['engagement'].mean():.2f}" if active["engagement"].notna().any()
              else "—", help="Mean over the students sharing now of their engagement over the last seconds.")
    m4.metric(f"Disengaged > {disengaged_after:.0f} s", len(late))
    if not people:
        st.info("No student has joined yet: give them the join code above.")
        return
    st.markdown(status_line(states))
    if len(late):
        st.warning("**Disengaged for more than {:.0f} s:** ".format(disengaged_after) + ", ".join(
            f"{r.name} ({r.disengaged_s} s, {'absent' if r.status == 'absent' else 'low engagement'})"
            for r in late.itertuples()), icon=":material/notifications:")
    curve_col, emotion_col = st.columns([3, 2])
    curve_col.plotly_chart(curve_figure(cs.class_curve(seconds, session.created_at)),
                           key=f"{keys.CLASS_CHART}_curve")
    emotion_col.plotly_chart(emotions_figure(cs.emotions_now(people, seconds, now, labels=EMOTIONS)),
                             key=f"{keys.CLASS_CHART}_emotions")
    st.dataframe(states.drop(columns=["participant_id"]), hide_index=True, key=f"{keys.CLASS_CHART}_grid",
                 column_config={
                     "name": st.column_config.TextColumn("student"),
                     "engagement": st.column_config.ProgressColumn("engagement now", min_value=0.0, max_value=1.0,
                                                                   format="%.2f"),
                     "disengaged_s": st.column_config.NumberColumn("disengaged for (s)"),
                     "sparkline": st.column_config.LineChartColumn(
                         f"last {cs.SPARKLINE_S // 60} min", y_min=0.0, y_max=1.0)})
    st.caption(f"Updated {time.strftime('%H:%M:%S', time.localtime(now))}, every {LIVE_REFRESH_S:.0f} s. Rows arrive "
               "from each student every 2 s; a student without a row for "
               f"{cs.ABSENT_AFTER_S} s is shown absent. Disengaged: absent or engagement index ≤ "
               f"{eng.DISENGAGED_THRESHOLD}.")


# ----- after the lesson -----
def summary_view(store: ClassStore, session: ClassSession) -> None:
    """Per-participant and class summary with CSV/JSON downloads (final once the lesson has ended)."""
    st.header("Lesson summary")
    if session.live:
        st.caption("The lesson is live: this is the summary so far (it refreshes when you use the page; the downloads "
                   "are built when clicked). Press *End lesson* for the final one.")
    try:
        people = store.participants(session.id)
        seconds = store.seconds(session.id)
    except ClassroomError as e:
        st.warning(f"The summary cannot be read now. {e}")
        return
    summary = cs.lesson_summary(session, people, seconds, time.time())
    if not people:
        st.info("No participant yet.")
        return
    labels = list(summary["class"]["emotion_share"])
    st.dataframe(cs.summary_table(summary), hide_index=True, key=f"{keys.CLASS_CHART}_summary", column_config={
        "present (%)": st.column_config.NumberColumn(format="%.0f%%"),
        "mean engagement": st.column_config.NumberColumn(format="%.2f"),
        "longest disengaged (s)": st.column_config.NumberColumn(format="%.0f"),
        **{f"{k} (%)": st.column_config.NumberColumn(format="%.0f%%") for k in labels}})

    def fresh() -> tuple[dict, list, pd.DataFrame]:
        s, p, sec = store.session(session.id), store.participants(session.id), store.seconds(session.id)
        return cs.lesson_summary(s, p, sec, time.time()), p, sec

    base = f"class_{session.join_code}"
    c1, c2, c3 = st.columns(3)
    c1.download_button("Summary (CSV)", lambda: cs.summary_csv(fresh()[0]), f"{base}_summary.csv", "text/csv",
                       key=f"{keys.CLASS_DOWNLOAD}_csv", on_click="ignore", icon=":material/download:")
    c2.download_button("Per-second timeline (CSV)", lambda: cs.timeline_csv(*fresh()[1:]), f"{base}_timeline.csv",
                       "text/csv", key=f"{keys.CLASS_DOWNLOAD}_timeline", on_click="ignore",
                       icon=":material/download:")
    c3.download_button("Summary and timeline (JSON)", lambda: cs.summary_json(*fresh()), f"{base}.json",
                       "application/json", key=f"{keys.CLASS_DOWNLOAD}_json", on_click="ignore",
                       icon=":material/download:")
