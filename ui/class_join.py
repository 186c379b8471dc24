"""The Webcam page's "Join a class": a join form with the consent notice, then the share's status and Leave.

Sharing starts only when the student submits the form with the consent box ticked; it sends the per-second aggregates
of this browser session's ``LiveProcessor`` (``fer_core.classroom.share.ClassShare``, a background thread) and stops with
Leave class, when the teacher ends the lesson, or when the browser session ends. The database is opened only on Join:
when it is unavailable the student gets a message and the webcam keeps working without sharing.
"""
from __future__ import annotations

import time

import streamlit as st

from fer_core.classroom.share import ClassShare
from fer_core.classroom.store import ClassroomError, ClassStoreUnavailable
from fer_core.classroom.writer import shared_writer

from . import class_store as class_store_ui, keys, webrtc


def consent_notice(retention_days: float) -> str:
    """Exactly what is shared, with whom, from when to when, and for how long it is kept."""
    days = f"{retention_days:g} day{'s' if retention_days != 1 else ''}"
    return ("**What your teacher sees if you join.** For every second while your camera runs: whether a face is in "
            "view, whether it faces the screen, its dominant expression and a research index computed from these "
            "(the figures of the engagement monitor below), "
            "under the display name you choose or as *Anonymous N*. **Never a video frame or a picture of you**: "
            "frames are analysed on this server and dropped. Sharing starts when you press *Join class* and stops "
            f"when you press *Leave class* or close this tab. The teacher can download these figures; the server "
            f"deletes them {days} after the lesson started.")


def share_state(status, playing: bool, frames: int) -> str:
    """The student's sharing state in words: "connecting" (joined, the video not running or no frame processed
    yet), "sharing", "paused" (STOP pressed after sharing), "lesson ended" (the teacher ended it) or "ended"."""
    if not status.sharing:
        return "lesson ended" if status.lesson_ended else "ended"
    if playing and frames and status.rows_sent + status.pending > 0:
        return "sharing"
    if not playing and status.rows_sent + status.pending > 0:
        return "paused"
    return "connecting"


class SharePanel:
    """The share's state and the seconds shared so far, drawn into a placeholder: the page's poll loop redraws it
    while the stream plays (``render``), so the counter moves without waiting for STOP."""

    def __init__(self, share: ClassShare):
        self.share = share
        self._slot = st.empty()

    def render(self, playing: bool, frames: int) -> str:
        status = self.share.status()
        state = share_state(status, playing, frames)
        name = status.participant.display_name
        shared = status.rows_sent + status.pending
        counter = f"{shared} second{'s' if shared != 1 else ''} shared"
        since = time.strftime("%H:%M", time.localtime(self.share.started_at))
        with self._slot.container():
            if state == "sharing":
                st.success(f"Sharing with your class as **{name}** since {since} · **{counter}**.",
                           icon=":material/group:")
            elif state == "connecting":
                st.info(f"Connecting: joined as **{name}**, waiting for your video · {counter}. Press START on the "
                        "video and allow the camera; only seconds with video are shared.", icon=":material/sync:")
            elif state == "paused":
                st.warning(f"Paused: your video is stopped, nothing is shared · {counter} so far as **{name}**. "
                           "Press START to share again.", icon=":material/pause_circle:")
            elif state == "lesson ended":
                st.info(f"Lesson ended: your teacher ended the lesson and sharing stopped · {counter} as "
                        f"**{name}**. Your video stays on this page only.", icon=":material/stop_circle:")
            else:
                st.info(f"Sharing as **{name}** has ended: {status.ended} {counter}.")
            if status.sharing and status.error:
                st.warning(f"The figures wait here and are sent when the database answers again. {status.error}")
        return state


def class_join_panel(processor) -> SharePanel | None:
    """Join form (code, name or anonymous, consent) or, once joined, the share's state (a ``SharePanel``, returned
    for the page's poll loop) and a Leave button."""
    share: ClassShare | None = st.session_state.get(keys.CLASS_SHARE)
    with st.expander("Join a class: share your engagement with your teacher", expanded=share is not None,
                     icon=":material/school:"):
        warning = webrtc.ice_warning()
        if warning:
            st.warning(warning, icon=":material/wifi_off:")
        if share is not None:
            return _joined(share, processor)
        _join_form(processor)
    return None


def _join_form(processor) -> None:
    with st.form(keys.CLASS_JOIN_FORM):
        code = st.text_input("Join code", key=keys.CLASS_JOIN_CODE, placeholder="ABC-DEF", max_chars=12,
                             help="The code your teacher shows on the class dashboard.")
        name = st.text_input("Display name", key=keys.CLASS_JOIN_NAME, max_chars=40,
                             help="The name your teacher sees. Someone already uses it? You become e.g. \"Ana (2)\".")
        anonymous = st.checkbox("Stay anonymous (your teacher sees \"Anonymous N\")", key=keys.CLASS_JOIN_ANONYMOUS)
        st.markdown(consent_notice(class_store_ui.retention_days_or_default()))
        consent = st.checkbox("I agree to share these per-second figures with the teacher of this class",
                              key=keys.CLASS_JOIN_CONSENT)
        submitted = st.form_submit_button("Join class", icon=":material/login:")
    if not submitted:
        return
    if not consent:
        st.error("Nothing is shared without your consent: tick the box above to join the class.")
        return
    store = class_store_ui.store_or_message("You cannot join a class now; the webcam works as usual without sharing.")
    if store is None:
        return
    try:
        person = store.join(code, name, anonymous=anonymous)
    except ClassStoreUnavailable as e:
        st.error(f"{e} You cannot join a class now; the webcam works as usual without sharing.")
        return
    except ClassroomError as e:
        st.error(str(e))
        return
    st.session_state[keys.CLASS_SHARE] = ClassShare(store, person, processor, writer=shared_writer(store))
    st.rerun()


def _joined(share: ClassShare, processor) -> SharePanel:
    panel = SharePanel(share)
    panel.render(False, processor.snapshot().frames)  # the page redraws it with the stream's state
    status = share.status()
    label = "Leave class" if status.sharing else "Join another class"
    if st.button(label, key=keys.CLASS_LEAVE, icon=":material/logout:"):
        if status.sharing:
            share.stop(leave=True)
        del st.session_state[keys.CLASS_SHARE]
        st.rerun()
    return panel
