"""Video analysis: upload a recorded video; faces are tracked, their emotions and engagement charted per second
(the flow is ``ui/video_analysis.py``'s)."""
from ui import video_analysis

video_analysis.render_page()
