"""Run folders as the app compares them: where they are, each run's status and training state, its evaluations.

Data only, over ``fer_core.runs`` (no Streamlit, no display text): the text and tables the pages show from it are
``ui/run_text.py``'s.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import runs

ENV_RUNS_DIRS = "FER_RUNS_DIRS"  # extra folders of run folders, separated by os.pathsep
COMPLETE, TRAINING, STOPPED, INCOMPLETE = "complete", "training", "stopped", "incomplete"
NOT_EVALUATED = "not evaluated"  # an ensemble run folder without metrics.json yet (it is never trained)
STALE_AFTER_SECONDS = 3600.0  # an unfinished run untouched this long (or 3 epochs' time, if longer) has stopped


# ---------------------------------------------------------------- where runs are

def split_dirs(text: str | None) -> list[str]:
    """Folder names from a text holding one or several, separated by os.pathsep or new lines."""
    if not text:
        return []
    parts = [p for line in text.splitlines() for p in line.split(os.pathsep)]
    return [p.strip() for p in parts if p.strip()]


def runs_roots(extra: str | None = None, env: str | None = None, base: Path | None = None) -> list[Path]:
    """``runs.RUNS_DIR`` then the folders of ``env`` (FER_RUNS_DIRS) and ``extra``; relative ones resolve from ``base``."""
    base = runs.REPO_ROOT if base is None else Path(base)
    roots = [Path(runs.RUNS_DIR)]
    for text in (env, extra):
        for name in split_dirs(text):
            p = Path(name).expanduser()
            roots.append(p if p.is_absolute() else base / p)
    seen, out = set(), []
    for r in roots:
        key = os.path.normcase(os.path.abspath(r))
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and any((path / f).exists() for f in (runs.CONFIG, runs.HISTORY, runs.MODEL, runs.METRICS))


def collect_run_dirs(roots: list[Path]) -> list[Path]:
    """Run folders under each root (a root that is itself a run folder counts as one), without duplicates."""
    seen, out = set(), []
    for root in roots:
        for d in ([root] if is_run_dir(root) else runs.find_runs(root)):
            key = os.path.normcase(os.path.abspath(d))
            if key not in seen:
                seen.add(key)
                out.append(d)
    return out


def run_labels(paths: list[Path]) -> dict[str, str]:
    """A short label per run path: its id, or ``id (parent)`` where two roots hold the same id."""
    counts: dict[str, int] = {}
    for p in paths:
        counts[p.name] = counts.get(p.name, 0) + 1
    return {str(p): p.name if counts[p.name] == 1 else f"{p.name} ({p.parent.name})" for p in paths}


# ---------------------------------------------------------------- one run

@dataclass
class RunSummary:
    """A loaded run plus what the page needs: status, training state and the problems worth a warning."""

    info: runs.RunInfo
    status: str
    state: dict | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return self.info.path

    @property
    def run_id(self) -> str:
        return self.info.run_id

    @property
    def is_ensemble(self) -> bool:
        return self.info.is_ensemble

    @property
    def member_ids(self) -> list[str]:
        """An ensemble's members as written in its config.json (run ids or paths); empty for a trained run."""
        members = self.info.config.get("members") if self.is_ensemble else None
        return [str(m) for m in members] if isinstance(members, list) else []

    @property
    def in_progress(self) -> bool:
        return self.status in (TRAINING, STOPPED)

    @property
    def epochs_done(self) -> int:
        if self.state and isinstance(self.state.get("epochs_done"), (int, float)):
            return int(self.state["epochs_done"])
        if isinstance(self.info.config.get("epochs_done"), (int, float)):
            return int(self.info.config["epochs_done"])
        return len(self.info.history or [])

    @property
    def epochs_planned(self) -> int | None:
        planned = self.info.config.get("epochs_planned", (self.info.config.get("hyperparameters") or {}).get("epochs"))
        return int(planned) if isinstance(planned, (int, float)) else None


def _last_activity(run_dir: Path) -> float:
    times = [run_dir.stat().st_mtime]
    for f in run_dir.iterdir():
        try:
            times.append(f.stat().st_mtime)
        except OSError:
            pass
    return max(times)


def summarize(run_dir: str | os.PathLike, now: float | None = None) -> RunSummary:
    """Load a run folder and classify it: complete, training (unfinished, recently written), stopped or incomplete.

    Files an unfinished run has not written yet (metrics, confusion matrix; history and model before epoch 1)
    are expected, not problems; a corrupt file is always one.
    """
    info = runs.load_run(run_dir)
    path = info.path
    problems = list(info.problems)
    state = None
    if (path / runs.STATE).exists():
        try:
            state = runs.read_json(path / runs.STATE)
        except runs.RunError as e:
            problems.append(str(e))
    unfinished = (state is not None or (path / runs.CHECKPOINT).exists()
                  or (bool(info.config) and not info.config.get("finished")))
    if info.metrics is not None:
        status = COMPLETE
    elif info.is_ensemble:
        status = NOT_EVALUATED
    elif unfinished:
        epoch_secs = [r.get("seconds") or 0.0 for r in info.history or []]
        stale_after = max(STALE_AFTER_SECONDS, 3 * max(epoch_secs, default=0.0))
        now = time.time() if now is None else now
        status = TRAINING if now - _last_activity(path) < stale_after else STOPPED
    else:
        status = INCOMPLETE
    summary = RunSummary(info, status, state)
    if status == NOT_EVALUATED:  # an ensemble gets metrics only when evaluated: their absence is no fault
        problems = [p for p in problems if not any(p.startswith(f"{name} is missing") for name in (runs.METRICS, runs.CONFUSION))]
    if summary.in_progress:
        expected = [runs.METRICS, runs.CONFUSION]
        if summary.epochs_done == 0:
            expected += [runs.HISTORY, runs.MODEL]
        problems = [p for p in problems if not any(p.startswith(f"{name} is missing") for name in expected)]
    summary.problems = problems
    return summary


