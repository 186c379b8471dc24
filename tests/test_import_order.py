"""The pylibsrtp-before-TensorFlow guard (``ui/__init__.py``): aiortc's libsrtp loaded after TensorFlow makes the
server segfault, so every entry the server runs must load ``pylibsrtp`` before anything can load TensorFlow.

Each entry (``streamlit_app.py`` and every page) has its import statements run, in order, in a fresh interpreter
that records which of the two loads first; TensorFlow is then imported as a model load would. Moving an import above
``import ui``, or ``ui/__init__.py`` loading a module that pulls TensorFlow in before the guard, fails here."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ENTRIES = [REPO / "streamlit_app.py", *sorted((REPO / "pages").glob("*.py"))]

PROBE = r"""
import ast, importlib.abc, json, sys
order = []

class Recorder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in ("pylibsrtp", "tensorflow") and top not in order:
            order.append(top)
        return None

sys.meta_path.insert(0, Recorder())
entry = sys.argv[1]
for node in ast.parse(open(entry).read()).body:
    if isinstance(node, (ast.Import, ast.ImportFrom)):  # the entry's imports, in order, not its page code
        exec(compile(ast.Module([node], type_ignores=[]), entry, "exec"), {"__name__": "entry"})
import tensorflow  # noqa: F401  (what the server loads later, when a model is used)
print(json.dumps(order))
"""


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_entry_loads_pylibsrtp_before_tensorflow(entry):
    out = subprocess.run([sys.executable, "-c", PROBE, str(entry)], cwd=REPO, capture_output=True, text=True,
                         timeout=300, env={**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["pylibsrtp", "tensorflow"]


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_entry_imports_ui_first(entry):
    """The guard runs first because ``ui`` is the entry's first import of this project (ui's ``__init__`` runs before
    any ``ui.<module>``)."""
    imports = [n for n in ast.parse(entry.read_text()).body if isinstance(n, (ast.Import, ast.ImportFrom))]
    first = imports[0]
    names = [a.name for a in first.names] if isinstance(first, ast.Import) else [first.module]
    assert names[0] == "ui" or names[0].startswith("ui."), f"{entry.name}: first import is {ast.unparse(first)}"


def test_the_guard_is_ui_s_first_statement_after_its_docstring():
    body = ast.parse((REPO / "ui" / "__init__.py").read_text()).body
    statements = [n for n in body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    assert isinstance(statements[0], ast.Import) and statements[0].names[0].name == "pylibsrtp"
