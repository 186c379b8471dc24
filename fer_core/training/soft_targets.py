"""Training targets other than one-hot labels: FER+ annotator votes and a teacher's predictions (distillation),
each mixed with the original label at a given weight.

A row's target is ``(1 - w_f) * onehot + w_f * ferplus`` (rows FER+ has votes for; the others keep their one-hot
label), then ``(1 - w_t) * that + w_t * teacher``. The loss's label smoothing applies on top. Validation always uses
the original labels, so a run trained on FER+ is measured against the same PublicTest labels as any other.
"""
from __future__ import annotations

import logging

import numpy as np

from .data import MIXED_ROW, FaceDataset

log = logging.getLogger(__name__)


def _check_weight(name: str, w: float) -> None:
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"{name} must be in [0, 1]. Received: {name}={w}")


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    return np.eye(n_classes, dtype=np.float32)[labels]


def mix_ferplus(targets: np.ndarray, distributions: np.ndarray, valid: np.ndarray, weight: float) -> np.ndarray:
    """Blend FER+ vote shares into ``targets`` on the rows that have votes."""
    _check_weight("ferplus_weight", weight)
    if distributions.shape != targets.shape or valid.shape != targets.shape[:1]:
        raise ValueError(f"FER+ distributions must match the targets. Expected {targets.shape}. "
                         f"Received: shape={distributions.shape}, valid={valid.shape}")
    out = targets.copy()
    out[valid] = (1.0 - weight) * targets[valid] + weight * distributions[valid]
    return out


def mix_teacher(targets: np.ndarray, teacher_probs: np.ndarray, weight: float) -> np.ndarray:
    """Blend a teacher's probabilities into ``targets`` (knowledge distillation with soft targets)."""
    _check_weight("teacher_weight", weight)
    if teacher_probs.shape != targets.shape:
        raise ValueError(f"Teacher outputs must match the targets. Expected {targets.shape}. "
                         f"Received: shape={teacher_probs.shape}")
    return ((1.0 - weight) * targets + weight * teacher_probs).astype(np.float32)


def ferplus_targets(dataset: FaceDataset, votes_path: str, usage: str | None) -> tuple[np.ndarray, np.ndarray, dict]:
    """FER+ vote shares over ``dataset``'s labels, checked to line up with its rows (``FerPlusAlignmentError`` when
    they do not: training on shuffled soft labels is training on noise). Images mixed in from a folder (``--mix``)
    get no votes (``valid`` False): they keep their one-hot labels."""
    from .ferplus import FerPlusAlignmentError, check_alignment, load_ferplus

    if dataset.rows is not None and (dataset.rows == MIXED_ROW).any():  # images mixed in (--mix) have no votes
        own = np.flatnonzero(dataset.rows != MIXED_ROW)
        own_dist, own_valid, report = ferplus_targets(dataset.subset(own), votes_path, usage)
        dist = np.zeros((len(dataset), len(dataset.label_names)), own_dist.dtype)
        valid = np.zeros(len(dataset), bool)
        dist[own], valid[own] = own_dist, own_valid
        return dist, valid, report
    votes = load_ferplus(votes_path, usage)
    if dataset.rows is not None and len(votes) > len(dataset):  # a split or sample of the Usage's rows (holdout)
        if int(dataset.rows.max(initial=-1)) >= len(votes):
            raise FerPlusAlignmentError(f"The FER+ file has fewer rows than {dataset.source} ({dataset.split}). "
                                        f"Received: {len(votes)} rows of votes, row {int(dataset.rows.max())} wanted")
        votes = votes.take(dataset.rows)
    report = check_alignment(dataset, votes)
    dist, valid = votes.distributions(dataset.label_names)
    log.info("FER+ votes for %d of %d rows; majority = original label on %.1f%%", valid.sum(), len(dataset),
             100 * report["agreement"])
    return dist, valid, report


TEACHER_FILE_SUFFIX = ".teacher.npz"  # a teacher's probabilities saved with save_teacher_targets


def save_teacher_targets(teacher: str, dataset: FaceDataset, out: str, tta: str = "flip") -> str:
    """Save ``teacher``'s probabilities for ``dataset`` (with its labels and each image's mean grey level, to check the
    pairing), so that a machine without TensorFlow can distil it: ``--teacher OUT``."""
    if not str(out).endswith(TEACHER_FILE_SUFFIX):
        raise ValueError(f"The teacher file's name must end in {TEACHER_FILE_SUFFIX}. Received: out={out!r}")
    probs = teacher_targets(teacher, dataset, tta)
    np.savez(out, probs=probs.astype(np.float32), labels=dataset.labels.astype(np.int64),
             row_means=dataset.images.reshape(len(dataset), -1).mean(axis=1).astype(np.float32),
             label_names=np.array(dataset.label_names), teacher=np.str_(teacher), tta=np.str_(tta))
    return out


def load_teacher_targets(path: str, dataset: FaceDataset) -> np.ndarray:
    """Probabilities saved by ``save_teacher_targets``, checked to pair with ``dataset``'s rows (same labels, mean
    grey levels within 2: a re-encoded copy of the images still pairs)."""
    with np.load(path) as z:
        probs, labels, means, names = z["probs"], z["labels"], z["row_means"], [str(n) for n in z["label_names"]]
    row_means = dataset.images.reshape(len(dataset), -1).mean(axis=1)
    if (names != list(dataset.label_names) or len(labels) != len(dataset) or not np.array_equal(labels, dataset.labels)
            or np.abs(means - row_means).max() > 2.0):
        raise ValueError(f"{path} does not pair with the training rows. Expected {len(dataset)} rows labelled "
                         f"{list(dataset.label_names)}. Received: {len(labels)} rows labelled {names}")
    return probs


def teacher_targets(teacher: str, dataset: FaceDataset, tta: str = "flip") -> np.ndarray:
    """A teacher run's (or ensemble run's) probabilities for ``dataset``'s images, in ``dataset``'s label order; a
    ``.teacher.npz`` file holds them ready."""
    if str(teacher).endswith(TEACHER_FILE_SUFFIX):
        return load_teacher_targets(teacher, dataset)
    from ..inference.classifier import load_classifier

    clf = load_classifier(teacher)
    if list(clf.labels) != list(dataset.label_names):
        raise ValueError(f"The teacher's labels differ from the data's. Expected {list(dataset.label_names)}. "
                         f"Received: labels={list(clf.labels)} ({teacher})")
    return clf.predict_proba(dataset.images, tta=tta)


def build_targets(dataset: FaceDataset, ferplus: str | None = None, ferplus_weight: float = 0.5,
                  teacher: str | None = None, teacher_weight: float = 0.5, usage: str | None = None
                  ) -> tuple[np.ndarray, dict]:
    """The training targets ``(N, K)`` for ``dataset`` and what config.json records about them."""
    targets = one_hot(dataset.labels, len(dataset.label_names))
    info: dict = {}
    if ferplus:
        dist, valid, report = ferplus_targets(dataset, ferplus, usage)
        targets = mix_ferplus(targets, dist, valid, ferplus_weight)
        info["ferplus"] = {"path": str(ferplus), "weight": ferplus_weight, "rows_with_votes": int(valid.sum()),
                           "agreement_with_original": round(report["agreement"], 4)}
    if teacher:
        probs = teacher_targets(teacher, dataset)
        targets = mix_teacher(targets, probs, teacher_weight)
        acc = float(np.mean(probs.argmax(axis=1) == dataset.labels))
        info["teacher"] = {"path": str(teacher), "weight": teacher_weight, "tta": "flip",
                           "train_accuracy": round(acc, 4)}
    return targets.astype(np.float32), info
