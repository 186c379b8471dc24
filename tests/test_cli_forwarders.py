"""``python -m fer_core.<name>`` keeps working for every command line README and scripts/ name: each top-level module
forwards to the ``main`` of the module that now holds it."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CLIS = {
    "train": "fer_core.training.train_cli", "evaluate": "fer_core.training.evaluate_cli",
    "ensemble": "fer_core.training.ensemble", "export_onnx": "fer_core.training.export_cli",
    "analyze": "fer_core.inference.analyze_cli", "serve": "fer_core.api.serve",
    "train_clips": "fer_core.training.train_clips_cli", "ferplus": "fer_core.training.ferplus",
    "finish_run": "fer_core.training.finish_cli", "teacher": "fer_core.training.teacher_cli",
    "prune": "fer_core.training.prune_cli",
}


@pytest.mark.parametrize("name", sorted(CLIS))
def test_forwarder_runs_the_real_main(name):
    assert importlib.import_module(f"fer_core.{name}").main is importlib.import_module(CLIS[name]).main


@pytest.mark.parametrize("name", ["analyze", "serve"])
def test_python_dash_m_prints_the_usage_under_the_old_name(name):
    out = subprocess.run([sys.executable, "-m", f"fer_core.{name}", "--help"], cwd=REPO, capture_output=True,
                         text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith(f"usage: python -m fer_core.{name}")
