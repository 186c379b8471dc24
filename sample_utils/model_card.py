"""The active model's card on the home page: name, architecture, training data, PublicTest accuracy, labels, size, device."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from fer_core import runs

PUBLIC_TEST = "PublicTest"


@st.cache_resource(show_spinner=False)
def cached_device() -> str:
    """``fer_core.device.describe_device()`` once per server (it imports TensorFlow)."""
    from fer_core.device import describe_device

    return describe_device()


def _dataset_text(config: dict) -> str:
    ds = config.get("dataset") or {}
    train = ds.get("train") or {}
    source = Path(str(train.get("source") or ds.get("path") or "")).name or "unknown"
    parts = [f"{source}"]
    if train.get("split"):
        parts.append(f"{train['split']} split")
    if train.get("n"):
        parts.append(f"{int(train['n']):,} faces")
    val = ds.get("validation") or {}
    text = ", ".join(parts)
    if val.get("split") and val.get("n"):
        text += f"; validated on {val['split']} ({int(val['n']):,} faces)"
    return text


def _metrics_candidates(run_dir: Path) -> list[dict]:
    found = []
    for path in [run_dir / runs.METRICS, *sorted((run_dir / runs.EVALUATIONS).glob(f"*/{runs.METRICS}"))]:
        try:
            found.append(runs.read_json(path))
        except (runs.RunError, OSError):
            continue
    return found


def accuracy_text(run_dir: Path | None, config: dict) -> str:
    """PublicTest accuracy from the run's metrics.json (or an evaluation); while training, the best validation epoch."""
    if run_dir is None:
        return "unknown (no run folder)"
    metrics = _metrics_candidates(run_dir)
    for m in metrics:
        if m.get("split") == PUBLIC_TEST and m.get("accuracy") is not None:
            text = f"**{100 * m['accuracy']:.1f}%** on {PUBLIC_TEST} ({int(m.get('n', 0)):,} faces)"
            if m.get("macro_f1") is not None:
                text += f", macro-F1 {m['macro_f1']:.3f}"
            tta = m.get("tta") or {}
            if tta.get("accuracy") is not None:
                text += f"; with flip TTA {100 * tta['accuracy']:.1f}%"
            return text
    if metrics and metrics[0].get("accuracy") is not None:
        m = metrics[0]
        return (f"not evaluated on {PUBLIC_TEST}; **{100 * m['accuracy']:.1f}%** on {m.get('split', '?')} of "
                f"{Path(str(m.get('dataset', '?'))).name} ({int(m.get('n', 0)):,} faces)")
    val_split = ((config.get("dataset") or {}).get("validation") or {}).get("split")
    try:
        history = runs.read_history(run_dir)
    except runs.RunError:
        history = []
    scored = [r for r in history if r.get("val_accuracy") is not None]
    if scored:
        best = max(scored, key=lambda r: r["val_accuracy"])
        return (f"no metrics.json yet (training in progress?): best validation accuracy so far "
                f"**{100 * best['val_accuracy']:.1f}%** on {val_split or 'the validation split'} "
                f"(epoch {int(best['epoch'])} of {len(history)})")
    return "not evaluated yet"


def show_model_card(classifier, run_dir: Path | None) -> None:
    """Render the card of ``classifier`` (loaded from ``run_dir``)."""
    config = classifier.config or {}
    arch = config.get("architecture") or classifier.model.name
    desc = config.get("architecture_description")
    h, w, c = classifier.input_shape
    rows = [
        ("Name", f"`{classifier.name}`"),
        ("Architecture", f"{arch} — {desc}" if desc else arch),
        ("Input", f"{h}x{w} {'grey' if c == 1 else 'colour'} face crop"),
        ("Training data", _dataset_text(config) if config else "unknown (no config.json)"),
        ("PublicTest accuracy", accuracy_text(run_dir, config)),
        ("Labels", ", ".join(classifier.labels)),
        ("Parameters", f"{classifier.n_params:,}"),
        ("Runs on", cached_device()),
    ]
    st.markdown("\n".join(f"- **{k}:** {v}" for k, v in rows))
