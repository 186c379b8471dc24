"""Architectures reproduced from articles, each with the article's training recipe: ``fer4_cnn``, ``vgg7``,
``jaffe_cnn`` and ``fer2013_cnn``."""
from __future__ import annotations

import keras
from keras import layers

from .blocks import conv_bn, pixel_inputs
from .registry import register_model


@register_model(
    "fer4_cnn", (48, 48, 3),
    "Article recipe: Conv512-BN-Conv256-BN-Pool-Drop.5-Conv128-BN-Conv64-BN-Pool-Drop.5-Conv32-Pool-Drop.5-Dense (4 classes).",
    optimizer="adam", lr=1e-3, schedule="plateau", plateau_patience=8, plateau_factor=0.2, min_lr=1e-5,
    batch_size=64, label_smoothing=0.0, augment="rotate_zoom", weight_decay=0.0,
)
def fer4_cnn(input_shape, n_classes):
    inp, x = pixel_inputs(input_shape)
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
    inp, x = pixel_inputs(input_shape)
    # (filters, pool after) for the 7 blocks; filters chosen for ~1.3M trainable parameters.
    for f, pool in ((32, False), (64, True), (64, False), (128, True), (128, False), (256, True), (256, True)):
        x = conv_bn(x, f)
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
    inp, x = pixel_inputs(input_shape)
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
    inp, x = pixel_inputs(input_shape)
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
