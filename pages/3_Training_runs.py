"""Training runs: every stored run in a table, their curves, confusion matrices and per-class scores side by side,
and the evaluation of a stored model on a dataset the user uploads."""
import os

import streamlit as st

from fer_core.runs import summary as rs
from fer_core import runs
from ui import keys, training_runs as runs_ui

st.set_page_config(page_title="Training runs", page_icon=":material/monitoring:", layout="wide")
st.title("Training runs")
st.caption("Runs written by `python -m fer_core.train` under `models/runs/` (and any folder added in the sidebar): "
           "compare them, inspect their errors, and score a model on your own labelled faces.")

with st.sidebar:
    extra = st.text_input("Extra runs folders", key=keys.RUNS_EXTRA_DIRS, placeholder="/path/to/runs",
                          help=f"Folders holding run folders (or a run folder itself), separated by '{os.pathsep}'. "
                               f"The environment variable {rs.ENV_RUNS_DIRS} adds folders the same way.")
    env = os.environ.get(rs.ENV_RUNS_DIRS)
    if env:
        st.caption(f"Also from ${rs.ENV_RUNS_DIRS}: `{env}`")
    if st.button("Reload", icon=":material/refresh:", help="Read the run folders again (training runs update every epoch)"):
        st.rerun()

roots = rs.runs_roots(extra, env)
for root in roots[1:]:
    if not root.is_dir():
        st.sidebar.warning(f"Folder not found: `{root}`")
summaries, failed = rs.summarize_all(rs.collect_run_dirs(roots))
if not summaries:
    runs_ui.show_problems([], {}, failed)
    runs_ui.show_empty(roots)
    st.stop()

labels = rs.run_labels([s.path for s in summaries])
by_path = {str(s.path): s for s in summaries}
runs_ui.show_problems(summaries, labels, failed)
runs_ui.show_training_notes(summaries, labels)
st.dataframe(runs_ui.runs_dataframe([rs.table_row(s, labels[str(s.path)]) for s in summaries]),
             hide_index=True, column_config=runs_ui.runs_column_config(), placeholder="–")

try:
    default_dir = runs.default_run_dir()
except runs.RunError:
    default_dir = None
if keys.RUNS_PICKED in st.session_state:
    st.session_state[keys.RUNS_PICKED] = [p for p in st.session_state[keys.RUNS_PICKED] if p in by_path]
else:
    st.session_state[keys.RUNS_PICKED] = rs.default_pick(summaries, default_dir)
picked = st.multiselect("Runs to inspect and compare", list(by_path), format_func=labels.get, key=keys.RUNS_PICKED)
if not picked:
    st.info("Pick one or more runs above to see their curves, confusion matrices and files.")
    st.stop()
chosen = [by_path[p] for p in picked]

st.subheader("Training curves")
runs_ui.show_curves(chosen, labels)

st.subheader("Confusion matrices and per-class scores")
normalise = st.toggle("Row-normalised (share of each true class)", key=keys.RUNS_NORMALISE)
comparison = st.container()
tabs = st.tabs([labels[p] for p in picked]) if len(chosen) > 1 else [st.container()]
shown = []
for s, tab in zip(chosen, tabs):
    label = labels[str(s.path)]
    with tab:
        ev = runs_ui.pick_evaluation(s, rs.run_evaluations(s), label)
        if ev is None:
            st.info(f"No metrics yet: {label} is still training; they appear when it finishes." if s.in_progress
                    else f"{label} has no readable metrics.json or confusion_matrix.csv.")
        else:
            runs_ui.show_evaluation(ev, normalise, key=f"{keys.RUNS_CHART}:{s.path}")
        shown.append((label, ev))
        st.markdown("**Files**")
        runs_ui.show_files(s)
        runs_ui.evaluate_panel(s, label)
with comparison:
    runs_ui.show_comparison(shown, normalise)
