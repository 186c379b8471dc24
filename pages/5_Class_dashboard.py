"""Class dashboard: a teacher opens a class session, students join it from the Webcam page, and the class's
engagement shows live and, after the lesson, as a summary to download."""
import streamlit as st

from ui import class_dashboard as dashboard
from ui import class_store as class_store_ui, keys
from ui.page_header import page_header

page_header("Class dashboard", ":material/school:", "Class dashboard: the room's engagement, live and after the lesson",
            "Create a class session and give its join code to your students: they join from the Webcam page. Their "
            "presence, emotions and engagement show here live, and as a summary per student and for the class after "
            "the lesson.",
            "**Privacy:** students share only after consenting, and only per-second figures (face in view, dominant "
            "emotion, engagement index), never a video frame. They are kept in the class database and deleted "
            f"{class_store_ui.retention_days_or_default():g} days after the lesson started. Only the browser that "
            "created the session, or anyone with its teacher token, sees this dashboard.")

with st.sidebar:
    st.header("Alerts")
    disengaged_after = st.number_input("List students disengaged for more than (s)", 5, 600, 30, 5,
                                       key=keys.CLASS_DISENGAGED_S,
                                       help="Disengaged: face absent, or engagement index at or below 0.25.")

store = class_store_ui.store_or_message("The class dashboard cannot work without it (the Webcam page still works, "
                                        "without sharing).")
if store is None:
    st.stop()
dashboard.freeze_once()
session = dashboard.teacher_session(store)
if session is None:
    st.stop()
session = dashboard.session_header(store, session)
dashboard.live_view(store, session.id, disengaged_after)
dashboard.summary_view(store, session)
