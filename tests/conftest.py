"""Shared fixtures: small generated datasets, a tiny trained run, and the path of ../shared/data when present."""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import pylibsrtp  # noqa: E402,F401  (must load before TensorFlow; see sample_utils/__init__.py)

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (FER2013 and CK+48); tests using it skip on a fresh clone without it."""
    if not (SHARED_DATA / "fer2013" / "fer2013.csv.gz").is_file():
        pytest.skip("../shared/data is absent (datasets are not part of the repo)")
    return SHARED_DATA


def make_fer_csv(path: Path, n_per_class: int = 4, usages=("Training", "PublicTest"), seed: int = 0,
                 gz: bool = False) -> Path:
    """A FER2013-format CSV with a learnable pattern per class (a bright band whose row depends on the label)."""
    rng = np.random.default_rng(seed)
    lines = ["emotion,pixels,Usage"]
    for usage in usages:
        for label in range(7):
            for _ in range(n_per_class):
                img = rng.integers(0, 60, (48, 48))
                img[label * 6: label * 6 + 6, :] = 220
                lines.append(f"{label},{' '.join(map(str, img.ravel()))},{usage}")
    text = "\n".join(lines) + "\n"
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


@pytest.fixture(scope="session")
def fer_csv(tmp_path_factory) -> Path:
    return make_fer_csv(tmp_path_factory.mktemp("fer") / "fer_small.csv")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, fer_csv) -> Path:
    """A complete run folder trained for 2 epochs on generated data (seconds, not minutes)."""
    from fer_core.training import TrainConfig, train

    out = tmp_path_factory.mktemp("runs") / "tiny_run"
    return train(TrainConfig(data=str(fer_csv), arch="fer_vgg", out=str(out), epochs=2, batch_size=16), verbose=0)
