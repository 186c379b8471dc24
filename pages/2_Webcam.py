"""Webcam: live emotion recognition over WebRTC, and an engagement monitor for online classes (the flow is
``ui/webcam.py``'s)."""
from ui import webcam

webcam.render_page()
