"""Video: face tracking (``tracking``), the per-frame pipeline behind the Webcam page (``processor``), the engagement
monitor (``engagement``), recorded-video analysis (``video``) and the clip classifier (``clips``).
"""
