"""The architecture registry: every builder builds and runs a forward pass; unknown names are clear errors."""
from __future__ import annotations

import numpy as np
import pytest

from fer_core.training.architectures import create_model, get_spec, list_models, register_model

IMAGE_MODELS = [n for n in list_models() if len(get_spec(n).input_shape) == 3]


def test_registry_lists_our_model_and_the_article_recipes():
    assert {"fer_vgg", "fer4_cnn", "vgg7", "jaffe_cnn", "fer2013_cnn"} <= set(list_models())


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_builder_forward_pass(name):
    spec = get_spec(name)
    model = create_model(name, n_classes=4)
    x = np.random.default_rng(0).integers(0, 255, (2, *spec.input_shape)).astype("float32")
    p = np.asarray(model(x, training=False))
    assert p.shape == (2, 4)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


def test_fer4_cnn_follows_the_article():
    model = create_model("fer4_cnn", 4)
    convs = [l.filters for l in model.layers if l.__class__.__name__ == "Conv2D"]
    assert convs == [512, 256, 128, 64, 32] and model.input_shape == (None, 48, 48, 3)


def test_vgg7_size_and_jaffe_input():
    trainable = sum(int(np.prod(w.shape)) for w in create_model("vgg7", 7).trainable_weights)
    assert 1.0e6 < trainable < 1.6e6
    assert create_model("jaffe_cnn", 7).input_shape == (None, 128, 128, 3)


def test_unknown_name_and_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="Unknown architecture.*Received: name='resnet9000'"):
        create_model("resnet9000", 7)
    with pytest.raises(ValueError, match="n_classes"):
        create_model("fer_vgg", 1)
    with pytest.raises(ValueError, match="already registered"):
        register_model("fer_vgg", (48, 48, 1), "dup")(lambda s, n: None)
