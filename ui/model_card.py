"""The active model's card on the home page: name, architecture, training data, the split that selected it, its
accuracy (and whether that is a selection or a test figure), labels, size, device."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from fer_core import runs
from fer_core.runs.summary import training_data_extras

from . import model_cache, run_text
from .run_text import PUBLIC_TEST, selection_split

TTA_TEXT = {"none": "none", "flip": "flip (each face and its mirror image averaged)",
            "crops": "crops (flip x 5 shifted views averaged)"}


def _dataset_text(config: dict) -> str:
    ds = config.get("dataset") or {}
    train = ds.get("train") or {}
    source = Path(str(train.get("source") or ds.get("path") or "")).name or "unknown"
    parts = [f"{source}"]
    if train.get("split"):
        parts.append(f"{train['split']} split")
    if train.get("n"):
        parts.append(f"{int(train['n']):,} faces")
    return " + ".join([", ".join(parts), *training_data_extras(config)])


def selection_text(config: dict) -> str:
    """Which split picked the model, for the card."""
    split = selection_split(config)
    val = ((config.get("dataset") or {}).get("validation") or {}) if isinstance(config.get("dataset"), dict) else {}
    size = f" ({int(val['n']):,} faces)" if val.get("split") == split and isinstance(val.get("n"), int) else ""
    what = (config.get("selection") or {}).get("what") if isinstance(config.get("selection"), dict) else None
    what = what if isinstance(what, str) and what else None
    if runs.is_ensemble(config):
        mix = config.get("best_val_accuracy")
        picked = (f"; the members are {what or f'the mix with the best {split} accuracy'}; the ensemble scores "
                  f"{100 * mix:.1f}% on it" if isinstance(mix, (int, float)) and 0 <= mix <= 1 else "")
        return f"{split}{size}: each member kept its epoch of best {split} accuracy{picked}"
    if what:
        return f"{split}{size}: {what} was kept"
    return f"{split}{size}: the epoch with the best {split} accuracy was kept"


def _metrics_candidates(run_dir: Path) -> list[dict]:
    found = []
    for path in [run_dir / runs.METRICS, *sorted((run_dir / runs.EVALUATIONS).glob(f"*/{runs.METRICS}"))]:
        try:
            found.append(runs.read_json(path))
        except (runs.RunError, OSError):
            continue
    return found


def _figure_kind(split: str | None, selected_on: str) -> str:
    """Whether an accuracy on ``split`` is a selection figure (the split that picked the model) or a test figure."""
    if split == selected_on:
        return (f" — a selection figure: {selected_on} also picked the model, so this is optimistic, not an unbiased "
                "test figure")
    return f" — a test figure (the model was selected on {selected_on})"


def accuracy_text(run_dir: Path | None, config: dict) -> str:
    """PublicTest accuracy from the run's metrics.json (or an evaluation), said to be a selection figure when
    PublicTest also picked the model; while training, the best validation epoch."""
    if run_dir is None:
        return "unknown (no run folder)"
    selected_on = selection_split(config)
    metrics = _metrics_candidates(run_dir)
    for m in metrics:
        if m.get("split") == PUBLIC_TEST and m.get("accuracy") is not None:
            text = f"**{100 * m['accuracy']:.1f}%** on {PUBLIC_TEST} ({int(m.get('n', 0)):,} faces)"
            if m.get("macro_f1") is not None:
                text += f", macro-F1 {m['macro_f1']:.3f}"
            tta = m.get("tta") or {}
            if tta.get("accuracy") is not None:
                text += f"; with {tta.get('method') or 'flip'} TTA {100 * tta['accuracy']:.1f}%"
            unseen = m.get("unseen") if isinstance(m.get("unseen"), dict) else {}
            if isinstance(unseen.get("accuracy"), (int, float)) and isinstance(unseen.get("n"), int):
                text += (f"; **{100 * unseen['accuracy']:.1f}%** on the {unseen['n']:,} faces that are not "
                         f"pixel-for-pixel copies of {unseen.get('compared_with') or 'training'} images")
            return text + _figure_kind(PUBLIC_TEST, selected_on)
    if metrics and metrics[0].get("accuracy") is not None:
        m = metrics[0]
        return (f"not evaluated on {PUBLIC_TEST}; **{100 * m['accuracy']:.1f}%** on {m.get('split', '?')} of "
                f"{Path(str(m.get('dataset', '?'))).name} ({int(m.get('n', 0)):,} faces)"
                + _figure_kind(m.get("split"), selected_on))
    if runs.is_ensemble(config):
        return ("not evaluated yet (`python -m fer_core.ensemble --members ... --out "
                f"{run_dir} --data ... --usage {PUBLIC_TEST}` evaluates it)")
    val_split = ((config.get("dataset") or {}).get("validation") or {}).get("split")
    try:
        history = runs.read_history(run_dir)
    except runs.RunError:
        history = []
    best, epoch = config.get("best_val_accuracy"), config.get("best_epoch")
    if not (isinstance(best, (int, float)) and best >= 0 and isinstance(epoch, int)):  # runs without the fields
        scored = [(max(v for v in (r.get("val_accuracy"), r.get("ema_val_accuracy")) if v is not None), r["epoch"])
                  for r in history if r.get("val_accuracy") is not None or r.get("ema_val_accuracy") is not None]
        if not scored:
            return "not evaluated yet"
        best, epoch = max(scored)
    weights = ", averaged weights" if config.get("best_source") == "ema" else ""
    return (f"no metrics.json yet (training in progress?): best validation accuracy so far "
            f"**{100 * best:.1f}%** on {val_split or 'the validation split'} "
            f"(epoch {int(epoch)} of {len(history)}{weights})")


def member_configs(run_dir: Path | None, config: dict) -> list[tuple[str, dict]]:
    """An ensemble's members as (name, config.json or {} when unreadable); empty for a trained run."""
    if run_dir is None or not runs.is_ensemble(config):
        return []
    try:
        dirs = runs.ensemble_members(run_dir, config)
    except runs.RunError:
        return []
    out = []
    for d in dirs:
        try:
            out.append((d.name, runs.read_json(d / runs.CONFIG)))
        except (runs.RunError, OSError):
            out.append((d.name, {}))
    return out


