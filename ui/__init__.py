"""UI helpers for the Streamlit pages (the only place besides pages/ that imports streamlit)."""

# aiortc's libsrtp must load before TensorFlow: imported after it, the two clash and the server segfaults.
import pylibsrtp  # noqa: F401
