"""UI pieces of the class dashboard: create or reopen a session, its join code and one-time teacher token, the live
view (a fragment that re-reads the database every few seconds) and the lesson summary with its downloads.

Only the browser that created the session or entered its teacher token sees it. That browser gets a cookie
(``TEACHER_COOKIE``) holding an opaque random secret - never the token - whose hash the class database maps to the
session (``ClassStore.new_teacher_login``, 12 hours), so a reload reopens the dashboard; Close dashboard revokes it.
The cookie is read with ``st.context.cookies`` (sent by the browser with the page's WebSocket request) and written by
a small script (``st.html(..., unsafe_allow_javascript=True)``, SameSite=Strict, Secure over https): the secret never
appears in a URL, so it is not in server logs nor in a link that gets shared. Without the cookie (another browser,
cookies blocked) the teacher enters the token. What it shows comes from ``fer_core.classroom.summary``.
"""
from __future__ import annotations

import json
import time

import pandas as pd
import streamlit as st

from fer_core.classroom import figures, summary
from fer_core.classroom.store import (TEACHER_LOGIN_HOURS, ClassroomError, ClassSession, ClassStore,
                                      ClassStoreUnavailable)
from fer_core.classroom.writer import writer_status
from fer_core.live import engagement as eng

from . import charts, class_store, keys, webrtc
from .page_header import page_header
from .webcam import freeze_long_lived_objects

LIVE_REFRESH_S = 3.0
TEACHER_COOKIE = "fer_class_teacher"


def teacher_cookie() -> str:
    """This browser's teacher secret from its cookie ('' when none)."""
    try:
        return str(st.context.cookies.get(TEACHER_COOKIE, "") or "")
    except Exception:  # no browser context (bare mode)
        return ""


def _cookie_script(value: str, max_age: int) -> str:
    return ("<script>document.cookie = " + json.dumps(f"{TEACHER_COOKIE}={value}; path=/; max-age={max_age}; "
                                                     "samesite=strict")
            + " + (location.protocol === 'https:' ? '; secure' : '');</script>")


def sync_cookie() -> None:
    """Write or clear this browser's teacher cookie when the previous run asked for it."""
    secret = st.session_state.pop(keys.CLASS_SET_COOKIE, None)
    if secret:
        st.html(_cookie_script(secret, int(TEACHER_LOGIN_HOURS * 3600)), unsafe_allow_javascript=True)
    if st.session_state.pop(keys.CLASS_CLEAR_COOKIE, False):
        st.html(_cookie_script("", 0), unsafe_allow_javascript=True)


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
    secret = teacher_cookie()
    if secret and not st.session_state.get(keys.CLASS_CLEAR_COOKIE):
        try:
            reopened = store.session_for_login(secret)
        except ClassroomError:
            reopened = None
        if reopened is not None:  # a reload: this browser opened the session before
            st.session_state[keys.CLASS_TEACHER_SESSION] = reopened.id
            st.session_state[keys.CLASS_TEACHER_SECRET] = secret
            return reopened
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
        secret = store.new_teacher_login(session.id)
    except ClassroomError as e:
        st.error(str(e))
        return None
    st.session_state[keys.CLASS_TEACHER_SESSION] = session.id
    st.session_state[keys.CLASS_TEACHER_SECRET] = st.session_state[keys.CLASS_SET_COOKIE] = secret
    st.session_state.pop(keys.CLASS_CLEAR_COOKIE, None)
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
        st.warning("**Your teacher token, shown only now.** This browser reopens the dashboard after a reload by "
                   "itself (a cookie, without the token); keep the token to open it from another browser: only a hash "
                   "of it is stored, nobody can show it again.", icon=":material/key:")
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
                        help="Forget this session in this browser, also after a reload (the data stays; reopen it "
                             "with the token)."):
        secret = st.session_state.get(keys.CLASS_TEACHER_SECRET) or teacher_cookie()
        if secret:
            try:
                store.end_teacher_login(secret)
            except ClassroomError:
                pass
        for key in (keys.CLASS_TEACHER_SESSION, keys.CLASS_NEW_TOKEN, keys.CLASS_TIMELINE, keys.CLASS_TEACHER_SECRET):
            st.session_state.pop(key, None)
        st.session_state[keys.CLASS_CLEAR_COOKIE] = True
        st.rerun()
    return session


# ----- live view -----
def _timeline(store: ClassStore, session_id: int) -> summary.LiveTimeline:
    """This browser session's incremental reader of the session's rows (kept between refreshes)."""
    live = st.session_state.get(keys.CLASS_TIMELINE)
    if live is None or live.session_id != session_id or live.store is not store:
        live = st.session_state[keys.CLASS_TIMELINE] = summary.LiveTimeline(store, session_id)
    return live


