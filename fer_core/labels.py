"""Emotion label names: FER2013's order and the aliases other datasets use for them."""
from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

# Folder datasets spell classes their own way (CK+ uses "anger", "sadness"); map them to ours.
ALIASES: dict[str, str] = {
    "anger": "angry",
    "sadness": "sad",
    "happiness": "happy",
    "surprised": "surprise",
    "fearful": "fear",
    "disgusted": "disgust",
}


def canonical_label(name: str) -> str:
    """Lower-case a class name and map known aliases (``anger`` -> ``angry``)."""
    key = name.strip().lower()
    return ALIASES.get(key, key)


def parse_label_list(text: str | None) -> tuple[str, ...] | None:
    """Parse ``"angry,happy,sad"`` into a tuple of canonical names; ``None``/empty means all."""
    if not text:
        return None
    names = tuple(canonical_label(t) for t in text.split(",") if t.strip())
    if len(set(names)) != len(names):
        raise ValueError(f"Class list has duplicates. Received: classes={text!r}")
    return names
