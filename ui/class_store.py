"""The class-session store for the Webcam page's join form and the class dashboard: its configuration (environment,
else ``[class_dashboard]`` in ``.streamlit/secrets.toml``, else the defaults) and one store per server and URL."""
from __future__ import annotations

import streamlit as st

from fer_core.classroom import store as classroom
from fer_core.classroom.store import ClassroomConfig, ClassroomError, ClassStore


def classroom_config() -> ClassroomConfig:
    """``fer_core.classroom.store.config_from`` over the environment and Streamlit secrets (``ClassConfigError`` if bad)."""
    try:
        section = st.secrets.get(classroom.SECRETS_SECTION)
    except Exception:  # no secrets.toml at all (or an unreadable one) is the common local case
        section = None
    return classroom.config_from(secrets_section=dict(section) if section is not None else None)


@st.cache_resource(show_spinner=False)
def cached_store(url: str, retention_days: float) -> ClassStore:
    """One store (engine, connection pool, write lock) per server; a failure is not cached, so it is retried."""
    return ClassStore(url, retention_days=retention_days)


def store_or_message(consequence: str) -> ClassStore | None:
    """The configured store, or None after a message saying what went wrong and ``consequence``."""
    try:
        config = classroom_config()
        return cached_store(config.url, config.retention_days)
    except ClassroomError as e:
        st.error(f"{e} {consequence}", icon=":material/database:")
        return None


def retention_days_or_default() -> float:
    """The configured retention (for notices); the default when the configuration is bad (the error shows later)."""
    try:
        return classroom_config().retention_days
    except ClassroomError:
        return classroom.DEFAULT_RETENTION_DAYS
