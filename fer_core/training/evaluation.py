"""Metrics of a classifier on a labelled dataset: accuracy, macro-F1, per-class P/R/F1 and the confusion matrix."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np

from .. import runs
from .data import FaceDataset

log = logging.getLogger(__name__)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return cm


def metrics_from_confusion(cm: np.ndarray, labels: tuple[str, ...] | list[str]) -> dict:
    """Accuracy, macro-F1 and per-class precision/recall/F1/support from a confusion matrix."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = support > 0
    total = cm.sum()
    return {
        "n": int(total),
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(labels, precision, recall, f1, support)
        },
    }


def align_labels(ds: FaceDataset, labels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ``ds`` rows whose class the model knows, and their labels in the model's output order."""
    lookup = np.array([labels.index(n) if n in labels else -1 for n in ds.label_names], dtype=np.int64)
    y = lookup[ds.labels] if len(ds) else ds.labels
    keep = np.flatnonzero(y >= 0)
    if len(keep) < len(ds):
        unknown = sorted(set(ds.label_names) - set(labels))
        log.warning("Skipped %d images of classes the model does not know: %s", len(ds) - len(keep), unknown)
    return keep, y[keep]


def evaluate(classifier, ds: FaceDataset, tta: bool | str = False, batch_size: int = 512,
             progress: Callable[[float], None] | None = None, copies: np.ndarray | None = None,
             compared_with: str = "Training") -> tuple[dict, np.ndarray]:
    """Score ``classifier`` on ``ds``; returns (metrics, confusion matrix) of the plain crops, with
    ``metrics["tta"]`` holding the figures under test-time augmentation ``tta`` (True/"flip" or "crops"; its
    ``method`` names the mode) unless it is False/"none". One pass: the plain view is the first TTA view.
    ``copies`` (a mask over ``ds``: images that repeat one of ``compared_with``, see ``data.copies_of``) adds
    ``metrics["unseen"]``: the same figures on the other images only."""
    from ..inference.classifier import tta_mode

    mode = tta_mode(tta)
    labels = tuple(classifier.labels)
    keep, y = align_labels(ds, labels)
    if len(keep) == 0:
        raise ValueError(f"No image of the dataset has a class the model knows. Received: dataset labels={list(ds.label_names)}, model labels={list(labels)}")
    if copies is not None and len(copies) != len(ds):
        raise ValueError(f"The copies mask must have one entry per image. Received: {len(copies)} for {len(ds)} images")
    images = ds.images[keep]
    plain, augmented = [], []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        views = classifier.predict_views(batch, tta=mode)
        plain.append(views[0])
        if mode != "none":
            mean = views.mean(axis=0)
            augmented.append(mean / mean.sum(axis=1, keepdims=True))
        if progress:
            progress(min(1.0, (start + len(batch)) / len(images)))
    predicted = np.concatenate(plain).argmax(1)
    predicted_tta = np.concatenate(augmented).argmax(1) if mode != "none" else None
    metrics, cm = _scores(y, predicted, predicted_tta, mode, labels)
    metrics = {"dataset": ds.source, "split": ds.split, "labels": list(labels), **metrics}
    if getattr(classifier, "backend", None):
        metrics["backend"] = classifier.backend
    if copies is not None:
        fresh = ~np.asarray(copies, dtype=bool)[keep]
        if fresh.any():
            unseen, _ = _scores(y[fresh], predicted[fresh], None if predicted_tta is None else predicted_tta[fresh],
                                mode, labels)
            metrics["unseen"] = {"compared_with": compared_with, "copies_left_out": int((~fresh).sum()), **unseen}
    return metrics, cm


def _scores(y: np.ndarray, predicted: np.ndarray, predicted_tta: np.ndarray | None, mode: str,
            labels: tuple[str, ...]) -> tuple[dict, np.ndarray]:
    """Metrics (with a ``tta`` block when ``predicted_tta`` is given) and the plain confusion matrix."""
    cm = confusion_matrix(y, predicted, len(labels))
    metrics = metrics_from_confusion(cm, labels)
    if predicted_tta is not None:
        metrics["tta"] = {"method": mode, **metrics_from_confusion(confusion_matrix(y, predicted_tta, len(labels)), labels)}
    return metrics, cm


def write_evaluation(out_dir: str | Path, metrics: dict, cm: np.ndarray) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs.write_json(out / runs.METRICS, metrics)
    runs.write_confusion(out / runs.CONFUSION, metrics["labels"], cm)
    return out


def format_table(metrics: dict) -> str:
    """A per-class text table (precision, recall, F1, support) with the totals underneath."""
    lines = [f"{'class':<12}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}"]
    for name, m in metrics["per_class"].items():
        lines.append(f"{name:<12}{m['precision']:>10.3f}{m['recall']:>10.3f}{m['f1']:>10.3f}{m['support']:>9d}")
    lines.append(f"accuracy {metrics['accuracy']:.4f}   macro-F1 {metrics['macro_f1']:.4f}   n={metrics['n']}")
    if "tta" in metrics:
        lines.append(f"with {metrics['tta'].get('method', 'flip')} TTA: accuracy {metrics['tta']['accuracy']:.4f}   macro-F1 {metrics['tta']['macro_f1']:.4f}")
    unseen = metrics.get("unseen")
    if unseen and not unseen["copies_left_out"]:
        lines.append(f"none of the {unseen['n']} images is a pixel-for-pixel copy of an image in {unseen['compared_with']}")
    elif unseen:
        lines.append(f"on the {unseen['n']} images with no pixel-for-pixel copy in {unseen['compared_with']} "
                     f"({unseen['copies_left_out']} copies left out): accuracy {unseen['accuracy']:.4f}   "
                     f"macro-F1 {unseen['macro_f1']:.4f}")
        if "tta" in unseen:
            lines.append(f"  with {unseen['tta'].get('method', 'flip')} TTA: accuracy {unseen['tta']['accuracy']:.4f}   "
                         f"macro-F1 {unseen['tta']['macro_f1']:.4f}")
    return "\n".join(lines)
