"""Camera-picture degradations: JPEG quantisation as OpenCV's encoder does it, rank equalisation, and the policy in
both input pipelines (TensorFlow's tf.data map and the compiled batch layer)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest


def _faces(n: int = 8, seed: int = 0) -> np.ndarray:
    """Smooth generated 48x48 'faces': blurred noise with a bright oval, uint8."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = cv2.GaussianBlur(rng.integers(0, 256, (48, 48)).astype("uint8"), (0, 0), 3)
        cv2.ellipse(img, (24, 24), (14, 18), 0, 0, 360, int(rng.integers(150, 255)), -1)
        out.append(cv2.equalizeHist(cv2.GaussianBlur(img, (0, 0), 1)))
    return np.stack(out)


@pytest.mark.parametrize("quality", [30, 60, 90])
def test_jpeg_quantise_matches_opencvs_encoder(quality):
    from keras import ops

    from fer_core.training.camera_augment import jpeg_quantise

    faces = _faces()
    x = faces[..., None].astype("float32")
    ours = ops.convert_to_numpy(jpeg_quantise(ops.convert_to_tensor(x), ops.full((len(x),), float(quality))))
    theirs = np.stack([cv2.imdecode(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], 0)
                       for f in faces])[..., None].astype("float32")
    loss = np.abs(theirs - x).mean()
    assert loss > 0.5  # the encoder does lose something at these qualities
    assert np.abs(ours - theirs).mean() < 0.35 * loss


def test_equalise_spreads_values_and_keeps_their_order():
    from keras import ops

    from fer_core.training.camera_augment import equalise

    x = np.random.default_rng(1).uniform(100, 120, (2, 48, 48, 1)).astype("float32")  # a narrow, tie-free range
    out = ops.convert_to_numpy(equalise(ops.convert_to_tensor(x)))
    assert out.min() == 0 and out.max() == 255
    for o, i in zip(out.reshape(2, -1), x.reshape(2, -1)):
        order = np.argsort(i)
        assert np.all(np.diff(o[order]) >= 0)
        assert abs(np.histogram(o, bins=8, range=(0, 256))[0].std()) < 5


def test_camera_degrade_draws_decide_what_happens():
    from keras import ops

    from fer_core.training.camera_augment import camera_degrade

    x = _faces(6)[..., None].astype("float32")
    zeros = lambda shape: np.zeros(shape, "float32")
    never = ops.convert_to_numpy(camera_degrade(ops.convert_to_tensor(x), lambda s: np.ones(s, "float32"), zeros))
    np.testing.assert_array_equal(never, x)
    always = ops.convert_to_numpy(camera_degrade(ops.convert_to_tensor(x), zeros, zeros))
    assert always.shape == x.shape and always.min() >= 0 and always.max() <= 255
    assert np.all(np.abs(always - x).reshape(6, -1).mean(axis=1) > 0.5)


def test_camera_policy_runs_in_the_tensorflow_input_pipeline():
    import tensorflow as tf

    from fer_core.training.augmentation import AUGMENTATIONS, make_augmenter

    assert "camera" in AUGMENTATIONS
    aug = make_augmenter("camera", seed=2)
    x = _faces(16)[..., None].astype("float32")
    out = np.concatenate([b.numpy() for b in tf.data.Dataset.from_tensor_slices(x).batch(8)
                          .map(lambda b: aug(b, training=True))])
    assert out.shape == x.shape and out.min() >= -1e-3 and out.max() <= 255.001 and not np.allclose(out, x)
    np.testing.assert_allclose(aug(x, training=False), x)
