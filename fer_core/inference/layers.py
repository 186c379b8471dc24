"""Custom Keras layers that trained models hold, so loading a ``model.keras`` needs them registered: ``FaceCrop``.

Saved models name the layer ``fer_core>FaceCrop`` (package "fer_core", class name "FaceCrop"; their config also
records the module it was first defined in, ``fer_core.augmentation``). Keras finds it by that registered name once
this module is imported, wherever the class lives: keep the package and the class name.
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers


@keras.saving.register_keras_serializable(package="fer_core")
class FaceCrop(layers.Layer):
    """Random ``size`` x ``size`` crop per image in training, the centre crop at inference (Pramerdorfer-style)."""

    def __init__(self, size: int, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)

    def call(self, x, training=None):
        h, w = x.shape[1], x.shape[2]
        s = self.size
        if training:
            b = tf.shape(x)[0]
            oy = tf.random.uniform((b, 1), 0, h - s + 1, dtype=tf.int32)
            ox = tf.random.uniform((b, 1), 0, w - s + 1, dtype=tf.int32)
            rows = oy + tf.range(s)[None, :]
            cols = ox + tf.range(s)[None, :]
            x = tf.gather(x, rows, axis=1, batch_dims=1)
            return tf.gather(x, cols, axis=2, batch_dims=1)
        top, left = (h - s) // 2, (w - s) // 2
        return x[:, top:top + s, left:left + s, :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "size": self.size}
