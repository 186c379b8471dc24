"""Shared fixtures: small generated datasets, a tiny trained run, and the path of ../shared/data when present."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import pylibsrtp  # noqa: E402,F401  (must load before TensorFlow; see ui/__init__.py)

from factories import make_fer_csv  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (FER2013 and CK+48); tests using it skip on a fresh clone without it."""
    if not (SHARED_DATA / "fer2013" / "fer2013.csv.gz").is_file():
        pytest.skip("../shared/data is absent (datasets are not part of the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def fer_csv(tmp_path_factory) -> Path:
    return make_fer_csv(tmp_path_factory.mktemp("fer") / "fer_small.csv")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, fer_csv) -> Path:
    """A complete run folder trained for 2 epochs on generated data (seconds, not minutes)."""
    from fer_core.training.trainer import TrainConfig, train

    out = tmp_path_factory.mktemp("runs") / "tiny_run"
    return train(TrainConfig(data=str(fer_csv), arch="fer_vgg", out=str(out), epochs=2, batch_size=16), verbose=0)
