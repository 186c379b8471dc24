"""The app's UI layer: one module per page (its flow in ``render_page``) and the pieces they share. With ``pages/`` and
``streamlit_app.py``, the only code that imports streamlit; pages reach ``fer_core`` only through here.

IMPORT-ORDER GUARD, keep it first: aiortc's libsrtp (``pylibsrtp``, loaded by streamlit-webrtc on the Webcam page)
must be loaded before TensorFlow. Loaded after it, the two native libraries clash and the server segfaults. Every
page and ``streamlit_app.py`` import ``ui`` before anything else, so this line runs first in the server process;
``tests/test_import_order.py`` fails if that ever stops being true, and ``tests/conftest.py`` does the same for the
test process.
"""
import pylibsrtp  # noqa: F401  (the guard: before TensorFlow, see above)
