"""The architecture registry (timm-style): ``register_model`` / ``create_model`` / ``list_models`` / ``get_spec``, each
architecture with its native input shape and the training recipe it came with.

The architectures themselves live in the modules beside this one (``fer_vgg``, ``article_cnns``, ``clip_models``),
which register on import; the package's ``__init__`` imports them all, so this module imports none of them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import keras

Builder = Callable[[tuple[int, int, int], int], keras.Model]


@dataclass(frozen=True)
class ModelSpec:
    """A registered architecture: its builder, its native input shape and the training recipe it came with."""

    name: str
    builder: Builder
    input_shape: tuple[int, int, int]
    description: str
    recipe: dict = field(default_factory=dict)


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(name: str, input_shape: tuple[int, int, int], description: str, **recipe) -> Callable[[Builder], Builder]:
    """Decorator registering ``builder(input_shape, n_classes) -> keras.Model`` under ``name``."""

    def wrap(fn: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"Model name already registered. Received: name={name!r}")
        _REGISTRY[name] = ModelSpec(name, fn, tuple(input_shape), description, dict(recipe))
        return fn

    return wrap


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    if name not in _REGISTRY:
        raise ValueError(f"Unknown architecture. Expected one of {list_models()}. Received: name={name!r}")
    return _REGISTRY[name]


def create_model(name: str, n_classes: int, input_shape: tuple[int, int, int] | None = None) -> keras.Model:
    """Build architecture ``name`` for ``n_classes`` outputs (softmax); ``input_shape`` defaults to the recipe's."""
    spec = get_spec(name)
    shape = tuple(input_shape) if input_shape else spec.input_shape
    if spec.recipe.get("kind") == "clip":
        if len(shape) != 4 or shape[3] not in (1, 3):
            raise ValueError(f"A clip model's input_shape must be (T, H, W, 1) or (T, H, W, 3). Received: input_shape={shape}")
    elif len(shape) != 3 or shape[2] not in (1, 3):
        raise ValueError(f"input_shape must be (H, W, 1) or (H, W, 3). Received: input_shape={shape}")
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2. Received: n_classes={n_classes}")
    model = spec.builder(shape, n_classes)
    model.name = name if model.name in ("", None) else model.name
    return model