def _members_data_text(members: list[tuple[str, dict]]) -> str:
    texts = [_dataset_text(c) if c else "unknown" for _, c in members]
    if len(set(texts)) == 1:
        return f"{texts[0]} (each member)"
    return "; ".join(f"{name}: {t}" for (name, _), t in zip(members, texts))


def ensemble_text(config: dict, names: list[str], archs: list[str]) -> str:
    """What an ensemble computes, for the card: a plain average, or a cascade (the first member alone where sure)."""
    listed = ", ".join(f"`{n}` ({a})" for n, a in zip(names, archs or ["?"] * len(names)))
    cascade = config.get("cascade") if isinstance(config.get("cascade"), dict) else None
    if cascade and names:
        return (f"cascade of {len(names)} runs: `{names[0]}` answers alone where its top probability is at least "
                f"{cascade.get('threshold')}; elsewhere the softmax outputs of all {len(names)} are averaged: {listed}")
    return f"ensemble of {len(names)} runs, their softmax outputs averaged: {listed}"


def show_model_card(classifier, run_dir: Path | None) -> None:
    """Render the card of ``classifier`` (loaded from ``run_dir``); an ensemble's card lists its members."""
    config = classifier.config or {}
    members = member_configs(run_dir, config)
    arch = config.get("architecture") or classifier.model.name
    desc = config.get("architecture_description")
    h, w, c = classifier.input_shape
    if runs.is_ensemble(config):
        names = [name for name, _ in members] or [str(m) for m in config.get("members") or []]
        archs = [mc.get("architecture") or "?" for _, mc in members]
        arch_text = ensemble_text(config, names, archs)
        data_text = _dataset_text(config) + " (each member)" if config.get("dataset") else (
            _members_data_text(members) if members else "unknown")
        params = f"{classifier.n_params:,} (sum of the {len(names)} members)"
    else:
        arch_text = f"{arch} — {desc}" if desc else arch
        data_text = _dataset_text(config) if config else "unknown (no config.json)"
        params = f"{classifier.n_params:,}"
    training = None if runs.is_ensemble(config) or not config else run_text.training_text(config)
    rows = [
        ("Name", f"`{classifier.name}`"),
        ("Architecture", arch_text),
        ("Input", f"{h}x{w} {'grey' if c == 1 else 'colour'} face crop"),
        ("Training data", data_text),
        *([("Training", training)] if training else []),
        *([("Model selected on", selection_text(config))] if config else []),
        ("Accuracy", accuracy_text(run_dir, config)),
        ("Labels", ", ".join(classifier.labels)),
        ("Parameters", params),
        ("Test-time augmentation", TTA_TEXT.get(getattr(classifier, "tta", "none"), "none")),
        ("Runs on", model_cache.cached_runtime(getattr(classifier, "backend", "tensorflow"))),
    ]
    st.markdown("\n".join(f"- **{k}:** {v}" for k, v in rows))
