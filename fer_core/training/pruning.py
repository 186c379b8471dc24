"""Cut a trained VGG-style net to narrower inner channels: ``fer_vgg_wide`` -> ``fer_vgg_wide_slim``.

The first conv of each two-conv block keeps its channels with the largest BatchNorm scale ``|gamma|`` (network
slimming, Liu et al. 2017); the next conv keeps the matching input channels, so block outputs and the head are
unchanged. Cutting shifts what the following BatchNorms see, so their moving statistics are re-estimated on training
images (``recalibrate_batchnorm``). The cut net loses accuracy (``fer_vgg_wide`` at 2/3: holdout 68.8% -> 51.2% cut,
61.6% after recalibration) and is meant to start a short fine-tuning run (``python -m fer_core.train --init-from``)."""
from __future__ import annotations

import numpy as np


def _convs_and_norms(model) -> tuple[list, list]:
    import keras

    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    norms = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    if len(norms) < len(convs):
        raise ValueError(f"{model.name}: expected a BatchNormalization after every Conv2D. "
                         f"Received: {len(convs)} Conv2D and {len(norms)} BatchNormalization layers")
    return convs, norms


def prune_channels(source, target):
    """Copy ``source``'s weights into ``target``, a model of the same layer sequence whose convs may have fewer
    output channels; each narrower conv keeps the channels with the largest ``|gamma|`` of its BatchNorm. Returns
    ``target``. Raises ValueError when the two do not line up layer for layer."""
    import keras

    s_convs, s_norms = _convs_and_norms(source)
    t_convs, t_norms = _convs_and_norms(target)
    s_dense = [l for l in source.layers if isinstance(l, keras.layers.Dense)]
    t_dense = [l for l in target.layers if isinstance(l, keras.layers.Dense)]
    if (len(s_convs), len(s_norms), len(s_dense)) != (len(t_convs), len(t_norms), len(t_dense)):
        raise ValueError(f"{target.name} must have {source.name}'s layer sequence. Received: Conv2D/BatchNorm/Dense "
                         f"counts {len(t_convs)}/{len(t_norms)}/{len(t_dense)} against "
                         f"{len(s_convs)}/{len(s_norms)}/{len(s_dense)}")
    kept_inputs = None
    for sc, sn, tc, tn in zip(s_convs, s_norms, t_convs, t_norms):
        kernel = sc.kernel.numpy()
        if kept_inputs is not None:
            kernel = kernel[:, :, kept_inputs, :]
        n_out, have = tc.kernel.shape[-1], kernel.shape[-1]
        if n_out > have or tuple(tc.kernel.shape[:-1]) != kernel.shape[:-1]:
            raise ValueError(f"{tc.name}: can only keep channels of {sc.name}. Expected a kernel "
                             f"{kernel.shape[:-1] + (f'<={have}',)}. Received: shape={tuple(tc.kernel.shape)}")
        gamma = np.abs(sn.gamma.numpy())
        keep = np.sort(np.argsort(-gamma, kind="stable")[:n_out])
        tc.kernel.assign(kernel[..., keep])
        for tw, sw in zip(tn.weights, sn.weights):
            tw.assign(sw.numpy()[keep])
        kept_inputs = keep if n_out < have else None
    if kept_inputs is not None:
        raise ValueError(f"the last conv's output channels must be kept whole. Received: {len(kept_inputs)} of "
                         f"{s_convs[-1].kernel.shape[-1]}")
    for tl, sl in zip(t_dense + t_norms[len(t_convs):], s_dense + s_norms[len(s_convs):]):
        for tw, sw in zip(tl.weights, sl.weights):
            tw.assign(sw.numpy())
    return target


def recalibrate_batchnorm(model, images: np.ndarray, batches: int = 60, batch_size: int = 256, seed: int = 0):
    """Re-estimate every BatchNorm's moving mean and variance on ``images`` (model inputs ``(N, H, W, C)``) as the
    mean of ``batches`` random batches' statistics, the other weights untouched: the model runs eagerly in training
    mode with its Dropout layers off. Returns ``model``."""
    import keras

    images = np.asarray(images, np.float32)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"images must be a non-empty (N, H, W, C) batch. Received: shape={images.shape}")
    dropouts = [l for l in model.layers if isinstance(l, keras.layers.Dropout)]
    norms = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    saved = [l.rate for l in dropouts], [l.momentum for l in norms]
    try:
        for l in dropouts:
            l.rate = 0.0
        rng = np.random.default_rng(seed)
        for k in range(batches):
            for l in norms:  # momentum k/(k+1): the moving statistics become the plain mean over the batches seen
                l.momentum = k / (k + 1)
            model(images[rng.choice(len(images), min(batch_size, len(images)), replace=False)], training=True)
    finally:
        for l, r in zip(dropouts, saved[0]):
            l.rate = r
        for l, m in zip(norms, saved[1]):
            l.momentum = m
    return model
