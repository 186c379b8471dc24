"""Custom Keras layers that trained models hold, so loading a ``model.keras`` needs them registered: ``FaceCrop``.

Saved models name the layer ``fer_core>FaceCrop`` (package "fer_core", class name "FaceCrop"; their config also
records the module it was first defined in, ``fer_core.augmentation``). Keras finds it by that registered name once
this module is imported, wherever the class lives: keep the package and the class name.
"""
from __future__ import annotations

import keras
from keras import layers


@keras.saving.register_keras_serializable(package="fer_core")
class FaceCrop(layers.Layer):
    """Random ``size`` x ``size`` crop per image in training, the centre crop at inference (Pramerdorfer-style).

    Written in ``keras.ops`` with its own ``SeedGenerator``, so it compiles on every backend (JAX, PyTorch,
    TensorFlow); the seed state is not a weight, so ``.keras`` files saved before it existed load unchanged."""

    def __init__(self, size: int, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)
        self.seed_generator = keras.random.SeedGenerator()

    def call(self, x, training=None):
        h, w = x.shape[1], x.shape[2]
        s = self.size
        if training:
            b, c = keras.ops.shape(x)[0], x.shape[3]
            oy = keras.random.randint((b, 1), 0, h - s + 1, seed=self.seed_generator)
            ox = keras.random.randint((b, 1), 0, w - s + 1, seed=self.seed_generator)
            rows = oy + keras.ops.arange(s, dtype=oy.dtype)[None, :]
            cols = ox + keras.ops.arange(s, dtype=ox.dtype)[None, :]
            x = keras.ops.take_along_axis(x, keras.ops.broadcast_to(rows[:, :, None, None], (b, s, w, c)), axis=1)
            return keras.ops.take_along_axis(x, keras.ops.broadcast_to(cols[:, None, :, None], (b, s, s, c)), axis=2)
        top, left = (h - s) // 2, (w - s) // 2
        return x[:, top:top + s, left:left + s, :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "size": self.size}
