"""Augmentation as Keras layers: named policies for the input pipeline (the crop layer that some architectures
carry, ``FaceCrop``, is part of the shipped models: ``fer_core.inference.layers``)."""
from __future__ import annotations

import keras
from keras import layers

from .camera_augment import camera_degrade


class CameraDegrade(layers.Layer):
    """``camera_augment.camera_degrade`` as a layer of the TensorFlow input pipeline (the identity at inference)."""

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed

    def call(self, x, training=None):
        if not training:
            return x
        import tensorflow as tf  # this layer runs in a tf.data map, where TensorFlow's stateful generators work

        return camera_degrade(x, lambda shape: tf.random.uniform(shape), lambda shape: tf.random.normal(shape))


def _policy_layers(name: str, seed: int) -> list[layers.Layer]:
    if name == "none":
        return []
    if name == "fer":  # flip, small rotation/zoom, random erasing (shift comes from the model's FaceCrop)
        return [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(10 / 360, fill_mode="reflect", seed=seed + 1),
            layers.RandomZoom((-0.1, 0.1), fill_mode="reflect", seed=seed + 2),
            layers.RandomTranslation(0.05, 0.05, fill_mode="reflect", seed=seed + 3),
            layers.RandomErasing(factor=(0.5, 0.5), scale=(0.02, 0.2), fill_value=None, value_range=(0, 255), seed=seed + 4),
        ]
    if name == "camera":  # "fer", then what a camera does to a face (camera_augment), before the erasing
        fer = _policy_layers("fer", seed)
        return fer[:-1] + [CameraDegrade(seed=seed + 5), fer[-1]]
    if name == "light":  # flip and small rotation/shift: for fine-tuning a model trained under "fer"
        return [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(10 / 360, fill_mode="reflect", seed=seed + 1),
            layers.RandomTranslation(0.05, 0.05, fill_mode="reflect", seed=seed + 3),
        ]
    if name == "rotate_zoom":  # the fer4_cnn article: rotation and zoom 0.1
        return [layers.RandomRotation(0.1, seed=seed), layers.RandomZoom(0.1, seed=seed + 1)]
    if name == "vgg7":  # the vgg7 article: rotation, shear, zoom, shift, flip
        return [
            layers.RandomRotation(0.05, seed=seed), layers.RandomShear(0.1, 0.1, seed=seed + 1),
            layers.RandomZoom(0.1, seed=seed + 2), layers.RandomTranslation(0.1, 0.1, seed=seed + 3),
            layers.RandomFlip("horizontal", seed=seed + 4),
        ]
    raise ValueError(f"Unknown augmentation policy. Expected one of {AUGMENTATIONS}. Received: augment={name!r}")


AUGMENTATIONS = ("none", "fer", "camera", "light", "rotate_zoom", "vgg7")


def make_augmenter(name: str, seed: int = 0) -> keras.Sequential | None:
    """A Sequential of preprocessing layers for batched uint8-valued float images, or ``None`` for ``"none"``."""
    lays = _policy_layers(name, seed)
    return keras.Sequential(lays, name=f"augment_{name}") if lays else None
