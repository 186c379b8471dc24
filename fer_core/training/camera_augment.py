"""Camera-picture degradations of 48x48 training faces, in ``keras.ops`` (any backend, jit-compatible), for the
``camera`` augmentation policy.

A face cut from a webcam frame or a phone photo reaches the model after a downscale, the camera's noise, JPEG and
tone curve, and the app's histogram equalisation (``inference.equalize = "hist"``). FER2013's faces are already
equalised, so this applies, per image and each with its own probability: a lower resolution (down to 28-44 px and
back up: a face that small in the picture), a Gaussian blur, gamma and contrast, sensor noise, and JPEG's 8x8 DCT
quantisation at quality 30-90; then it equalises the degraded images again, as the app does. Tone changes alone
(gamma, contrast) are monotonic and equalisation undoes them; they matter only through the noise and quantisation that
follow.

The random numbers come from the caller (``uniform(shape)`` / ``normal(shape)``), so the same code runs in a
``tf.data`` map (TensorFlow's stateful generators) and inside a compiled step (a Keras ``SeedGenerator``).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
from keras import ops

# per-image probabilities and ranges
P_LOWRES, LOWRES_SIDES = 0.3, (28, 36, 44)
P_BLUR, BLUR_SIGMAS = 0.3, (0.5, 0.8)
P_TONE, GAMMA_RANGE, CONTRAST_RANGE = 0.5, (0.6, 1.6), (0.6, 1.2)
P_NOISE, NOISE_SIGMA = 0.5, (2.0, 8.0)
P_JPEG, JPEG_QUALITY = 0.5, (30.0, 90.0)

# ITU T.81 Annex K luminance quantisation table (quality 50)
JPEG_LUMA = np.array([
    [16, 11, 10, 16, 24, 40, 51, 61], [12, 12, 14, 19, 26, 58, 60, 55], [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62], [18, 22, 37, 56, 68, 109, 103, 77], [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101], [72, 92, 95, 98, 112, 100, 103, 99]], dtype="float32")


def _dct_matrix(n: int = 8) -> np.ndarray:
    k, i = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    d = np.sqrt(2.0 / n) * np.cos(math.pi * (2 * i + 1) * k / (2 * n))
    d[0] /= np.sqrt(2.0)
    return d.astype("float32")


DCT8 = _dct_matrix()


def _gaussian_kernel(sigma: float, radius: int = 3) -> np.ndarray:
    t = np.arange(-radius, radius + 1, dtype="float32")
    g = np.exp(-0.5 * (t / sigma) ** 2)
    g /= g.sum()
    return np.outer(g, g).astype("float32")[:, :, None, None]


def _per_image(mask, b):
    return ops.reshape(ops.cast(mask, "float32"), (b, 1, 1, 1))


def jpeg_quantise(x, quality):
    """What JPEG's luminance quantisation at ``quality`` (per image, 1-100) does to ``x`` (B, H, W, 1), 0-255, H and
    W multiples of 8 (no chroma, no entropy coding: those lose nothing more in a grey image)."""
    b, h, w = ops.shape(x)[0], x.shape[1], x.shape[2]
    q = ops.clip(quality, 1.0, 100.0)
    scale = ops.where(q < 50, 5000.0 / q, 200.0 - 2.0 * q)
    luma = ops.convert_to_tensor(JPEG_LUMA[None], dtype="float32")  # a tensor: numpy * torch.Tensor fails on torch
    table = ops.maximum(ops.floor((luma * ops.reshape(scale, (-1, 1, 1)) + 50.0) / 100.0), 1.0)
    blocks = ops.transpose(ops.reshape(x - 128.0, (b, h // 8, 8, w // 8, 8)), (0, 1, 3, 2, 4))
    d = ops.convert_to_tensor(DCT8, dtype="float32")
    coef = ops.einsum("ij,bmnjk,lk->bmnil", d, blocks, d)
    t = ops.reshape(table, (-1, 1, 1, 8, 8))
    coef = ops.round(coef / t) * t
    back = ops.einsum("ji,bmnjk,kl->bmnil", d, coef, d)
    return ops.clip(ops.reshape(ops.transpose(back, (0, 1, 3, 2, 4)), (b, h, w, 1)) + 128.0, 0.0, 255.0)


def equalise(x):
    """Histogram equalisation by rank (B, H, W, 1) -> 0-255: each pixel becomes its rank among the image's pixels,
    which is ``cv2.equalizeHist`` up to how ties are split."""
    b, h, w = ops.shape(x)[0], x.shape[1], x.shape[2]
    flat = ops.reshape(x, (b, h * w))
    ranks = ops.argsort(ops.argsort(flat, axis=-1), axis=-1)
    return ops.reshape(ops.round(ops.cast(ranks, "float32") * (255.0 / (h * w - 1))), (b, h, w, 1))


def camera_degrade(x, uniform: Callable, normal: Callable):
    """Degrade a batch ``x`` (B, H, W, 1) of equalised 0-255 faces as a camera would (see the module docstring);
    images that drew no degradation come back unchanged."""
    x = ops.cast(x, "float32")
    b, h, w = ops.shape(x)[0], x.shape[1], x.shape[2]
    u = lambda: uniform((b,))
    touched = ops.zeros((b,), dtype="bool")

    on = u() < P_LOWRES
    pick = ops.cast(ops.floor(u() * len(LOWRES_SIDES)), "int32")
    low = x
    for i, side in enumerate(LOWRES_SIDES):
        small = ops.image.resize(x, (side, side), interpolation="bilinear", antialias=True)
        big = ops.image.resize(small, (h, w), interpolation="bilinear")
        low = ops.where(_per_image(on & (pick == i), b) > 0, big, low)
    x, touched = low, touched | on

    on = u() < P_BLUR
    pick = ops.cast(ops.floor(u() * len(BLUR_SIGMAS)), "int32")
    padded = ops.pad(x, ((0, 0), (3, 3), (3, 3), (0, 0)), mode="reflect")
    blurred = x
    for i, sigma in enumerate(BLUR_SIGMAS):
        k = ops.convert_to_tensor(_gaussian_kernel(sigma))
        blurred = ops.where(_per_image(on & (pick == i), b) > 0, ops.conv(padded, k, padding="valid"), blurred)
    x, touched = blurred, touched | on

    on = u() < P_TONE
    gamma = GAMMA_RANGE[0] + u() * (GAMMA_RANGE[1] - GAMMA_RANGE[0])
    contrast = CONTRAST_RANGE[0] + u() * (CONTRAST_RANGE[1] - CONTRAST_RANGE[0])
    toned = 255.0 * ops.power(x / 255.0 + 1e-6, ops.reshape(gamma, (b, 1, 1, 1)))
    toned = 128.0 + (toned - 128.0) * ops.reshape(contrast, (b, 1, 1, 1))
    x = ops.where(_per_image(on, b) > 0, ops.clip(toned, 0.0, 255.0), x)
    touched = touched | on

    on = u() < P_NOISE
    sigma = NOISE_SIGMA[0] + u() * (NOISE_SIGMA[1] - NOISE_SIGMA[0])
    noisy = ops.clip(x + normal((b, h, w, 1)) * ops.reshape(sigma, (b, 1, 1, 1)), 0.0, 255.0)
    x = ops.where(_per_image(on, b) > 0, noisy, x)
    touched = touched | on

    on = u() < P_JPEG
    quality = JPEG_QUALITY[0] + u() * (JPEG_QUALITY[1] - JPEG_QUALITY[0])
    x = ops.where(_per_image(on, b) > 0, jpeg_quantise(ops.round(x), quality), x)
    touched = touched | on

    return ops.where(_per_image(touched, b) > 0, equalise(x), x)
