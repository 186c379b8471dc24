"""Architecture registry: ``register_model`` / ``create_model`` / ``list_models``, plus each recipe's training defaults."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import keras
from keras import layers

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


def _inputs(shape: tuple[int, int, int]):
    """Models take raw 0-255 pixels; scaling lives inside so callers never preprocess."""
    inp = keras.Input(shape=shape, name="pixels")
    return inp, layers.Rescaling(1.0 / 255.0)(inp)


def _conv_bn(x, filters: int, kernel=3, **kw):
    x = layers.Conv2D(filters, kernel, padding="same", use_bias=False, **kw)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def _fer_vgg_body(input_shape, n_classes, widths, name: str) -> keras.Model:
    """Random 40x40 crop, one conv block per entry of ``widths`` (each followed by a 2x2 max-pool), dense 256."""
    from .augmentation import FaceCrop

    inp, x = _inputs(input_shape)
    crop = min(input_shape[0], input_shape[1]) * 5 // 6
    x = FaceCrop(crop)(x)
    for i, block in enumerate(widths):
        for f in block:
            x = _conv_bn(x, f)
        x = layers.MaxPooling2D()(x)
        if i >= 2:
            x = layers.Dropout(0.1 * i)(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.4)(x)
    x = layers.Dense(256, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(0.4)(x)
    out = layers.Dense(n_classes, activation="softmax", dtype="float32")(x)
    return keras.Model(inp, out, name=name)


_FER_VGG_RECIPE = dict(optimizer="sgd", lr=0.04, schedule="cosine", warmup_epochs=2, batch_size=128,
                       label_smoothing=0.1, weight_decay=5e-4)


@register_model(
    "fer_vgg", (48, 48, 1),
    "Ours: random 40x40 crop (centre at inference), VGG-style conv+BN+ReLU blocks 32-64x2-128x2-256x2, dense 256.",
    augment="fer", **_FER_VGG_RECIPE,
)
def fer_vgg(input_shape, n_classes):
    return _fer_vgg_body(input_shape, n_classes, ((32,), (64, 64), (128, 128), (256, 256)), "fer_vgg")


@register_model(
    "fer_vgg_wide", (48, 48, 1),
    "Ours: fer_vgg at 1.5x width, blocks 48-96x2-192x2-384x2, dense 256 (3.0M parameters, about 2.2x the compute).",
    augment="light", **_FER_VGG_RECIPE,
)
def fer_vgg_wide(input_shape, n_classes):
    return _fer_vgg_body(input_shape, n_classes, ((48,), (96, 96), (192, 192), (384, 384)), "fer_vgg_wide")


@register_model(
    "fer4_cnn", (48, 48, 3),
    "Article recipe: Conv512-BN-Conv256-BN-Pool-Drop.5-Conv128-BN-Conv64-BN-Pool-Drop.5-Conv32-Pool-Drop.5-Dense (4 classes).",
    optimizer="adam", lr=1e-3, schedule="plateau", plateau_patience=8, plateau_factor=0.2, min_lr=1e-5,
    batch_size=64, label_smoothing=0.0, augment="rotate_zoom", weight_decay=0.0,
)
def fer4_cnn(input_shape, n_classes):
    inp, x = _inputs(input_shape)
    conv = lambda f: layers.Conv2D(f, 3, padding="same", activation="relu")
    x = conv(512)(x); x = layers.BatchNormalization()(x)
    x = conv(256)(x); x = layers.BatchNormalization()(x)
    x = layers.MaxPooling2D()(x); x = layers.Dropout(0.5)(x)
    x = conv(128)(x); x = layers.BatchNormalization()(x)
    x = conv(64)(x); x = layers.BatchNormalization()(x)
    x = layers.MaxPooling2D()(x); x = layers.Dropout(0.5)(x)
    x = conv(32)(x)
    x = layers.MaxPooling2D()(x); x = layers.Dropout(0.5)(x)
    x = layers.Flatten()(x)
    out = layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inp, out, name="fer4_cnn")


@register_model(
    "vgg7", (48, 48, 1),
    "Article recipe: VGG-style, 7 blocks of Conv+BN+ReLU(+pool)+Dropout, ~1.3M trainable parameters.",
    optimizer="adam", lr=1e-3, schedule="plateau", plateau_patience=5, plateau_factor=0.5, min_lr=1e-5,
    batch_size=64, label_smoothing=0.0, augment="vgg7", weight_decay=0.0,
)
def vgg7(input_shape, n_classes):
    inp, x = _inputs(input_shape)
    # (filters, pool after) for the 7 blocks; filters chosen for ~1.3M trainable parameters.
    for f, pool in ((32, False), (64, True), (64, False), (128, True), (128, False), (256, True), (256, True)):
        x = _conv_bn(x, f)
        if pool:
            x = layers.MaxPooling2D()(x)
        x = layers.Dropout(0.25 if pool else 0.1)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    out = layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inp, out, name="vgg7")


@register_model(
    "jaffe_cnn", (128, 128, 3),
    "Article recipe: Conv8-Pool-Conv16-Pool-Conv32v-Pool-Conv64v-Drop.25-Dense512-Drop.5 at 128x128 (JAFFE/CK+).",
    optimizer="adam", lr=1e-3, schedule="constant", batch_size=10, epochs=100, val_fraction=0.2,
    label_smoothing=0.0, augment="none", weight_decay=0.0,
)
def jaffe_cnn(input_shape, n_classes):
    inp, x = _inputs(input_shape)
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(x); x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(x); x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(32, 3, padding="valid", activation="relu")(x); x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, padding="valid", activation="relu")(x)
    x = layers.Dropout(0.25)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(512, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    out = layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inp, out, name="jaffe_cnn")


@register_model(
    "fer2013_cnn", (48, 48, 1),
    "Article recipe: Conv64 5x5-MaxPool5/2-Conv64-AvgPool3/2-Conv128-AvgPool3/2-Dense1024x2 (dropout .2).",
    optimizer="adam", lr=1e-3, schedule="constant", batch_size=128, label_smoothing=0.0, augment="none", weight_decay=0.0,
)
def fer2013_cnn(input_shape, n_classes):
    inp, x = _inputs(input_shape)
    x = layers.Conv2D(64, 5, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(5, strides=2, padding="same")(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = layers.AveragePooling2D(3, strides=2, padding="same")(x)
    x = layers.Conv2D(128, 3, padding="same", activation="relu")(x)
    x = layers.AveragePooling2D(3, strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(1024, activation="relu")(x); x = layers.Dropout(0.2)(x)
    x = layers.Dense(1024, activation="relu")(x); x = layers.Dropout(0.2)(x)
    out = layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inp, out, name="fer2013_cnn")


from . import clip_models  # noqa: E402,F401  (registers the clip architectures)
