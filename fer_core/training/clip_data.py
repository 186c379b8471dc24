"""Face clips (short sequences of face crops) for training: the CK+48 clip dataset and subject-wise folds (the clip
classifier that runs a trained clip model is ``fer_core.live.clips``).

CK+48 keeps the last 3 frames of each posed sequence as ``<emotion>/S<subject>_<sequence>_<frame>.png``; the
frames of one sequence form one clip ``(T, 48, 48)`` labelled by its folder, and the subject id is kept so that
folds never put the same person on both sides.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .data import IMAGE_SUFFIXES, DatasetError, read_gray
from ..labels import canonical_label

log = logging.getLogger(__name__)

CLIP_FRAMES = 3
FRAME_NAME = re.compile(r"^(S\d+)_(\d+)_(\d+)$", re.IGNORECASE)
# The CK+48 article's 5 classes (in its order) and all 7 CK+48 folders, as canonical label names.
CLASS_SETS: dict[str, tuple[str, ...]] = {
    "5": ("happy", "surprise", "angry", "sad", "fear"),
    "7": ("angry", "contempt", "disgust", "fear", "happy", "sad", "surprise"),
}


@dataclass
class ClipDataset:
    """Clips uint8 ``(N, T, H, W)`` with integer labels indexing ``label_names``, and each clip's subject."""

    clips: np.ndarray
    labels: np.ndarray
    label_names: tuple[str, ...]
    subjects: np.ndarray
    sequences: np.ndarray  # "S010_006" per clip
    source: str = ""

    def __post_init__(self) -> None:
        if self.clips.ndim != 4 or self.clips.dtype != np.uint8:
            raise DatasetError(f"Clips must be uint8 of shape (N, T, H, W). Received: shape={self.clips.shape}, dtype={self.clips.dtype}")
        if not len(self.clips) == len(self.labels) == len(self.subjects) == len(self.sequences):
            raise DatasetError(f"Clips, labels, subjects and sequences differ in length. Received: "
                               f"{len(self.clips)}, {len(self.labels)}, {len(self.subjects)}, {len(self.sequences)}")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> "ClipDataset":
        return ClipDataset(self.clips[index], self.labels[index], self.label_names, self.subjects[index],
                           self.sequences[index], self.source)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.label_names))
        return {name: int(c) for name, c in zip(self.label_names, counts)}

    def describe(self) -> dict:
        return {"source": self.source, "n_clips": len(self), "n_subjects": int(len(np.unique(self.subjects))),
                "labels": list(self.label_names), "class_counts": self.class_counts(),
                "clip_shape": list(self.clips.shape[1:])}


def resolve_classes(classes: int | str | Sequence[str] | None) -> tuple[str, ...]:
    """5 / "5" -> the article's 5 classes, 7 / "7" / None -> all 7, a list of names -> those (canonical) names."""
    if classes is None:
        return CLASS_SETS["7"]
    if isinstance(classes, (int, str)) and str(classes).strip() in CLASS_SETS:
        return CLASS_SETS[str(classes).strip()]
    if isinstance(classes, str):
        classes = [c for c in classes.split(",") if c.strip()]
    if isinstance(classes, int) or not classes:
        raise ValueError(f"classes must be 5, 7 or a list of class names. Received: classes={classes!r}")
    names = tuple(canonical_label(c) for c in classes)
    if len(set(names)) != len(names):
        raise ValueError(f"Class list has duplicates. Received: classes={list(classes)}")
    return names


def parse_frame_name(name: str) -> tuple[str, str, int]:
    """``S010_006_00000013.png`` -> ("S010", "006", 13); anything else raises DatasetError."""
    m = FRAME_NAME.match(Path(name).stem)
    if not m:
        raise DatasetError(f"Expected a frame named S<subject>_<sequence>_<frame>.png. Received: name={name!r}")
    return m.group(1).upper(), m.group(2), int(m.group(3))


def load_clip_folder(root: str | os.PathLike, classes: int | str | Sequence[str] | None = 5,
                     frames: int = CLIP_FRAMES, size: int = 48) -> ClipDataset:
    """Read ``root/<emotion>/S*_*_*.png`` into clips of the last ``frames`` frames of each sequence.

    Folder names are mapped to our label names (``anger`` -> ``angry``, ``sadness`` -> ``sad``); only
    ``classes`` are read, in that order. A sequence with fewer than ``frames`` frames is an error.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Clip folder not found. Received: path={str(root)!r}")
    if frames < 1:
        raise ValueError(f"frames must be at least 1. Received: frames={frames}")
    wanted = resolve_classes(classes)
    folders = {canonical_label(d.name): d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")}
    missing = [c for c in wanted if c not in folders]
    if missing:
        raise DatasetError(f"{root}: no folder for classes {missing}. Received: folders={sorted(d.name for d in folders.values())}")
    clips, labels, subjects, sequences = [], [], [], []
    for label, name in enumerate(wanted):
        folder = folders[name]
        by_seq: dict[tuple[str, str], list[tuple[int, Path]]] = {}
        skipped = 0
        for p in sorted(folder.iterdir()):
            if not p.is_file() or p.name.startswith("."):
                continue
            if p.suffix.lower() not in IMAGE_SUFFIXES:
                skipped += 1
                continue
            subject, seq, frame = parse_frame_name(p.name)
            by_seq.setdefault((subject, seq), []).append((frame, p))
        if skipped:
            log.warning("%s: skipped %d files that are not images", folder, skipped)
        if not by_seq:
            raise DatasetError(f"{folder}: class folder holds no frames named S<subject>_<sequence>_<frame>.png.")
        for (subject, seq), items in sorted(by_seq.items()):
            if len(items) < frames:
                raise DatasetError(f"{folder}: sequence {subject}_{seq} has {len(items)} frames, expected at least {frames}.")
            items = sorted(items)[-frames:]
            clips.append(np.stack([read_gray(p, size) for _, p in items]))
            labels.append(label)
            subjects.append(subject)
            sequences.append(f"{subject}_{seq}")
    ds = ClipDataset(np.stack(clips), np.asarray(labels, dtype=np.int64), wanted, np.asarray(subjects),
                     np.asarray(sequences), str(root))
    log.info("Loaded %d clips of %d subjects in %d classes from %s", len(ds), len(np.unique(ds.subjects)), len(wanted), root)
    return ds


def subject_folds(subjects: np.ndarray, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train_index, test_index) pairs where every subject is in exactly one test fold, never on both sides.

    Subjects are shuffled (seeded), then each is given to the fold holding the fewest clips so far, largest first.
    """
    subjects = np.asarray(subjects)
    uniq, counts = np.unique(subjects, return_counts=True)
    if not 2 <= k <= len(uniq):
        raise ValueError(f"k must be between 2 and the number of subjects ({len(uniq)}). Received: k={k}")
    order = np.random.default_rng(seed).permutation(len(uniq))
    order = order[np.argsort(-counts[order], kind="stable")]
    load = np.zeros(k, dtype=np.int64)
    fold_of: dict = {}
    for i in order:
        f = int(np.argmin(load))
        fold_of[uniq[i]] = f
        load[f] += counts[i]
    assign = np.array([fold_of[s] for s in subjects])
    return [(np.flatnonzero(assign != f), np.flatnonzero(assign == f)) for f in range(k)]
