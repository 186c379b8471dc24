"""The layering of the code, checked from the source: every import of every module of ``fer_core``, ``ui``, ``pages/``
and ``streamlit_app.py`` (at the top and inside functions, absolute and relative) must point down or stay within its
own package, and no two modules may import each other in a cycle.

Floors, top to bottom (README, "Architecture"):

    pages, streamlit_app  ->  ui  ->  fer_core's forwarders  ->  {classroom, training}  ->  {live, api}
        ->  inference  ->  {runs, labels, device, json_safe}

``fer_core`` never imports streamlit; pages reach ``fer_core`` only through ``ui``.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# (floor, wing): lower floors sit below; a module may import its own wing or any wing on a lower floor.
FLOORS: dict[str, tuple[int, str]] = {
    "pages": (0, "pages"),
    "ui": (1, "ui"),
    "fer_core": (2, "entry"),  # the package's lazy exports and the `python -m fer_core.<cli>` forwarders
    "fer_core.classroom": (3, "classroom"),
    "fer_core.training": (3, "training"),
    "fer_core.live": (4, "live"),
    "fer_core.api": (4, "api"),
    "fer_core.inference": (5, "inference"),
    "fer_core.runs": (6, "runs"),
    "fer_core.labels": (6, "labels"),
    "fer_core.device": (6, "device"),
    "fer_core.json_safe": (6, "json_safe"),
}
ENTRY_MODULES = {"train", "evaluate", "ensemble", "export_onnx", "analyze", "serve", "train_clips", "ferplus",
                 "finish_run", "teacher", "prune"}
STREAMLIT = ("streamlit", "streamlit_webrtc")


# ---------------------------------------------------------------- reading the tree

def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[0] == "pages" or parts == ["streamlit_app"]:
        return "pages." + parts[-1] if parts[0] == "pages" else "pages.streamlit_app"
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def source_files(root: Path) -> dict[str, Path]:
    """Module name -> file, for fer_core, ui, pages/ and streamlit_app.py under ``root``."""
    files = [*(root / "fer_core").rglob("*.py"), *(root / "ui").rglob("*.py"), *(root / "pages").glob("*.py")]
    if (root / "streamlit_app.py").is_file():
        files.append(root / "streamlit_app.py")
    return {module_name(p, root): p for p in files if "__pycache__" not in p.parts}


def imports_of(name: str, path: Path, modules: set[str]) -> list[tuple[str, int]]:
    """(imported module, line) for every import statement in the file, resolved to the module it loads: ``from a
    import b`` is module ``a.b`` when that is a module of the tree, else ``a``. Relative imports are resolved
    against the module's package."""
    tree = ast.parse(path.read_text(), str(path))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = []
    for node in ast.walk(tree):  # every statement, inside functions and classes too
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for a in node.names:
                sub = f"{target}.{a.name}"
                found.append((sub if sub in modules else target, node.lineno))
    return found


def floor_of(module: str) -> tuple[int, str] | None:
    if module.startswith("pages."):
        return FLOORS["pages"]
    if module == "ui" or module.startswith("ui."):
        return FLOORS["ui"]
    if module == "fer_core" or (module.startswith("fer_core.") and module.split(".")[1] in ENTRY_MODULES):
        return FLOORS["fer_core"]
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        if ".".join(parts[:n]) in FLOORS:
            return FLOORS[".".join(parts[:n])]
    return None


def internal(module: str) -> bool:
    return module.split(".")[0] in ("fer_core", "ui")


def graph(root: Path) -> tuple[dict[str, list[tuple[str, int]]], dict[str, Path]]:
    files = source_files(root)
    modules = set(files)
    return {m: imports_of(m, p, modules) for m, p in files.items()}, files


