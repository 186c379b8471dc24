"""The shell scripts README names: each parses, and ``evaluate_run.sh`` stops with a clear message before any slow
step when its arguments are wrong."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

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
