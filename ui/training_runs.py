"""The Training runs page: the runs table, Plotly figures (curves, confusion heatmap, per-class bars), its panels and
its flow (``render_page``)."""
from __future__ import annotations

import io
import math
import os
import shutil
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from fer_core import runs
from fer_core.inference.classifier import Classifier, ModelLoadError, load_classifier
from fer_core.runs import summary as rs
from fer_core.training.data import FaceDataset, fer2013_training_copies, load_dataset
from fer_core.training.evaluation import evaluate, write_evaluation

from . import charts, keys, run_text
from .page_header import use_app_navigation
from .model_cache import cached_classifier

PALETTE = qualitative.Plotly
USAGE_CHOICES = ("all rows", "Training", "PublicTest", "PrivateTest")
TTA_CHOICES = {"flip": "flip (face + mirror image)", "crops": "crops (flip x 5 shifted views)", "none": "none"}
MAX_UNZIPPED_BYTES = 2 * 1024**3  # refuse zips that would expand beyond this
UPLOAD_TYPES = ["csv", "gz", "zip"]

# ---------------------------------------------------------------- the table

PERCENT_COLUMNS = ("best val acc", "test acc", "test acc (no copies)", "test acc (TTA)", "macro-F1", "macro-F1 (TTA)")
NO_COPIES_HELP = ("accuracy on the test images that are not pixel-for-pixel copies of a training image: FER2013 "
                  "repeats about 8% of its PublicTest rows in Training, and a model can remember those")


def runs_dataframe(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for col in ("classes", "parameters", "epochs", "issues"):
        if col in df:
            values = pd.to_numeric(df[col], errors="coerce").astype("float64")
            whole = np.isfinite(values) & (values.abs() < 2**53) & (values == values.round())
            df[col] = values.where(whole).astype("Int64")  # 1e20 or 2.5 epochs in a hand-edited file: blank
    for col in (*PERCENT_COLUMNS, "training time (min)"):
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("Float64")
    return df


def runs_column_config() -> dict:
    cc = st.column_config
    config = {c: cc.NumberColumn(c, format="percent") for c in PERCENT_COLUMNS}
    config.update({
        "run": cc.TextColumn("run", pinned=True),
        "parameters": cc.NumberColumn("parameters", format="compact", help="trainable + non-trainable weights"),
        "best val acc": cc.NumberColumn("best val acc", format="percent",
                                        help="best validation accuracy during training; for an ensemble, its own "
                                             "validation accuracy, the figure its mix was picked on"),
        "selected on": cc.TextColumn("selected on", help="the split whose accuracy picked the kept epoch; when it is "
                                                         "also the test split, the test figure is optimistic"),
        "test acc": cc.NumberColumn("test acc", format="percent", help="accuracy of the selected model on the run's test split"),
        "test acc (no copies)": cc.NumberColumn("test acc (no copies)", format="percent", help=NO_COPIES_HELP),
        "training time (min)": cc.NumberColumn("training time (min)", format="%.1f"),
        "issues": cc.NumberColumn("issues", help="missing or corrupt files (see the warnings above)"),
        "folder": cc.TextColumn("folder", width="small"),
    })
    return config


# ---------------------------------------------------------------- figures

CURVES_GAP = 0.24  # between the panels: the learning-rate ticks on the right of one, the accuracy axis of the other


def epoch_tick_step(last_epoch: int) -> int:
    """A round step (1, 2, 5, 10, 20, 25, 50, ...) giving at most about 12 epoch ticks."""
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500):
        if last_epoch / step <= 12:
            return step
    return math.ceil(last_epoch / 12)