def violations(root: Path) -> list[str]:
    """What breaks the layering under ``root``: unknown modules, upward or sideways arrows, streamlit in fer_core,
    pages reaching past ui, and import cycles."""
    edges, files = graph(root)
    problems = []
    for module, targets in sorted(edges.items()):
        where = files[module].relative_to(root)
        mine = floor_of(module)
        if mine is None:
            problems.append(f"{where}: {module} belongs to no floor (add its package to FLOORS)")
            continue
        for target, line in targets:
            if module.startswith("fer_core") and target.split(".")[0] in STREAMLIT:
                problems.append(f"{where}:{line}: fer_core imports {target}")
            if module.startswith("pages.") and internal(target) and not (target == "ui" or target.startswith("ui.")):
                problems.append(f"{where}:{line}: a page imports {target}; pages reach fer_core only through ui")
            if not internal(target) or target not in edges:
                continue
            theirs = floor_of(target)
            if theirs is None:
                continue  # reported for the target itself
            if theirs[0] < mine[0] or (theirs[0] == mine[0] and theirs[1] != mine[1]):
                problems.append(f"{where}:{line}: {module} ({mine[1]}, floor {mine[0]}) imports {target} "
                                f"({theirs[1]}, floor {theirs[0]}): an arrow {'up' if theirs[0] < mine[0] else 'sideways'}")
    problems += [f"import cycle: {' -> '.join(c)}" for c in cycles({m: [t for t, _ in ts if t in edges]
                                                                   for m, ts in edges.items()})]
    return problems


def cycles(edges: dict[str, list[str]]) -> list[list[str]]:
    """One path around each cycle of the module graph (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, []):
                found.append(sorted(component) + [sorted(component)[0]])

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


# ---------------------------------------------------------------- the checks

def test_the_code_follows_the_layers_and_has_no_import_cycle():
    problems = violations(REPO)
    assert not problems, "\n".join(problems)


def test_every_lazy_export_of_fer_core_names_an_existing_module():
    import fer_core

    for name, module in fer_core._LAZY.items():
        path = REPO / "fer_core" / Path(*module.split("."))
        assert path.with_suffix(".py").is_file() or (path / "__init__.py").is_file(), f"fer_core.{name} -> {module}"


def test_the_check_sees_imports_inside_functions_relative_ones_and_cycles(tmp_path):
    """The checker itself, on a small tree: an upward import inside a function, a sideways one, streamlit in
    fer_core, a page importing fer_core, and a cycle are each reported; a clean tree is not."""
    def write(rel: str, text: str = "") -> None:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    for pkg in ("fer_core", "fer_core/inference", "fer_core/live", "fer_core/api", "ui"):
        write(f"{pkg}/__init__.py")
    write("fer_core/inference/a.py", "from . import b\n")
    write("fer_core/inference/b.py", "import numpy\n")
    write("fer_core/live/c.py", "from ..inference import a\n")
    write("ui/page.py", "import streamlit\nfrom fer_core.live import c\n")
    write("pages/1_P.py", "from ui import page\n")
    assert violations(tmp_path) == []

    write("fer_core/inference/b.py", "def f():\n    from ..live import c\n")  # up, inside a function
    write("fer_core/api/d.py", "from ..live.c import x\nimport streamlit\n")  # sideways, and streamlit
    write("pages/2_Q.py", "import fer_core.live.c\n")
    found = "\n".join(violations(tmp_path))
    assert "fer_core.inference.b (inference, floor 5) imports fer_core.live.c" in found and "arrow up" in found
    assert "fer_core.api.d (api, floor 4) imports fer_core.live.c" in found and "arrow sideways" in found
    assert "fer_core imports streamlit" in found
    assert "a page imports fer_core.live.c" in found
    assert "import cycle: fer_core.inference.a -> fer_core.inference.b -> fer_core.live.c -> fer_core.inference.a" in found

    write("fer_core/extra.py")
    assert "fer_core.extra belongs to no floor" in "\n".join(violations(tmp_path))


@pytest.mark.parametrize("module", ["fer_core.inference.classifier", "fer_core.live.processor", "ui.webcam"])
def test_floors_of_some_modules(module):
    assert floor_of(module) == {"fer_core.inference.classifier": (5, "inference"), "fer_core.live.processor": (4, "live"),
                                "ui.webcam": (1, "ui")}[module]
