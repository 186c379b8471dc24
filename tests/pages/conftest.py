"""The Webcam page's stand-in for streamlit_webrtc, for the page tests that render it."""
from __future__ import annotations

import enum
import sys
import types
from types import SimpleNamespace
from unittest import mock

import pytest


@pytest.fixture
def streamer(monkeypatch):
    """A stand-in for streamlit_webrtc: webrtc_streamer needs a live server (it registers with the session manager),
    which AppTest has not. The real module is not imported here: aiortc's libsrtp crashes the process when it loads
    after TensorFlow, which other tests load. Only that entry of sys.modules is swapped (restoring the whole dict
    would drop every module first imported during the test, and later tests would get second copies)."""
    fake = mock.Mock(return_value=SimpleNamespace(state=SimpleNamespace(playing=False)))
    module = types.ModuleType("streamlit_webrtc")
    module.webrtc_streamer = fake
    module.WebRtcMode = enum.Enum("WebRtcMode", "RECVONLY SENDONLY SENDRECV")
    monkeypatch.setitem(sys.modules, "streamlit_webrtc", module)
    return fake
