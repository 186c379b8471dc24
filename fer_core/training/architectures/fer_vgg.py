"""Our architectures: ``fer_vgg`` (random 40x40 crops of the 48x48 face, VGG-style conv+BN blocks) and its 1.5x wider
``fer_vgg_wide``, with the training recipe they were tuned with, and ``fer_vgg_wide_slim``: ``fer_vgg_wide`` with the first
conv of each two-conv block at 2/3 width, the shape ``python -m fer_core.prune`` cuts a trained ``fer_vgg_wide`` to."""
from __future__ import annotations

import keras
from keras import layers

from ...inference.layers import FaceCrop
from .blocks import conv_bn, pixel_inputs
from .registry import register_model


def _fer_vgg_body(input_shape, n_classes, widths, name: str) -> keras.Model:
    """Random 40x40 crop, one conv block per entry of ``widths`` (each followed by a 2x2 max-pool), dense 256."""
    inp, x = pixel_inputs(input_shape)
    crop = min(input_shape[0], input_shape[1]) * 5 // 6
    x = FaceCrop(crop)(x)
    for i, block in enumerate(widths):
        for f in block:
            x = conv_bn(x, f)
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


WIDE_WIDTHS = ((48,), (96, 96), (192, 192), (384, 384))
SLIM_WIDTHS = ((48,), (64, 96), (128, 192), (256, 384))  # fer_vgg_wide's inner channels at 2/3: block outputs unchanged

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
    return _fer_vgg_body(input_shape, n_classes, WIDE_WIDTHS, "fer_vgg_wide")


@register_model(
    "fer_vgg_wide_slim", (48, 48, 1),
    "Ours: fer_vgg_wide with the first conv of each two-conv block at 2/3 width, blocks 48-64/96-128/192-256/384, "
    "dense 256 (about 2/3 of its compute): what python -m fer_core.prune cuts a trained fer_vgg_wide to.",
    augment="fer", **_FER_VGG_RECIPE,
)
def fer_vgg_wide_slim(input_shape, n_classes):
    return _fer_vgg_body(input_shape, n_classes, SLIM_WIDTHS, "fer_vgg_wide_slim")
