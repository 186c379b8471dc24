"""What the Training runs page and the model card say about a run: its status, how it was trained, its row of the
runs table, where an evaluation's figures come from, and per-class and most-confused tables. Display text over the
data of ``fer_core.runs.summary``."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from fer_core.runs.summary import (Evaluation, RunSummary, best_val_accuracy, row_normalise, training_data_text,
                                   training_seconds)

PUBLIC_TEST = "PublicTest"


def selection_split(config: dict) -> str:
    """The split whose accuracy picked the kept epoch: ``selection_split`` (or ``selected_on``, or an ensemble's
    ``selection.split``) in config.json, else the validation split the run recorded, else PublicTest (what the FER2013
    runs before these fields used)."""
    picked = config.get("selection") if isinstance(config.get("selection"), dict) else {}
    named = config.get("selection_split") or config.get("selected_on") or picked.get("split")
    if isinstance(named, str) and named:
        return named
    if config.get("folds"):
        return "none: fixed epochs, scored on held-out folds"
    val = ((config.get("dataset") or {}).get("validation") or {}) if isinstance(config.get("dataset"), dict) else {}
    return str(val.get("split") or PUBLIC_TEST)


TRAIN_COMMAND = ("python -m fer_core.train --data ../shared/data/fer2013/fer2013.csv.gz "
                 "--arch fer_vgg --out models/runs/fer_vgg_my_run --epochs 30")


def started_from(config: dict) -> str | None:
    """The run a fine-tuned run started from, as ``fer_vgg_s0 (60 epochs)``; None for a run trained from scratch."""
    init = config.get("init_from")
    if not isinstance(init, dict):
        return None
    name = init.get("run_id") or Path(str(init.get("path") or "?")).name
    epochs = init.get("epochs_done")
    return f"{name} ({epochs} epochs)" if isinstance(epochs, int) else name


def training_text(config: dict) -> str:
    """How a run was trained, for the model card: epochs done (of planned), minutes, and what it was fine-tuned from
    (with that run's epochs, so the total training is visible)."""
    done, planned = config.get("epochs_done"), config.get("epochs_planned")
    parts = []
    if isinstance(done, int):
        parts.append(f"{done} epochs" + (f" of {planned}" if isinstance(planned, int) and planned != done else ""))
    secs = config.get("train_seconds")
    if isinstance(secs, (int, float)):
        parts.append(f"{secs / 60:.0f} min")
    if config.get("device"):
        parts.append(f"on {config['device']}")
    precision = precision_text(config)
    if precision:
        parts.append(precision)
    text = ", ".join(parts) or "unknown"
    origin = started_from(config)
    if origin:
        text += f"; fine-tuned from {origin}"
    return text


def precision_text(config: dict) -> str | None:
    """``bfloat16 compute from epoch 40``: how a run trained with ``--precision bfloat16`` (None for float32 only)."""
    hp = config.get("hyperparameters") or {}
    switches = [(r.get("after_epoch"), r["precision"]) for r in config.get("resumes") or []
                if isinstance(r, dict) and r.get("precision")]
    if not switches:
        return "bfloat16 compute" if hp.get("precision") == "bfloat16" else None
    first = "float32" if switches[0][1] == "bfloat16" else "bfloat16"
    steps = [f"{first} compute"] + [f"{p} from epoch {after + 1}" for after, p in switches if isinstance(after, int)]
    return ", ".join(steps)


def status_text(s: RunSummary) -> str:
    if s.in_progress:
        planned = s.epochs_planned
        return f"{s.status} {s.epochs_done}/{planned}" if planned else f"{s.status} {s.epochs_done}"
    return s.status


def ensemble_text(s: RunSummary) -> str:
    """``ensemble of fer_vgg_s0 + fer_vgg_s1``: an ensemble run's members by name."""
    return "ensemble of " + " + ".join(Path(m).name for m in s.member_ids) if s.member_ids else "ensemble (no members)"


def table_row(s: RunSummary, label: str | None = None) -> dict:
    """One row of the runs table (keys are the column headers); missing values are None."""
    cfg, m = s.info.config, s.info.metrics or {}
    tta = m.get("tta") if isinstance(m.get("tta"), dict) else {}
    secs = None if s.is_ensemble else training_seconds(s)
    labels = cfg.get("labels") or m.get("labels") or (s.info.confusion[0] if s.info.confusion else None)
    return {
        "run": label or s.run_id,
        "status": status_text(s),
        "dataset": training_data_text(cfg),
        "classes": len(labels) if labels else None,
        "architecture": ensemble_text(s) if s.is_ensemble else cfg.get("architecture"),
        "parameters": cfg.get("n_params"),
        "epochs": None if s.is_ensemble else s.epochs_done,
        "started from": None if s.is_ensemble else started_from(cfg),
        "best val acc": best_val_accuracy(s),
        "selected on": selection_split(cfg) if cfg else None,
        "test split": m.get("split"),
        "test acc": m.get("accuracy"),
        "test acc (no copies)": m["unseen"].get("accuracy") if isinstance(m.get("unseen"), dict) else None,
        "test acc (TTA)": tta.get("accuracy"),
        "macro-F1": m.get("macro_f1"),
        "macro-F1 (TTA)": tta.get("macro_f1"),
        "training time (min)": None if secs is None else round(secs / 60, 1),
        "device": cfg.get("device"),
        "issues": len(s.problems),
        "class names": ", ".join(labels) if labels else None,
        "folder": str(s.path),
    }


def evaluation_caption(ev: Evaluation) -> str:
    """``PublicTest of fer2013.csv.gz (n=3589)``: where the figures of an evaluation come from."""
    m = ev.metrics or {}
    source = Path(str(m["dataset"])).name if m.get("dataset") else ""
    text = " of ".join(str(p) for p in (m.get("split"), source) if p)
    if m.get("n") is not None:
        text += f" (n={m['n']})"
    return text.strip()


def most_confused(labels: list[str], cm: np.ndarray, k: int = 5) -> list[dict]:
    """The ``k`` largest off-diagonal cells: true class, predicted class, count and share of the true class."""
    cm = np.asarray(cm)
    shares = row_normalise(cm)
    cells = [(int(cm[i, j]), i, j) for i in range(len(labels)) for j in range(len(labels)) if i != j and cm[i, j] > 0]
    cells.sort(key=lambda c: (-c[0], -shares[c[1], c[2]], c[1], c[2]))
    return [{"true": labels[i], "predicted as": labels[j], "count": n, "share of true class": float(shares[i, j])}
            for n, i, j in cells[:k]]


def per_class_rows(metrics: dict) -> list[dict]:
    """Per-class precision, recall, F1 and support as rows (class order of the metrics)."""
    out = []
    for name, m in (metrics.get("per_class") or {}).items():
        if isinstance(m, dict):
            out.append({"class": name, **{k: m.get(k) for k in ("precision", "recall", "f1", "support")}})
    return out