def status_line(states: pd.DataFrame) -> str:
    """Who is in which state, in one line ("**Sharing now:** Ana, Ben · **Absent:** Cleo")."""
    parts = []
    for status, title in (("active", "Sharing now"), ("absent", "Absent"), ("waiting for video", "Waiting for video"),
                          ("left", "Left")):
        names = states.loc[states["status"] == status, "name"].tolist()
        if names:
            parts.append(f"**{title}:** {', '.join(names)}")
    return " · ".join(parts)


def _why(row) -> str:
    """Why a student is listed as disengaged, in words."""
    if row.status == "absent":
        return "no video"
    return "not in view" if not row.in_view else "not facing the screen"


@st.fragment(run_every=LIVE_REFRESH_S)
def live_view(store: ClassStore, session_id: int, disengaged_after: float) -> None:
    """Re-read the database and redraw every ``LIVE_REFRESH_S`` seconds (only this fragment reruns): the signals
    apart (in view, facing the screen, expression), the disengagement rule in words, and the lesson summary so far
    (in the same fragment, so the two never contradict each other)."""
    writes = writer_status(store)  # the students' rows this server writes: retried and reported when the DB is away
    if writes is not None and not writes.healthy:
        st.error(writes.describe(), icon=":material/database:")
    try:
        state = summary.live_state(store, session_id, time.time(), disengaged_after=disengaged_after,
                                   timeline=_timeline(store, session_id))
    except ClassroomError as e:
        st.warning(f"The live view cannot be updated now (it retries every {LIVE_REFRESH_S:.0f} s). {e}")
        return
    m1, m2, m3, m4, m5 = st.columns(5)
    m1.metric("Participants", state.participants)
    m2.metric("Sharing now", state.sharing_now)
    m3.metric("In view now", state.in_view_now, help="Students sharing now whose face is in view.")
    m4.metric("Facing the screen now", "unknown" if state.facing_now is None else state.facing_now,
              help=f"Of the students in view, those facing the screen: {eng.FACING_RULE}. Unknown when the face "
                   "detector gives no landmarks (Haar).")
    m5.metric(f"Disengaged > {disengaged_after:.0f} s", len(state.disengaged))
    st.caption(f"**Disengaged** means: {summary.disengaged_rule(disengaged_after)}. The expression is shown on its "
               "own: an angry or surprised face is an expression, not a measure of engagement.")
    if not state.participants:
        st.info("No student has joined yet: give them the join code above.")
        return
    st.markdown(status_line(state.states))
    if len(state.disengaged):
        st.warning("**Disengaged for more than {:.0f} s:** ".format(disengaged_after) + ", ".join(
            f"{r.name} ({r.disengaged_s} s, {_why(r)})" for r in state.disengaged.itertuples()),
            icon=":material/notifications:")
    curve_col, emotion_col = st.columns([3, 2])
    curve_col.plotly_chart(charts.class_curve_figure(state.curve), key=f"{keys.CLASS_CHART}_curve")
    emotion_col.plotly_chart(charts.emotion_distribution(state.emotions, title="Expressions now (students in view)",
                                                         height=340, unit="students"),
                             key=f"{keys.CLASS_CHART}_emotions")
    grid = state.states.drop(columns=["participant_id"]).assign(
        in_view=state.states["in_view"].map({True: "yes", False: "no"}).fillna("—"),
        facing=state.states["facing"].map(lambda v: "—" if pd.isna(v) else f"{100 * v:.0f}%"))
    st.dataframe(grid, hide_index=True, key=f"{keys.CLASS_CHART}_grid",
                 column_config={
                     "name": st.column_config.TextColumn("student"),
                     "in_view": st.column_config.TextColumn("in view"),
                     "facing": st.column_config.TextColumn(
                         "facing the screen", help=f"Share of the last {figures.RECENT_S} s in view with the head "
                                                   "facing the screen; — when unknown or not sharing."),
                     "emotion": st.column_config.TextColumn("expression"),
                     "disengaged_s": st.column_config.NumberColumn("not in view or looking away for (s)"),
                     "sparkline": st.column_config.LineChartColumn(
                         f"last {state.sparkline_s // 60} min (1 facing, ½ looking away, 0 not in view)",
                         y_min=0.0, y_max=1.0)})
    st.caption(f"Updated {time.strftime('%H:%M:%S', time.localtime(state.now))}, every {LIVE_REFRESH_S:.0f} s. Rows "
               "arrive from each student every 2 s; a student without a row for "
               f"{state.absent_after_s:g} s is shown absent (no video).")
    session = store.session(session_id)
    summary_view(store, session, disengaged_after)


