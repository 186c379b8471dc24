"""Class dashboard: a teacher opens a class session, students join it from the Webcam page, and the class's
engagement shows live and, after the lesson, as a summary to download (the flow is ``ui/class_dashboard.py``'s)."""
from ui import class_dashboard

class_dashboard.render_page()
