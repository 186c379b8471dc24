"""Upload photo: every face in one or several photos, boxed and labelled, with probabilities and downloads (the flow
is ``ui/photo.py``'s)."""
from ui import photo

photo.render_page()
