"""The shell scripts README names: each parses, ``evaluate_run.sh`` stops with a clear message before any slow step
when its arguments are wrong, and ``train_accelerator.sh`` returns runs that ``finish_run`` completes."""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from fer_core import runs

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((REPO / "scripts").glob("*.sh"))


def test_there_are_scripts():
    assert {p.name for p in SCRIPTS} >= {"evaluate_run.sh", "train_accelerator.sh", "run_app.sh", "test.sh"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_parses(script):
    out = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr


def _evaluate_run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "scripts" / "evaluate_run.sh"), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=30, env=env)


def test_evaluate_run_wants_a_run_and_a_photo_folder():
    out = _evaluate_run("models/runs/wide_cascade3_cam")
    assert out.returncode == 2
    assert "usage: bash scripts/evaluate_run.sh" in out.stderr and "Received: 1 arguments" in out.stderr


def test_evaluate_run_names_the_missing_model(tmp_path):
    out = _evaluate_run(str(tmp_path / "no_such_run"), str(tmp_path))
    assert out.returncode == 2
    assert f"expected {tmp_path / 'no_such_run'}/model.keras to exist" in out.stderr


def test_evaluate_run_names_an_empty_photo_folder(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"")
    photos = tmp_path / "photos"
    photos.mkdir()
    ck = tmp_path / "ck"
    ck.mkdir()
    fer = tmp_path / "fer.csv"
    fer.write_text("emotion,pixels,Usage\n")
    env = {"PATH": "/usr/bin:/bin", "FER2013_CSV": str(fer), "CKPLUS": str(ck)}
    out = _evaluate_run(str(run), str(photos), env=env)
    assert out.returncode == 2
    assert f"no photo folders under {photos}" in out.stderr


# Run by sitecustomize in the training process: TensorFlow is not found (find_spec gives None, import fails, and it
# is not in sys.modules, which Keras checks), as on the accelerator machine.
_NO_TENSORFLOW = """
import sys


class _HideTensorFlow:
    def __init__(self, inner):
        self.inner = inner

    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            return None
        return self.inner.find_spec(name, path, target)

    def __getattr__(self, attr):
        return getattr(self.inner, attr)


sys.meta_path[:] = [_HideTensorFlow(f) for f in sys.meta_path]
"""


