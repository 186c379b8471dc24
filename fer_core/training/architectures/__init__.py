"""Architectures by name: ``create_model("fer_vgg", n_classes)``, ``list_models()``, ``register_model(...)``.

``registry`` holds the registry; each family module registers its architectures when imported, and they are all
imported here (as timm does), so importing the package is enough and no module imports this package back.
"""
from . import article_cnns, clip_models, fer_vgg  # noqa: F401  (register the architectures)
from .registry import Builder, ModelSpec, create_model, get_spec, list_models, register_model

__all__ = ["Builder", "ModelSpec", "create_model", "get_spec", "list_models", "register_model"]
