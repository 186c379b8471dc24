"""What every analysis page starts with: page config, title, caption and privacy note; and the model, or a stop."""
from __future__ import annotations

import streamlit as st

from fer_core.inference.classifier import Classifier, ModelLoadError
from fer_core.runs import RunError

from . import model_cache


def use_app_navigation() -> None:
    """Rerun once through ``streamlit_app.py``'s ``st.navigation`` when Streamlit ran this page on its own.

    Until some session has run ``streamlit_app.py`` (which calls ``st.navigation``), Streamlit treats an app with a
    ``pages/`` folder as an old-style multipage app, so a page opened by its URL on a fresh server got the old sidebar
    ("streamlit app" first, no icons, no Home). Streamlit keeps that choice in one class attribute."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def page_header(page_title: str, icon: str, title: str, caption: str, privacy_note: str | None = None) -> None:
    """``st.set_page_config`` (wide layout), the title, a caption and, when given, the privacy note."""
    use_app_navigation()
    st.set_page_config(page_title=page_title, page_icon=icon, layout="wide")
    st.title(title)
    st.caption(caption)
    if privacy_note:
        st.info(privacy_note, icon=":material/lock:")


def classifier_or_stop(run_path: str | None, what: str) -> Classifier:
    """The cached classifier of ``run_path`` (None = the shipped default); if it cannot be loaded, an error saying
    that ``what`` cannot be analysed, and the page stops there."""
    try:
        # Looked up on the module at call time, so tests (and reruns) see a patched model_cache.cached_classifier.
        return model_cache.cached_classifier(run_path)
    except (ModelLoadError, RunError) as e:
        st.error(f"The emotion model could not be loaded, so {what} cannot be analysed: {e}")
        st.stop()
        raise  # not reached: st.stop() raises; keeps type checkers from seeing a None return