def _accelerator_env(tmp_path: Path, packed: Path) -> dict[str, str]:
    hide = tmp_path / "no_tf"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(_NO_TENSORFLOW)
    return {**os.environ, "PY": sys.executable, "OUT": str(tmp_path / "out"), "RUNS": str(tmp_path / "runs"),
            "DATA": str(packed), "BUDGET": "300", "POLL": "2", "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
            "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(hide)}


@pytest.fixture(scope="module")
def packed_faces(tmp_path_factory) -> tuple[Path, Path]:
    from fer_core.training.data import pack_fer2013
    from tests.factories import make_fer_csv

    folder = tmp_path_factory.mktemp("accel_data")
    csv = make_fer_csv(folder / "fer10.csv", n_per_class=10)
    return csv, pack_fer2013(csv, folder / "fer10.fer.npz")


def test_train_accelerator_returns_a_run_that_finish_run_completes(tmp_path, packed_faces):
    """The prepared accelerator run, end to end on JAX's CPU backend with TensorFlow hidden: the script returns the
    run as a tar under OUT (no checkpoint, no ONNX yet), and ``finish_run`` on TensorFlow exports and scores it."""
    pytest.importorskip("jax")
    csv, packed = packed_faces
    spec = "tiny --arch fer_vgg --epochs 2 --batch-size 16 --ema 0.9 --augment camera --seed 3"
    out = subprocess.run(["bash", str(REPO / "scripts" / "train_accelerator.sh"), spec], cwd=REPO,
                         env=_accelerator_env(tmp_path, packed), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "== tiny (exit 0)" in out.stdout
    with tarfile.open(tmp_path / "out" / "tiny.tar") as tar:
        names = set(tar.getnames())
        # filter="data" where this Python has it (3.10.12+, 3.11.4+): the archive's paths stay inside "back"
        tar.extractall(tmp_path / "back", **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    assert {"tiny/model.keras", "tiny/history.csv", "tiny/config.json", "tiny/train.log"} <= names
    assert not any(n.endswith(("checkpoint.npz", runs.ONNX_MODEL)) for n in names)
    run = tmp_path / "back" / "tiny"
    config = runs.read_json(run / runs.CONFIG)
    assert config["training_backend"] == "jax" and config["epochs_done"] == 2
    assert "finish_run" in (run / "train.log").read_text()  # told where to finish it

    from fer_core.training.finish_cli import finish_run

    metrics = finish_run(run, str(csv))
    assert metrics["split"] == "PublicTest" and metrics["n"] == 70
    assert (run / runs.ONNX_MODEL).is_file() and (run / runs.ONNX_INT8_MODEL).is_file()
    from fer_core import load_classifier

    probs = load_classifier(run).predict_proba(np.zeros((2, 48, 48), np.uint8))
    assert probs.shape == (2, 7) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-3)


def test_train_accelerator_exits_1_when_a_run_fails(tmp_path, packed_faces):
    pytest.importorskip("jax")
    _, packed = packed_faces
    out = subprocess.run(["bash", str(REPO / "scripts" / "train_accelerator.sh"), "bad --arch no_such_arch"],
                         cwd=REPO, env=_accelerator_env(tmp_path, packed), capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 1
    assert "== bad (exit " in out.stdout and "no_such_arch" in out.stdout


def test_train_accelerator_wants_a_run():
    out = subprocess.run(["bash", str(REPO / "scripts" / "train_accelerator.sh")], cwd=REPO, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 2 and "usage: OUT=" in out.stderr and "Received: no run" in out.stderr


def _prepare_repo(tmp_path: Path) -> Path:
    """A small git repository with the prepare script and a committed models/ folder."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    (repo / "scripts" / "prepare_accelerator.sh").write_text((REPO / "scripts" / "prepare_accelerator.sh").read_text())
    (repo / "models" / "runs" / "r").mkdir(parents=True)
    (repo / "models" / "runs" / "r" / "model.keras").write_bytes(b"weights")
    (repo / "code.py").write_text("print('hi')\n")
    for cmd in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        subprocess.run(["git", *cmd], cwd=repo, check=True, capture_output=True)
    return repo


def _prepare(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "scripts/prepare_accelerator.sh", *args], cwd=repo, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(REPO), "PY": sys.executable, **env})


def test_prepare_accelerator_puts_models_aside_and_back(tmp_path):
    repo = _prepare_repo(tmp_path)
    aside = str(tmp_path / "aside")
    out = _prepare(repo, "aside", ASIDE=aside)
    assert out.returncode == 0, out.stderr
    listed = subprocess.run(["git", "ls-files", "models"], cwd=repo, capture_output=True, text=True).stdout
    assert listed == "" and not (repo / "models").exists() and (tmp_path / "aside" / "runs" / "r").is_dir()
    again = _prepare(repo, "aside", ASIDE=aside)
    assert again.returncode == 1 and "already aside" in again.stderr
    out = _prepare(repo, "back", ASIDE=aside)
    assert out.returncode == 0, out.stderr
    assert (repo / "models" / "runs" / "r" / "model.keras").read_bytes() == b"weights"
    assert subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True).stdout == ""
    twice = _prepare(repo, "back", ASIDE=aside)
    assert twice.returncode == 1 and "Received: no such folder" in twice.stderr


def test_prepare_accelerator_packs_the_data_git_ignored(tmp_path):
    from tests.factories import make_fer_csv

    repo = _prepare_repo(tmp_path)
    csv = make_fer_csv(tmp_path / "fer.csv", n_per_class=2)
    votes = tmp_path / "votes.csv"
    votes.write_text("neutral,happiness\n10,0\n")
    (repo / ".whl").mkdir()
    (repo / ".whl" / "keras-3.15.1-py3-none-any.whl").write_bytes(b"wheel")  # already there: nothing is downloaded
    out = _prepare(repo, "pack", str(csv), str(votes))
    assert out.returncode == 0, out.stderr
    assert "the call carries" in out.stdout
    from fer_core.training.data import load_packed

    assert len(load_packed(repo / ".device_data" / "fer2013.fer.npz", "Training").labels) == 14
    assert (repo / ".device_data" / "ferplus_aligned.csv").read_text() == votes.read_text()
    assert subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True).stdout == ""
    missing = _prepare(repo, "pack", str(tmp_path / "nope.csv"), str(votes))
    assert missing.returncode == 2 and "expected the FER2013 CSV at" in missing.stderr
    wrong = _prepare(repo, "unpack")
    assert wrong.returncode == 2 and "usage: bash scripts/prepare_accelerator.sh" in wrong.stderr