def curves_figure(series: list[tuple[str, list[dict], bool]]) -> go.Figure:
    """Loss (left) and accuracy (right) per epoch, train solid and validation dashed, one colour per run;
    the learning rate dotted on the loss panel's right axis. ``series`` = (name, history rows, still training)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss (learning rate dotted, right axis)", "Accuracy"),
                        specs=[[{"secondary_y": True}, {"secondary_y": False}]], horizontal_spacing=CURVES_GAP)
    for i, (name, history, training) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        label = f"{name} (training)" if training else name
        epochs = [r.get("epoch") for r in history]

        def col(key):
            return [r.get(key) for r in history]

        for key, panel, dash, what in (("loss", 1, "solid", "train"), ("val_loss", 1, "dash", "validation"),
                                       ("accuracy", 2, "solid", "train"), ("val_accuracy", 2, "dash", "validation"),
                                       ("ema_val_accuracy", 2, "dashdot", "weight average (EMA), validation"),
                                       ("test_accuracy", 2, "longdash", "test (reported, never used to pick)"),
                                       ("ema_test_accuracy", 2, "longdashdot", "weight average (EMA), test")):
            values = col(key)
            if not any(v is not None for v in values):
                continue
            fig.add_trace(go.Scatter(
                x=epochs, y=values, mode="lines+markers" if len(epochs) < 3 else "lines",
                name=f"{label} · {what}", legendgroup=f"{label} · {what}", showlegend=panel == 1 or key in ("ema_val_accuracy", "test_accuracy", "ema_test_accuracy"),
                line=dict(color=color, dash=dash), hovertemplate=f"{label}<br>{what} {key}: %{{y:.4f}}<br>epoch %{{x}}<extra></extra>",
            ), row=1, col=panel)
        lr = col("lr")
        if any(v is not None for v in lr):
            fig.add_trace(go.Scatter(
                x=epochs, y=lr, mode="lines", name=f"{label} · learning rate", line=dict(color=color, dash="dot", width=1),
                opacity=0.7, hovertemplate=f"{label}<br>lr: %{{y:.3g}}<br>epoch %{{x}}<extra></extra>",
            ), row=1, col=1, secondary_y=True)
    last = max((r.get("epoch") or 0 for _, h, _ in series for r in h), default=1)
    fig.update_xaxes(title_text="epoch", dtick=epoch_tick_step(last), tick0=0)
    fig.update_yaxes(title_text="loss", row=1, col=1, secondary_y=False)
    # no title on the learning-rate axis: the panel's title names it, and a title there would meet the accuracy axis's
    fig.update_yaxes(row=1, col=1, secondary_y=True, showgrid=False, tickformat=".2~g", tickmode="auto", nticks=5,
                     rangemode="tozero")
    fig.update_yaxes(title_text="accuracy", row=1, col=2, tickformat=".0%")
    fig.update_layout(height=430, margin=dict(t=40, b=10), legend=charts.LEGEND_RIGHT)
    return fig


def confusion_figure(labels: list[str], cm: np.ndarray, normalise: bool, title: str = "") -> go.Figure:
    """Heatmap, true class per row and predicted per column: counts or row shares (hover shows both)."""
    cm = np.asarray(cm)
    shares = rs.row_normalise(cm)
    z = shares if normalise else cm
    text = [[f"{v:.0%}" if normalise else f"{int(v)}" for v in row] for row in z]
    custom = np.dstack([cm, shares])
    fig = go.Figure(go.Heatmap(
        z=z, x=labels, y=labels, text=text, texttemplate="%{text}", customdata=custom, colorscale="Blues",
        zmin=0, zmax=1 if normalise else None, colorbar=dict(tickformat=".0%" if normalise else None),
        hovertemplate="true %{y} → predicted %{x}<br>%{customdata[0]} images, %{customdata[1]:.1%} of the true class<extra></extra>",
    ))
    fig.update_xaxes(title_text="predicted", side="bottom")
    fig.update_yaxes(title_text="true", autorange="reversed")
    fig.update_layout(title=title or None, height=420 + 8 * max(0, len(labels) - 7), margin=dict(t=40 if title else 10, b=10))
    return fig


def per_class_figure(metrics: dict, title: str = "") -> go.Figure:
    """Precision, recall and F1 per class as grouped bars."""
    rows = run_text.per_class_rows(metrics)
    fig = go.Figure()
    for i, what in enumerate(("precision", "recall", "f1")):
        fig.add_trace(go.Bar(
            x=[r["class"] for r in rows], y=[r[what] for r in rows], name="F1" if what == "f1" else what,
            marker_color=PALETTE[i], customdata=[r["support"] for r in rows],
            hovertemplate=f"%{{x}}: {what} %{{y:.3f}}<br>support %{{customdata}}<extra></extra>",
        ))
    fig.update_layout(barmode="group", title=title or None, height=340, yaxis=dict(range=[0, 1], tickformat=".0%"),
                      margin=dict(t=60, b=10), legend=charts.LEGEND_RIGHT)
    return fig


def f1_comparison_figure(named: list[tuple[str, dict]]) -> go.Figure:
    """Per-class F1 of several runs side by side (classes in the first run's order, then any others)."""
    classes: list[str] = []
    for _, m in named:
        classes += [c for c in (m.get("per_class") or {}) if c not in classes]
    fig = go.Figure()
    for i, (name, m) in enumerate(named):
        pc = m.get("per_class") or {}
        fig.add_trace(go.Bar(x=classes, y=[(pc.get(c) or {}).get("f1") for c in classes], name=name,
                             marker_color=PALETTE[i % len(PALETTE)],
                             hovertemplate=f"{name}<br>%{{x}}: F1 %{{y:.3f}}<extra></extra>"))
    fig.update_layout(barmode="group", title="F1 per class", height=340, yaxis=dict(range=[0, 1], tickformat=".0%"),
                      margin=dict(t=60, b=10), legend=charts.LEGEND_RIGHT)
    return fig


# ---------------------------------------------------------------- evaluation data

def dataset_name_of(filename: str) -> str:
    name = Path(filename).name
    for suffix in (".csv.gz", ".csv", ".zip"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _folder_root(folder: Path) -> Path:
    """Descend through wrapper folders (``data.zip`` -> ``CK+48/`` -> class folders) to the class folders' parent."""
    root = folder
    while True:
        entries = [p for p in root.iterdir() if not p.name.startswith(".")]
        dirs = [p for p in entries if p.is_dir()]
        if len(dirs) == 1 and len(entries) == 1 and any(p.is_dir() for p in dirs[0].iterdir()):
            root = dirs[0]
        else:
            return root


def read_upload(filename: str, data: bytes, usage: str | None = None,
                size: int = 48) -> tuple[FaceDataset, np.ndarray | None]:
    """A FER2013-format CSV (``.csv``/``.csv.gz``) or a zip of class folders, read through a temporary folder
    that is deleted before returning: nothing uploaded stays on disk. With it, for a CSV's PublicTest or PrivateTest
    rows, which repeat one of its Training rows (``fer2013_training_copies``; None otherwise)."""
    name = Path(filename).name
    lower = name.lower()
    if not lower.endswith((".csv", ".csv.gz", ".zip")):
        raise ValueError(f"Expected a FER2013 .csv/.csv.gz file or a .zip of class folders. Received: {name!r}")
    with tempfile.TemporaryDirectory(prefix="fer_eval_") as tmp:
        tmp = Path(tmp)
        if lower.endswith(".zip"):
            try:
                archive = zipfile.ZipFile(io.BytesIO(data))
            except zipfile.BadZipFile:
                raise ValueError(f"{name} is not a valid zip file.") from None
            with archive:
                total = sum(i.file_size for i in archive.infolist())
                if total > MAX_UNZIPPED_BYTES:
                    raise ValueError(f"{name} would expand to {total / 1024**3:.1f} GB; the limit is "
                                     f"{MAX_UNZIPPED_BYTES / 1024**3:.0f} GB. Received: {len(archive.infolist())} files")
                archive.extractall(tmp / "data")  # zipfile drops absolute paths and '..' parts
            shutil.rmtree(tmp / "data" / "__MACOSX", ignore_errors=True)
            ds, copies = load_dataset(_folder_root(tmp / "data"), size=size), None
        else:
            path = tmp / (dataset_name_of(name) + (".csv.gz" if lower.endswith(".gz") else ".csv"))
            path.write_bytes(data)
            ds = load_dataset(path, usage=usage, size=size)
            copies = fer2013_training_copies(path, ds, usage) if len(ds) else None
    ds.source = name  # not the temporary path, which no longer exists
    return ds, copies


def evaluation_metadata(metrics: dict, filename: str, usage: str | None, s: rs.RunSummary) -> dict:
    """What the page adds to evaluate()'s metrics before writing them: where the data and the model came from."""
    return {**metrics, "dataset": Path(filename).name, "usage": usage, "model": s.run_id,
            "model_epoch": s.info.config.get("best_epoch"),
            "evaluated": datetime.now(timezone.utc).isoformat(timespec="seconds")}


# ---------------------------------------------------------------- panels

def show_empty(roots: list[Path]) -> None:
    searched = "\n".join(f"- `{r}`" for r in roots)
    st.info(
        "No training runs found yet. Train one from the repository folder, for example:\n\n"
        f"```bash\n{run_text.TRAIN_COMMAND}\n```\n"
        "It writes `config.json`, `history.csv` and the model after every epoch, so it shows here while it trains.\n\n"
        f"Searched:\n{searched}"
    )


def show_problems(summaries: list[rs.RunSummary], labels: dict[str, str], failed: list[tuple[Path, str]]) -> None:
    for path, message in failed:
        st.warning(f"**{path.name}** could not be read: {message}")
    for s in summaries:
        if s.problems:
            items = "\n".join(f"- {p}" for p in s.problems)
            st.warning(f"**{labels[str(s.path)]}** has missing or corrupt files; what could be read is shown.\n{items}")


def show_training_notes(summaries: list[rs.RunSummary], labels: dict[str, str]) -> None:
    for s in summaries:
        planned = f" of {s.epochs_planned}" if s.epochs_planned else ""
        if s.status == rs.TRAINING:
            st.info(f"**{labels[str(s.path)]}** is training: {s.epochs_done}{planned} epochs done. "
                    "Its curves so far are shown; metrics and the confusion matrix appear when it finishes.")
        elif s.status == rs.NOT_EVALUATED:
            st.info(f"**{labels[str(s.path)]}** is an ensemble not evaluated yet: evaluate it below, or with "
                    f"`python -m fer_core.ensemble --members ... --out {s.path} --data ... --usage PublicTest`.")
        elif s.status == rs.STOPPED:
            st.info(f"**{labels[str(s.path)]}** stopped after {s.epochs_done}{planned} epochs without finishing. "
                    f"Run the same `python -m fer_core.train ... --out {s.path}` command again to resume it.")


def ensemble_note(s: rs.RunSummary, label: str) -> str:
    """``X is an ensemble of A and B``: what an ensemble run is, instead of training curves."""
    names = [f"**{Path(m).name}**" for m in s.member_ids]
    members = (", ".join(names[:-1]) + " and " + names[-1]) if len(names) > 1 else (names[0] if names else "no members")
    cascade = s.info.config.get("cascade") if isinstance(s.info.config.get("cascade"), dict) else None
    how = (f"{names[0]} answers alone where its top probability is at least {cascade.get('threshold')}, the "
           "members' averaged probabilities elsewhere" if cascade and names else "it averages its members' probabilities")
    return (f"**{label}** is an ensemble of {members}, not trained itself: {how}. It has no training curves (pick "
            "the members to see theirs).")


def show_curves(picked: list[rs.RunSummary], labels: dict[str, str]) -> None:
    trained = [s for s in picked if not s.is_ensemble]
    series = [(labels[str(s.path)], s.info.history, s.status == rs.TRAINING) for s in trained if s.info.history]
    missing = [labels[str(s.path)] for s in trained if not s.info.history]
    if series:
        st.plotly_chart(curves_figure(series), key=f"{keys.RUNS_CHART}:curves")
    if missing:
        st.caption("No epochs recorded yet for: " + ", ".join(missing))
    for s in picked:
        if s.is_ensemble:
            st.info(ensemble_note(s, labels[str(s.path)]), icon=":material/join:")


def show_matrix(ev: rs.Evaluation, normalise: bool, title: str, key: str) -> None:
    if ev.matrix is None:
        st.caption(f"{title}: no confusion matrix.")
        return
    st.plotly_chart(confusion_figure(ev.labels, ev.matrix, normalise, title), key=key)


def _figure(value, spec: str) -> str:
    """A metric formatted, or a dash when the file lacks it (runs.load_run keeps only numbers there)."""
    return "—" if value is None else format(value, spec)


def show_evaluation(ev: rs.Evaluation, normalise: bool, key: str) -> None:
    """Headline figures, the confusion matrix, the most confused pairs and per-class bars of one evaluation."""
    for p in ev.problems:
        st.warning(p)
    m = ev.metrics or {}
    if m:
        tta = m.get("tta") if isinstance(m.get("tta"), dict) else None
        cols = st.columns(4)
        cols[0].metric("accuracy", _figure(m.get("accuracy"), ".1%"))
        cols[1].metric("macro-F1", _figure(m.get("macro_f1"), ".3f"))
        if tta:
            method = tta.get("method") or "flip"
            cols[2].metric(f"accuracy with {method} TTA", _figure(tta.get("accuracy"), ".1%"))
            cols[3].metric(f"macro-F1 with {method} TTA", _figure(tta.get("macro_f1"), ".3f"))
        unseen = m.get("unseen") if isinstance(m.get("unseen"), dict) else None
        if unseen:
            show_unseen(unseen)
    left, right = st.columns([3, 2])
    with left:
        show_matrix(ev, normalise, "Confusion matrix" + (" (row shares)" if normalise else " (counts)"), f"{key}:cm")
    with right:
        if ev.matrix is not None:
            pairs = run_text.most_confused(ev.labels, ev.matrix)
            st.markdown("**Most confused pairs**")
            if pairs:
                st.dataframe(pd.DataFrame(pairs), hide_index=True, key=f"{key}:pairs", column_config={
                    "share of true class": st.column_config.NumberColumn(format="percent")})
            else:
                st.caption("No confusions: every image was classified correctly.")
    if m.get("per_class"):
        st.plotly_chart(per_class_figure(m, "Precision, recall and F1 per class"), key=f"{key}:bars")


def show_unseen(unseen: dict) -> None:
    """The same figures without the test images that repeat a training image, and why they are left out."""
    copies, n = unseen.get("copies_left_out"), unseen.get("n")
    where = unseen.get("compared_with") or "the training data"
    st.caption(f"Without the {_figure(copies, ',')} images that are pixel-for-pixel copies of images in {where} "
               f"(a model can remember those rather than read the face): {_figure(n, ',')} images.")
    cols = st.columns(4)
    cols[0].metric("accuracy without copies", _figure(unseen.get("accuracy"), ".1%"))
    cols[1].metric("macro-F1 without copies", _figure(unseen.get("macro_f1"), ".3f"))
    tta = unseen.get("tta") if isinstance(unseen.get("tta"), dict) else None
    if tta:
        method = tta.get("method") or "flip"
        cols[2].metric(f"with {method} TTA, without copies", _figure(tta.get("accuracy"), ".1%"))
        cols[3].metric(f"macro-F1, {method} TTA, without copies", _figure(tta.get("macro_f1"), ".3f"))


def pick_evaluation(s: rs.RunSummary, evaluations: list[rs.Evaluation], label: str) -> rs.Evaluation | None:
    """The evaluation of ``s`` the user chose (a freshly written one is pre-selected once)."""
    if not evaluations:
        return None
    names = [e.name for e in evaluations]
    key = f"{keys.RUNS_EVAL_CHOICE}:{s.path}"
    fresh = st.session_state.get(keys.RUNS_EVAL_DONE, {}).pop(str(s.path), None)
    if fresh and fresh["name"] in names:
        st.session_state[key] = fresh["name"]
        st.success(f"Evaluation written to `{s.path / runs.EVALUATIONS / fresh['name']}` and shown below. {fresh['note']}")
    elif st.session_state.get(key) not in names:
        st.session_state[key] = names[0]
    captions = {e.name: run_text.evaluation_caption(e) for e in evaluations}
    choice = st.selectbox(f"Evaluation of {label}", names, key=key,
                          format_func=lambda n: f"{n} · {captions[n]}" if captions[n] else n)
    return evaluations[names.index(choice)]


def show_comparison(shown: list[tuple[str, rs.Evaluation | None]], normalise: bool) -> None:
    """Two runs' matrices side by side, and per-class F1 of every picked run with metrics."""
    with_matrix = [(label, ev) for label, ev in shown if ev is not None and ev.matrix is not None]
    if len(shown) == 2 and len(with_matrix) == 2:
        st.markdown("**Side by side**")
        for col, (label, ev) in zip(st.columns(2), with_matrix):
            with col:
                title = f"{label} · {ev.name}" if ev.name != rs.OWN_EVALUATION else label
                show_matrix(ev, normalise, title, f"{keys.RUNS_CHART}:side:{label}")
                st.caption(run_text.evaluation_caption(ev))
    with_metrics = [(label, ev.metrics) for label, ev in shown if ev is not None and (ev.metrics or {}).get("per_class")]
    if len(with_metrics) >= 2:
        st.plotly_chart(f1_comparison_figure(with_metrics), key=f"{keys.RUNS_CHART}:f1")


def show_files(s: rs.RunSummary) -> None:
    """The run's configuration and downloads of its files (an ensemble: its members instead of a model file)."""
    if s.is_ensemble:
        members = s.info.members
        rows = []
        for ref, d in zip(s.member_ids, members):
            rows.append({"member": ref, "folder": str(d),
                         "model": "found" if runs.has_model(d) else ("missing" if d.is_dir() else "folder not found")})
        if rows:
            st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"{keys.RUNS_CHART}:members:{s.path}")
    cols = st.columns(4)
    for col, (name, mime) in zip(cols, ((runs.HISTORY, "text/csv"), (runs.METRICS, "application/json"),
                                        (runs.CONFUSION, "text/csv"), (runs.MODEL, "application/octet-stream"))):
        path = s.path / name
        with col:
            if path.is_file():
                size = path.stat().st_size
                st.download_button(f"{name} ({size / 1024**2:.1f} MB)" if size > 1024**2 else name,
                                   data=lambda p=path: p.read_bytes(), file_name=f"{s.run_id}_{name}", mime=mime,
                                   key=f"{keys.RUNS_DOWNLOAD}:{s.path}:{name}", icon=":material/download:")
            elif s.is_ensemble and name in (runs.HISTORY, runs.MODEL):
                st.caption(f"{name}: none (an ensemble: {'its members hold the models' if name == runs.MODEL else 'not trained'})")
            elif s.is_ensemble:
                st.caption(f"{name}: not evaluated yet")
            else:
                st.caption(f"{name}: not written yet" if s.in_progress else f"{name}: missing")
    if s.info.config:
        with st.expander("Configuration (config.json)"):
            st.json(s.info.config, expanded=1)


def classifier_for(s: rs.RunSummary) -> Classifier:
    """The run's model: cached when the run is finished; read afresh while training, since it improves each epoch."""
    members_training = s.is_ensemble and any((m / runs.CHECKPOINT).exists() for m in s.info.members)
    return load_classifier(s.path) if s.in_progress or members_training else cached_classifier(str(s.path))


def evaluate_panel(s: rs.RunSummary, label: str) -> None:
    """Upload a dataset, evaluate the run's model on it with a progress bar, write evaluations/<name>/."""
    st.markdown("**Evaluate this model on your data**")
    if not s.info.has_model:
        st.caption(f"{label} has a member without {runs.MODEL}: nothing to evaluate." if s.is_ensemble
                   else f"{label} has no {runs.MODEL} yet: nothing to evaluate.")
        return
    base = f"{s.path}"
    upload = st.file_uploader(
        "A FER2013-format CSV (emotion,pixels[,Usage]; .csv or .csv.gz) or a .zip of class folders (happy/*.png, ...)",
        type=UPLOAD_TYPES, key=f"{keys.RUNS_EVAL_UPLOAD}:{base}")
    left, right = st.columns(2)
    usage = left.selectbox("FER2013 rows to use (CSV only)", USAGE_CHOICES, key=f"{keys.RUNS_EVAL_USAGE}:{base}")
    tta = right.selectbox("Also report test-time augmentation", TTA_CHOICES, key=f"{keys.RUNS_EVAL_TTA}:{base}",
                          format_func=TTA_CHOICES.get,
                          help="flip: each face and its mirror image; crops: flip x 5 shifted views (10x the time)")
    if s.in_progress:
        st.caption(f"The run is still training: this evaluates its best model so far (epoch {s.info.config.get('best_epoch', '?')}).")
    if st.button("Evaluate", key=f"{keys.RUNS_EVAL_START}:{base}", disabled=upload is None, type="primary"):
        run_evaluation(s, label, upload.name, upload.getvalue(), None if usage == USAGE_CHOICES[0] else usage, tta)


def run_evaluation(s: rs.RunSummary, label: str, filename: str, data: bytes, usage: str | None,
                   tta: bool | str) -> None:
    """Evaluate, write the result next to the run and rerun so it shows (pre-selected) at once."""
    bar = st.progress(0.0, text="Loading the model…")
    try:
        clf = classifier_for(s)
        bar.progress(0.0, text=f"Reading {filename} (and, for test rows, its Training rows, to find copies)…")
        ds, copies = read_upload(filename, data, usage, size=clf.input_shape[0])
        if len(ds) == 0:
            bar.empty()
            st.error(f"{filename} has no rows with Usage {usage}. Received: 0 images; choose another Usage.")
            return
        metrics, cm = evaluate(clf, ds, tta=tta, copies=copies, progress=lambda f: bar.progress(
            f, text=f"Evaluating {label} on {len(ds)} images of {filename}: {f:.0%}"))
        out = runs.new_evaluation_dir(s.path, dataset_name_of(filename) + (f"-{usage}" if usage else ""))
        write_evaluation(out, evaluation_metadata(metrics, filename, usage, s), cm)
    except (ModelLoadError, ValueError, OSError) as e:  # DatasetError is a ValueError
        bar.empty()
        st.error(f"Could not evaluate {label} on {filename}: {e}")
        return
    skipped = len(ds) - metrics["n"]
    note = (f"{skipped} of {len(ds)} images were skipped: their classes are not among the model's "
            f"({', '.join(clf.labels)})." if skipped else "")
    st.session_state.setdefault(keys.RUNS_EVAL_DONE, {})[str(s.path)] = {"name": out.name, "note": note}
    st.rerun()


# ---------------------------------------------------------------- the page

def render_page() -> None:
    """The Training runs page: where runs are (sidebar), the runs table, then the picked runs' curves, confusion
    matrices, per-class scores, files and the evaluation panel."""
    use_app_navigation()
    st.set_page_config(page_title="Training runs", page_icon=":material/monitoring:", layout="wide")
    st.title("Training runs")
    st.caption("Runs written by `python -m fer_core.train` under `models/runs/` (and any folder added in the sidebar): "
               "compare them, inspect their errors, and score a model on your own labelled faces.")
    with st.sidebar:
        extra = st.text_input("Extra runs folders", key=keys.RUNS_EXTRA_DIRS, placeholder="/path/to/runs",
                              help=f"Folders holding run folders (or a run folder itself), separated by "
                                   f"'{os.pathsep}'. The environment variable {rs.ENV_RUNS_DIRS} adds folders the "
                                   "same way.")
        env = os.environ.get(rs.ENV_RUNS_DIRS)
        if env:
            st.caption(f"Also from ${rs.ENV_RUNS_DIRS}: `{env}`")
        if st.button("Reload", icon=":material/refresh:",
                     help="Read the run folders again (training runs update every epoch)"):
            st.rerun()

    roots = rs.runs_roots(extra, env)
    for root in roots[1:]:
        if not root.is_dir():
            st.sidebar.warning(f"Folder not found: `{root}`")
    summaries, failed = rs.summarize_all(rs.collect_run_dirs(roots))
    if not summaries:
        show_problems([], {}, failed)
        show_empty(roots)
        st.stop()

    labels = rs.run_labels([s.path for s in summaries])
    by_path = {str(s.path): s for s in summaries}
    show_problems(summaries, labels, failed)
    show_training_notes(summaries, labels)
    st.dataframe(runs_dataframe([run_text.table_row(s, labels[str(s.path)]) for s in summaries]),
                 hide_index=True, column_config=runs_column_config(), placeholder="–")

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
    show_curves(chosen, labels)

    st.subheader("Confusion matrices and per-class scores")
    normalise = st.toggle("Row-normalised (share of each true class)", key=keys.RUNS_NORMALISE)
    comparison = st.container()
    tabs = st.tabs([labels[p] for p in picked]) if len(chosen) > 1 else [st.container()]
    shown = []
    for s, tab in zip(chosen, tabs):
        label = labels[str(s.path)]
        with tab:
            ev = pick_evaluation(s, rs.run_evaluations(s), label)
            if ev is None:
                st.info(f"No metrics yet: {label} is still training; they appear when it finishes." if s.in_progress
                        else f"{label} has no readable metrics.json or confusion_matrix.csv.")
            else:
                show_evaluation(ev, normalise, key=f"{keys.RUNS_CHART}:{s.path}")
            shown.append((label, ev))
            st.markdown("**Files**")
            show_files(s)
            evaluate_panel(s, label)
    with comparison:
        show_comparison(shown, normalise)