def summarize_all(run_dirs: list[Path], now: float | None = None) -> tuple[list[RunSummary], list[tuple[Path, str]]]:
    """Summaries of the readable run folders, and (folder, reason) for any that could not be read at all."""
    good, failed = [], []
    for d in run_dirs:
        try:
            good.append(summarize(d, now))
        except (runs.RunError, OSError) as e:
            failed.append((Path(d), str(e)))
    return good, failed


def default_pick(summaries: list[RunSummary], default_dir: Path | None = None) -> list[str]:
    """Runs picked before the user chooses: the shipped default run if it has something to show, else the first
    complete run, else the first."""
    if not summaries:
        return []
    if default_dir is not None:
        for s in summaries:
            if os.path.abspath(s.path) == os.path.abspath(default_dir) and (s.info.history or s.info.metrics):
                return [str(s.path)]
    complete = [s for s in summaries if s.status == COMPLETE]
    return [str((complete or summaries)[0].path)]


def dataset_name(config: dict) -> str | None:
    """``fer2013`` for ``.../fer2013.csv.gz``, ``CK+48`` for a folder: the training data's short name."""
    path = (config.get("dataset") or {}).get("path") if isinstance(config.get("dataset"), dict) else None
    if not path:
        return None
    name = Path(str(path).rstrip("/\\")).name
    for suffix in (".csv.gz", ".csv", ".zip"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def training_data_extras(config: dict) -> list[str]:
    """What a run trained on besides its dataset's own labels: ``["FER+ votes (0.15)", "CK+48"]`` from its
    ``--ferplus`` / ``--ferplus-weight`` and ``--mix`` hyperparameters; empty when it used neither."""
    hp = config.get("hyperparameters") if isinstance(config.get("hyperparameters"), dict) else {}
    extras = []
    if hp.get("ferplus"):
        weight = hp.get("ferplus_weight")
        extras.append(f"FER+ votes ({weight:g})" if isinstance(weight, (int, float)) else "FER+ votes")
    if hp.get("mix"):
        extras.append(Path(str(hp["mix"]).rstrip("/\\")).name)
    return extras


def training_data_text(config: dict) -> str | None:
    """The training data in a few words: the dataset's short name, plus FER+ votes and a mixed-in folder where the
    run used them (``fer2013 + FER+ votes (0.15) + CK+48``), so runs on different data don't read alike."""
    name = dataset_name(config)
    if name is None:
        return None
    return " + ".join([name, *training_data_extras(config)])


def best_val_accuracy(s: RunSummary) -> float | None:
    best = s.info.config.get("best_val_accuracy")
    if isinstance(best, (int, float)) and best >= 0:
        return float(best)
    vals = [r["val_accuracy"] for r in s.info.history or [] if r.get("val_accuracy") is not None]
    return max(vals) if vals else None


def training_seconds(s: RunSummary) -> float | None:
    secs = s.info.config.get("train_seconds")
    if isinstance(secs, (int, float)):
        return float(secs)
    vals = [r["seconds"] for r in s.info.history or [] if r.get("seconds") is not None]
    return float(sum(vals)) if vals else None


# ---------------------------------------------------------------- evaluations

OWN_EVALUATION = "(training evaluation)"


@dataclass
class Evaluation:
    """One set of metrics + confusion matrix of a run: its own (written at the end of training) or a later one."""

    name: str
    path: Path
    metrics: dict | None = None
    labels: list[str] | None = None
    matrix: np.ndarray | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.matrix is not None or self.metrics is not None


def load_evaluation(path: str | os.PathLike, name: str | None = None) -> Evaluation:
    """Read ``metrics.json`` (its fields checked as ``runs.load_run`` does) and ``confusion_matrix.csv`` of a folder,
    collecting problems instead of failing."""
    path = Path(path)
    ev = Evaluation(name or path.name, path)
    try:
        ev.metrics, bad = runs.checked_metrics(runs.read_json(path / runs.METRICS), str(path / runs.METRICS))
        ev.problems += bad
    except (runs.RunError, OSError) as e:
        ev.problems.append(str(e))
    try:
        ev.labels, ev.matrix = runs.read_confusion(path / runs.CONFUSION)
    except (runs.RunError, OSError) as e:
        ev.problems.append(str(e))
    return ev


def run_evaluations(s: RunSummary) -> list[Evaluation]:
    """The run's own evaluation (if any) first, then ``evaluations/<name>/`` newest first."""
    out = []
    if s.info.metrics is not None or s.info.confusion is not None:
        labels, matrix = s.info.confusion if s.info.confusion else (None, None)
        out.append(Evaluation(OWN_EVALUATION, s.path, s.info.metrics, labels, matrix))
    out += [load_evaluation(d) for d in reversed(runs.find_evaluations(s.path))]
    return out


# ---------------------------------------------------------------- confusion matrices

def row_normalise(cm: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (recall per true class on the diagonal); empty rows stay zero."""
    cm = np.asarray(cm, dtype=np.float64)
    sums = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, sums, out=np.zeros_like(cm), where=sums > 0)