# ----- after the lesson -----
def summary_view(store: ClassStore, session: ClassSession, disengaged_after: float) -> None:
    """Per-participant and class summary with CSV/JSON downloads (final once the lesson has ended): the signals
    apart; Sharma's concentration index only in the downloads, as a named research index."""
    st.header("Lesson summary")
    if session.live:
        st.caption("The lesson is live: this is the summary so far (it refreshes with the live view; the downloads "
                   "are built when clicked). Press *End lesson* for the final one.")
    try:
        report = summary.lesson_report(store, session.id, time.time(), disengaged_after=disengaged_after)
    except ClassroomError as e:
        st.warning(f"The summary cannot be read now. {e}")
        return
    if not report.participants:
        st.info("No participant yet.")
        return
    labels = list(report.summary["class"]["emotion_share"])
    st.dataframe(report.table(), hide_index=True, key=f"{keys.CLASS_CHART}_summary", column_config={
        "in view (%)": st.column_config.NumberColumn(format="%.0f%%"),
        "facing the screen (%)": st.column_config.NumberColumn(format="%.0f%%"),
        "longest not in view or looking away (s)": st.column_config.NumberColumn(format="%.0f"),
        **{f"{k} (%)": st.column_config.NumberColumn(format="%.0f%%") for k in labels}})
    st.caption("Each student's figures cover their own session time, from their first second with video to their "
               "last (after STOP or leaving they are *left*, not absent). *In view*: a face in at least one processed "
               f"frame of the second. *Disengaged (s)*: {summary.disengaged_rule(disengaged_after)}. The downloads "
               "add Sharma et al.'s concentration index (`sharma_concentration_index`), a research index: "
               "an expression weight times a gaze weight, not a verdict on a student.")

    def fresh() -> summary.LessonReport:  # the downloads are built when clicked, from the rows as they are then
        return summary.lesson_report(store, session.id, time.time(), disengaged_after=disengaged_after)

    base = f"class_{session.join_code}"
    c1, c2, c3 = st.columns(3)
    c1.download_button("Summary (CSV)", lambda: fresh().summary_csv(), f"{base}_summary.csv", "text/csv",
                       key=f"{keys.CLASS_DOWNLOAD}_csv", on_click="ignore", icon=":material/download:")
    c2.download_button("Per-second timeline (CSV)", lambda: fresh().timeline_csv(), f"{base}_timeline.csv",
                       "text/csv", key=f"{keys.CLASS_DOWNLOAD}_timeline", on_click="ignore",
                       icon=":material/download:")
    c3.download_button("Summary and timeline (JSON)", lambda: fresh().to_json(), f"{base}.json",
                       "application/json", key=f"{keys.CLASS_DOWNLOAD}_json", on_click="ignore",
                       icon=":material/download:")


# ----- the page -----
def render_page() -> None:
    """The Class dashboard page: the class store, then the teacher's session (create or reopen), its header, the
    live view and the lesson summary."""
    page_header("Class dashboard", ":material/school:",
                "Class dashboard: the room's engagement, live and after the lesson",
                "Create a class session and give its join code to your students: they join from the Webcam page. Their "
                "presence, whether they face the screen and their expression show here live, and as a summary per student and for the class "
                "after the lesson.",
                "**Privacy:** students share only after consenting, and only per-second figures (face in view, "
                "facing the screen, dominant expression, a research index), never a video frame. They are kept in the class database and "
                f"deleted {class_store.retention_days_or_default():g} days after the lesson started. Only the browser "
                "that created the session, or anyone with its teacher token, sees this dashboard.")
    with st.sidebar:
        st.header("Alerts")
        disengaged_after = st.number_input("List students disengaged for more than (s)", 5, 600,
                                           int(summary.DISENGAGED_AFTER_S), 5, key=keys.CLASS_DISENGAGED_S,
                                           help="Disengaged: not in view, or not facing the screen, for longer "
                                                "than this. The expression does not count.")
    warning = webrtc.ice_warning()
    if warning:
        st.warning(warning, icon=":material/wifi_off:")
    sync_cookie()
    store = class_store.store_or_message("The class dashboard cannot work without it (the Webcam page still works, "
                                         "without sharing).")
    if store is None:
        st.stop()
    freeze_once()
    session = teacher_session(store)
    if session is None:
        st.stop()
    session = session_header(store, session)
    live_view(store, session.id, disengaged_after)
