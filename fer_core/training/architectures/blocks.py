"""Layers the architectures share: the raw-pixel input with its rescaling, and the conv + BatchNorm + ReLU block."""
from __future__ import annotations

import keras
from keras import layers


def pixel_inputs(shape: tuple[int, int, int]):
    """Models take raw 0-255 pixels; scaling lives inside so callers never preprocess."""
    inp = keras.Input(shape=shape, name="pixels")
    return inp, layers.Rescaling(1.0 / 255.0)(inp)


def conv_bn(x, filters: int, kernel=3, **kw):
    x = layers.Conv2D(filters, kernel, padding="same", use_bias=False, **kw)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)
