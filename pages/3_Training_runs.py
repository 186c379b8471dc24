"""Training runs: every stored run in a table, their curves, confusion matrices and per-class scores side by side,
and the evaluation of a stored model on a dataset the user uploads (the flow is ``ui/training_runs.py``'s)."""
from ui import training_runs

training_runs.render_page()
