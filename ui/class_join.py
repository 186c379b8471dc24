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

from . import class_store as class_store_ui, keys


def consent_notice(retention_days: float) -> str:
    """Exactly what is shared, with whom, from when to when, and for how long it is kept."""
    days = f"{retention_days:g} day{'s' if retention_days != 1 else ''}"
    return ("**What your teacher sees if you join.** For every second while your camera runs: whether a face is in "
            "view, its dominant emotion and its engagement index (the three figures of the engagement monitor below), "
            "under the display name you choose or as *Anonymous N*. **Never a video frame or a picture of you**: "
            "frames are analysed on this server and dropped. Sharing starts when you press *Join class* and stops "
            f"when you press *Leave class* or close this tab. The teacher can download these figures; the server "
            f"deletes them {days} after the lesson started.")


def class_join_panel(processor) -> None:
    """Join form (code, name or anonymous, consent) or, once joined, the share's status and a Leave button."""
    share: ClassShare | None = st.session_state.get(keys.CLASS_SHARE)
    with st.expander("Join a class: share your engagement with your teacher", expanded=share is not None,
                     icon=":material/school:"):
        if share is not None:
            _joined(share)
        else:
            _join_form(processor)


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


def _joined(share: ClassShare) -> None:
    status = share.status()
    name = status.participant.display_name
    if status.sharing:
        since = time.strftime("%H:%M", time.localtime(share.started_at))
        st.success(f"Sharing with your class as **{name}** since {since}: {status.rows_sent} seconds sent. "
                   "Press START on the video if it is not running; only seconds with video are shared.",
                   icon=":material/group:")
        if status.error:
            st.warning(f"Sharing is paused, the figures wait here and are sent when the database answers again. "
                       f"{status.error}")
        label = "Leave class"
    else:
        st.info(f"Sharing as **{name}** has ended: {status.ended} {status.rows_sent} seconds were sent.")
        label = "Join another class"
    if st.button(label, key=keys.CLASS_LEAVE, icon=":material/logout:"):
        if status.sharing:
            share.stop(leave=True)
        del st.session_state[keys.CLASS_SHARE]
        st.rerun()
