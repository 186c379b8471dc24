"""The app's entry point (``streamlit run streamlit_app.py``): the pages, with the home page first as "Home".

``ui`` is imported first, on purpose: its ``__init__`` loads aiortc's libsrtp before anything can load TensorFlow
(the other way round the server segfaults; ``tests/test_import_order.py`` checks it)."""
import ui  # noqa: F401  (first: the libsrtp-before-TensorFlow guard)
import streamlit as st

from ui import home

PAGES = [
    st.Page(home.render, title="Home", icon=":material/home:", default=True),
    st.Page("pages/1_Upload_photo.py", title="Upload photo", icon=":material/photo_camera:"),
    st.Page("pages/2_Webcam.py", title="Webcam", icon=":material/videocam:"),
    st.Page("pages/3_Training_runs.py", title="Training runs", icon=":material/monitoring:"),
    st.Page("pages/4_Video_analysis.py", title="Video analysis", icon=":material/movie:"),
    st.Page("pages/5_Class_dashboard.py", title="Class dashboard", icon=":material/school:"),
]

st.navigation(PAGES).run()
