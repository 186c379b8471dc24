"""Augmentation written in ``keras.ops``, run on the whole batch inside the compiled training step on any backend.

Keras's own RandomRotation/RandomTranslation/RandomZoom set ``supports_jit=False``, which silently makes a whole JAX
model run eagerly; this layer draws every random number from its ``SeedGenerator`` and builds one affine transform per
image, so the step compiles (``model.jit_compile`` stays True). The policies mirror ``augmentation.AUGMENTATIONS``.
"""
from __future__ import annotations

import math

import keras
from keras import ops

from .camera_augment import camera_degrade

# policy -> flip, rotation (+-degrees), shift (+- fraction of the side), zoom (+- fraction), shear (+- fraction),
# random erasing probability, camera-picture degradations (``camera_augment``)
POLICIES: dict[str, dict] = {
    "none": dict(flip=False, rotate=0.0, shift=0.0, zoom=0.0, shear=0.0, erase=0.0, camera=False),
    "light": dict(flip=True, rotate=10.0, shift=0.05, zoom=0.0, shear=0.0, erase=0.0, camera=False),
    "fer": dict(flip=True, rotate=10.0, shift=0.05, zoom=0.1, shear=0.0, erase=0.5, camera=False),
    "camera": dict(flip=True, rotate=10.0, shift=0.05, zoom=0.1, shear=0.0, erase=0.5, camera=True),
    "rotate_zoom": dict(flip=False, rotate=36.0, shift=0.0, zoom=0.1, shear=0.0, erase=0.0, camera=False),
    "vgg7": dict(flip=True, rotate=18.0, shift=0.1, zoom=0.1, shear=0.1, erase=0.0, camera=False),
}


@keras.saving.register_keras_serializable(package="fer_core")
class BatchAugment(keras.layers.Layer):
    """Random flip, rotation, shift, zoom, shear (one bilinear affine warp, reflected borders), camera degradations and random erasing of
    uint8-valued float images ``(B, H, W, C)`` in training; the identity at inference."""

    def __init__(self, policy: str = "light", seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if policy not in POLICIES:
            raise ValueError(f"Unknown augmentation policy. Expected one of {sorted(POLICIES)}. Received: policy={policy!r}")
        self.policy, self.seed = policy, seed
        self.params = POLICIES[policy]
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        x = ops.cast(x, "float32")
        if not training or self.policy == "none":
            return x
        p = self.params
        b, h, w = ops.shape(x)[0], x.shape[1], x.shape[2]
        if p["flip"]:
            flip = keras.random.uniform((b, 1, 1, 1), seed=self.seed_generator) < 0.5
            x = ops.where(flip, ops.flip(x, axis=2), x)
        if p["rotate"] or p["shift"] or p["zoom"] or p["shear"]:
            x = ops.image.affine_transform(x, self._transforms(b, h, w), interpolation="bilinear", fill_mode="reflect")
        if p["camera"]:
            x = camera_degrade(x, lambda shape: keras.random.uniform(shape, seed=self.seed_generator),
                               lambda shape: keras.random.normal(shape, seed=self.seed_generator))
        if p["erase"]:
            x = self._erase(x, b, h, w, p["erase"])
        return x

    def _uniform(self, b, limit):
        return keras.random.uniform((b,), -limit, limit, seed=self.seed_generator)

    def _transforms(self, b, h, w):
        """Per-image ``[a0, a1, a2, b0, b1, b2, 0, 0]`` mapping output pixels to input pixels, about the centre."""
        p = self.params
        theta = self._uniform(b, p["rotate"] * math.pi / 180.0)
        scale = 1.0 + self._uniform(b, p["zoom"])
        shear = self._uniform(b, p["shear"])
        tx, ty = self._uniform(b, p["shift"] * w), self._uniform(b, p["shift"] * h)
        cos, sin = ops.cos(theta) / scale, ops.sin(theta) / scale
        a0, a1 = cos, -sin + shear * cos
        b0, b1 = sin, cos + shear * sin
        cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
        a2 = cx - (a0 * cx + a1 * cy) - tx
        b2 = cy - (b0 * cx + b1 * cy) - ty
        zeros = ops.zeros_like(a0)
        return ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)

    def _erase(self, x, b, h, w, prob):
        """Random erasing (Zhong et al.): with probability ``prob`` a rectangle of 2-20% of the image, aspect 0.3-3.3,
        filled with uniform noise."""
        g = self.seed_generator
        area = keras.random.uniform((b,), 0.02, 0.2, seed=g) * (h * w)
        aspect = ops.exp(keras.random.uniform((b,), math.log(0.3), math.log(3.3), seed=g))
        eh = ops.minimum(ops.sqrt(area * aspect), float(h))
        ew = ops.minimum(ops.sqrt(area / aspect), float(w))
        y0 = keras.random.uniform((b,), seed=g) * (h - eh)
        x0 = keras.random.uniform((b,), seed=g) * (w - ew)
        on = keras.random.uniform((b,), seed=g) < prob
        rows = ops.reshape(ops.arange(h, dtype="float32"), (1, h, 1, 1))
        cols = ops.reshape(ops.arange(w, dtype="float32"), (1, 1, w, 1))
        col = lambda v: ops.reshape(v, (-1, 1, 1, 1))
        mask = ((rows >= col(y0)) & (rows < col(y0 + eh)) & (cols >= col(x0)) & (cols < col(x0 + ew))
                & ops.reshape(on, (-1, 1, 1, 1)))
        noise = keras.random.uniform(ops.shape(x), 0.0, 255.0, seed=g)
        return ops.where(mask, noise, x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "policy": self.policy, "seed": self.seed}
