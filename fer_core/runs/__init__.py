"""The run folder: one training (or evaluation) run as plain files that the CLI writes and the app reads.

Schema (``models/runs/<run_id>/``):
  config.json            everything to reproduce the run (data, classes, architecture, hyper-parameters, versions, device, times)
  history.csv            epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds (one row per epoch)
  metrics.json           dataset, split, n, labels, accuracy, macro_f1, per_class {label: precision, recall, f1, support},
                         backend (what ran the model: tensorflow, onnxruntime or onnxruntime-int8; an ensemble
                         whose members ran on different ones names them joined by "+")
                         (+ "tta": the same with test-time augmentation, its "method" naming the mode: flip or crops)
                         (+ "unseen": the same on the images with no pixel-for-pixel copy in "compared_with", e.g.
                         Training; "copies_left_out" counts the others; FER2013 repeats about 8% of PublicTest there)
  confusion_matrix.csv   true label per row, predicted label per column, counts; first column "true", header = labels
  model.keras            the selected (best validation) model
  model.onnx             (optional) the same model as ONNX, run by ONNX Runtime when it matches model.keras
  model.int8.onnx        (optional) model.onnx quantized to int8, preferred by the default backend when it matches
  checkpoint.keras, state.json   the latest epoch, for resuming (removed when training finishes)
  evaluations/<name>/    later evaluations: metrics.json + confusion_matrix.csv in the same schema

Ensemble run folder (``python -m fer_core.ensemble``): config.json says ``"kind": "ensemble"`` and lists
``"members"`` (run ids, resolved relative to the ensemble folder's parent, i.e. sibling run folders; or paths,
relative to that parent or absolute), plus ``labels`` and ``inference`` ({"tta": false | true | "none" | "flip" |
"crops"}). It has no model.keras and no history.csv of its own: the model is built at load time from the
members' model.keras files and averages their softmax outputs (members must share labels and input shape). Where
the ensemble has no model.onnx of its own, that average runs on each member's model.int8.onnx / model.onnx.
metrics.json, confusion_matrix.csv and evaluations/ are as above.
"""
from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CONFIG, HISTORY, METRICS, CONFUSION, MODEL = "config.json", "history.csv", "metrics.json", "confusion_matrix.csv", "model.keras"
CHECKPOINT, STATE, EVALUATIONS = "checkpoint.keras", "state.json", "evaluations"
ONNX_MODEL = "model.onnx"
ONNX_INT8_MODEL = "model.int8.onnx"  # the same network quantized (onnx_backend.quantize_int8)
ENSEMBLE = "ensemble"  # config.json "kind" of an ensemble run folder
OPTIONAL_HISTORY_COLUMNS = ("ema_val_accuracy", "test_accuracy", "ema_test_accuracy")  # written only by runs that use them
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds") + OPTIONAL_HISTORY_COLUMNS
REPO_ROOT = Path(__file__).resolve().parents[2]
RUNS_DIR = REPO_ROOT / "models" / "runs"
DEFAULT_FILE = REPO_ROOT / "models" / "default.json"


class RunError(ValueError):
    """A run folder or one of its files is missing or malformed; the message says which."""


def write_json(path: Path, data: dict) -> None:
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_json_default) + "\n")
    os.replace(tmp, path)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"Not JSON serialisable: {type(o).__name__}")


def _finite_or_none(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def read_json(path: Path) -> dict:
    """A JSON object from a run folder. ``NaN``, ``Infinity`` (which Python's json writes for non-finite floats) and
    numbers overflowing a float read as null, i.e. missing. ``RunError`` for a missing file, text that is not JSON
    (binary, truncated, nested too deep, an integer of over 4300 digits) or JSON that is not an object."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(), parse_constant=lambda _: None, parse_float=_finite_or_none)
    except FileNotFoundError:
        raise RunError(f"{path.name} is missing in {path.parent}") from None
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise RunError(f"{path} is not valid JSON: {str(e)[:200]}") from None
    if not isinstance(data, dict):
        raise RunError(f"{path} should hold a JSON object. Received: {type(data).__name__}")
    return data


NUMBER, TEXT, OBJECT, LIST, FLAG, LABELS = ("a number", "text", "an object", "a list", "true or false",
                                            "a list of distinct label names")
# The fields of config.json and metrics.json that the app reads, and what each must hold (null always counts as
# missing). ``load_run`` drops a field of another kind, so every reader can trust these, and lists it as a problem.
CONFIG_FIELDS = {"run_id": TEXT, "architecture": TEXT, "device": TEXT, "kind": TEXT, "labels": LABELS,
                 "n_params": NUMBER, "epochs_planned": NUMBER, "epochs_done": NUMBER, "best_epoch": NUMBER,
                 "best_val_accuracy": NUMBER, "train_seconds": NUMBER, "finished": FLAG, "dataset": OBJECT,
                 "init_from": OBJECT, "inference": OBJECT, "hyperparameters": OBJECT, "members": LIST,
                 "input_shape": LIST}
METRICS_FIELDS = {"dataset": TEXT, "split": TEXT, "backend": TEXT, "method": TEXT, "labels": LABELS, "n": NUMBER,
                  "accuracy": NUMBER, "macro_f1": NUMBER, "per_class": OBJECT, "tta": OBJECT, "unseen": OBJECT,
                  "compared_with": TEXT, "copies_left_out": NUMBER}
PER_CLASS_FIELDS = {"precision": NUMBER, "recall": NUMBER, "f1": NUMBER, "support": NUMBER}


def _is_kind(value, kind: str) -> bool:
    if value is None:
        return True
    if kind == NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == LABELS:
        return (isinstance(value, list) and bool(value) and all(isinstance(v, str) and v.strip() for v in value)
                and len(set(value)) == len(value))
    return isinstance(value, {TEXT: str, OBJECT: dict, LIST: list, FLAG: bool}[kind])


def checked_fields(data: dict, fields: dict[str, str], where: str) -> tuple[dict, list[str]]:
    """``data`` without the ``fields`` whose value is not of the kind named there, and one problem per field dropped."""
    clean, problems = dict(data), []
    for key, kind in fields.items():
        if key in clean and not _is_kind(clean[key], kind):
            problems.append(f"{where}: \"{key}\" should be {kind}; ignored. Received: {str(clean.pop(key))[:80]}")
    return clean, problems


def checked_metrics(metrics: dict, where: str) -> tuple[dict, list[str]]:
    """A metrics.json object with ``METRICS_FIELDS`` checked, each class of ``per_class`` by ``PER_CLASS_FIELDS``,
    and its ``tta`` and ``unseen`` blocks as metrics objects of their own."""
    clean, problems = checked_fields(metrics, METRICS_FIELDS, where)
    if isinstance(clean.get("per_class"), dict):
        per_class = {}
        for name, scores in clean["per_class"].items():
            if isinstance(scores, dict):
                per_class[name], bad = checked_fields(scores, PER_CLASS_FIELDS, f"{where}: per_class {name!r}")
                problems += bad
            else:
                problems.append(f"{where}: per_class {name!r} should be {OBJECT}; ignored. Received: {str(scores)[:80]}")
        clean["per_class"] = per_class
    for block in ("tta", "unseen"):
        if isinstance(clean.get(block), dict):
            clean[block], bad = checked_metrics({k: v for k, v in clean[block].items() if k not in (block, "unseen")},
                                                f"{where}: {block}")
            problems += bad
    return clean, problems


def append_history(run_dir: Path, row: dict) -> None:
    """Append one epoch's row; a column the file lacks (an optional one, e.g. ``ema_val_accuracy`` switched on when a
    run resumed) is added to its header, earlier rows left blank there."""
    path = Path(run_dir) / HISTORY
    columns = [c for c in HISTORY_COLUMNS if c in row or c not in OPTIONAL_HISTORY_COLUMNS]
    if path.exists():
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            old_columns, old_rows = list(reader.fieldnames or []), list(reader)
        if all(c in old_columns for c in columns):
            with open(path, "a", newline="") as fh:
                csv.DictWriter(fh, fieldnames=old_columns, extrasaction="ignore").writerow(row)
            return
        columns = old_columns + [c for c in columns if c not in old_columns]
    else:
        old_rows = []
    tmp = Path(str(path) + ".tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(old_rows + [row])
    os.replace(tmp, path)


def read_history(run_dir: Path) -> list[dict]:
    """history.csv as one dict of floats per epoch; an empty or non-finite cell (a diverged epoch's ``nan`` loss)
    reads as None, and a row without an epoch number is skipped. ``RunError`` for a missing file, one that is not CSV
    text, or a cell that is not a number."""
    path = Path(run_dir) / HISTORY
    if not path.exists():
        raise RunError(f"{HISTORY} is missing in {run_dir}")
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in ("epoch", "loss", "accuracy") if c not in (reader.fieldnames or [])]
            if missing:
                raise RunError(f"{path} lacks columns {missing}. Received: columns={reader.fieldnames}")
            rows = []
            for i, r in enumerate(reader, start=2):
                try:
                    row = {k: (_finite_or_none(v) if v not in ("", None) else None) for k, v in r.items()
                           if k in HISTORY_COLUMNS}
                except ValueError:
                    raise RunError(f"{path}, row {i}: expected numbers. Received: {str(dict(r))[:200]}") from None
                if row.get("epoch") is not None:  # a row without its epoch number cannot be placed on a curve
                    rows.append(row)
    except (UnicodeDecodeError, csv.Error) as e:  # binary data, a NUL byte, a field beyond csv's size limit
        raise RunError(f"{path} is not readable CSV text: {str(e)[:200]}") from None
    return rows


def write_confusion(path: Path, labels: list[str] | tuple[str, ...], matrix: np.ndarray) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["true", *labels])
        for name, row in zip(labels, np.asarray(matrix)):
            w.writerow([name, *[int(v) for v in row]])


def read_confusion(path: Path) -> tuple[list[str], np.ndarray]:
    path = Path(path)
    if not path.exists():
        raise RunError(f"{path.name} is missing in {path.parent}")
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except (UnicodeDecodeError, csv.Error) as e:
        raise RunError(f"{path} is not readable CSV text: {str(e)[:200]}") from None
    if len(rows) < 2:
        raise RunError(f"{path} is empty or has no rows.")
    labels = rows[0][1:]
    try:
        matrix = np.array([[int(v) for v in r[1:]] for r in rows[1:]], dtype=np.int64)
    except (ValueError, OverflowError):
        raise RunError(f"{path}: counts must be integers (below 2**63).") from None
    if (matrix < 0).any():
        raise RunError(f"{path}: counts must not be negative. Received: min={int(matrix.min())}")
    if matrix.shape != (len(labels), len(labels)) or [r[0] for r in rows[1:]] != labels:
        raise RunError(f"{path}: expected a square matrix labelled {labels}. Received: shape={matrix.shape}")
    return labels, matrix


def is_ensemble(config: dict | None) -> bool:
    return isinstance(config, dict) and config.get("kind") == ENSEMBLE


def ensemble_members(run_dir: str | os.PathLike, config: dict) -> list[Path]:
    """The member run folders of an ensemble's config (they may not exist): each entry of ``members`` is a run id
    or a path, relative ones resolved from the ensemble folder's parent directory."""
    members = config.get("members")
    if not isinstance(members, list) or not members or not all(isinstance(m, str) and m.strip() for m in members):
        raise RunError(f"{Path(run_dir) / CONFIG}: an ensemble needs \"members\", a non-empty list of run ids or paths. "
                       f"Received: members={members!r}")
    parent = Path(run_dir).parent
    out = []
    for m in members:
        path = Path(m).expanduser()
        out.append(path if path.is_absolute() else parent / path)
    return out


def has_model(run_dir: str | os.PathLike, config: dict | None = None, _seen: frozenset = frozenset()) -> bool:
    """Whether the run folder can be loaded as a model: its model.keras, or for an ensemble every member's
    (an ensemble containing itself has none)."""
    run_dir = Path(run_dir)
    key = os.path.normcase(os.path.abspath(run_dir))
    if key in _seen:
        return False
    if config is None:
        try:
            config = read_json(run_dir / CONFIG) if (run_dir / CONFIG).is_file() else {}
        except RunError:
            config = {}
    if not is_ensemble(config):
        return (run_dir / MODEL).is_file()
    try:
        return all(has_model(d, _seen=_seen | {key}) for d in ensemble_members(run_dir, config))
    except RunError:
        return False


@dataclass
class RunInfo:
    """What the app lists for a run: its files as far as they could be read, and what is wrong with the rest."""

    path: Path
    config: dict = field(default_factory=dict)
    metrics: dict | None = None
    history: list[dict] | None = None
    confusion: tuple[list[str], np.ndarray] | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def is_ensemble(self) -> bool:
        return is_ensemble(self.config)

    @property
    def members(self) -> list[Path]:
        """An ensemble's member run folders (empty for a trained run or an unreadable member list)."""
        if not self.is_ensemble:
            return []
        try:
            return ensemble_members(self.path, self.config)
        except RunError:
            return []

    @property
    def has_model(self) -> bool:
        return has_model(self.path, self.config)


def load_run(run_dir: str | os.PathLike) -> RunInfo:
    """Read every file of a run folder, collecting problems instead of failing on the first.

    An ensemble (config.json ``"kind": "ensemble"``) has no history.csv or model.keras of its own; a member
    missing, or without its model.keras, is a problem instead. Fields of config.json and metrics.json of the wrong
    kind (``CONFIG_FIELDS``, ``METRICS_FIELDS``) are dropped, each a problem too."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"Run folder not found. Received: path={str(run_dir)!r}")
    info = RunInfo(run_dir)
    try:
        info.config, bad = checked_fields(read_json(run_dir / CONFIG), CONFIG_FIELDS, str(run_dir / CONFIG))
        info.problems += bad
    except (RunError, OSError) as e:
        info.problems.append(str(e))

    def metrics() -> dict:
        checked, bad = checked_metrics(read_json(run_dir / METRICS), str(run_dir / METRICS))
        info.problems.extend(bad)
        return checked

    loaders = [("metrics", metrics),
               ("confusion", lambda: read_confusion(run_dir / CONFUSION))]
    if not info.is_ensemble:
        loaders.insert(1, ("history", lambda: read_history(run_dir)))
    for attr, loader in loaders:
        try:
            setattr(info, attr, loader())
        except (RunError, OSError) as e:
            info.problems.append(str(e))
    if info.is_ensemble:
        try:
            members = ensemble_members(run_dir, info.config)
        except RunError as e:
            info.problems.append(str(e))
            members = []
        for ref, d in zip(info.config.get("members") or [], members):
            if not d.is_dir():
                info.problems.append(f"ensemble member {ref!r} not found: expected a run folder at {d}")
            elif not has_model(d):
                info.problems.append(f"ensemble member {ref!r} has no {MODEL} (in {d})")
    elif not info.has_model:
        info.problems.append(f"{MODEL} is missing in {run_dir}")
    return info


def find_runs(*roots: str | os.PathLike) -> list[Path]:
    """Run folders (sub-folders holding a config.json, history.csv or model.keras) under each root, sorted."""
    found = []
    for root in roots or (RUNS_DIR,):
        root = Path(root)
        if not root.is_dir():
            continue
        for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if any((d / f).exists() for f in (CONFIG, HISTORY, MODEL, METRICS)):
                found.append(d)
    return found


def default_run_dir() -> Path:
    """The run declared as the shipped default in ``models/default.json`` (``{"run": "runs/<id>"}``)."""
    data = read_json(DEFAULT_FILE)
    if "run" not in data:
        raise RunError(f"{DEFAULT_FILE} must name the default run as {{\"run\": \"runs/<id>\"}}. Received: {data}")
    return (DEFAULT_FILE.parent / data["run"]).resolve()


def find_evaluations(run_dir: str | os.PathLike) -> list[Path]:
    """Sub-folders of ``<run>/evaluations/`` holding a metrics.json or confusion_matrix.csv, oldest name first."""
    root = Path(run_dir) / EVALUATIONS
    if not root.is_dir():
        return []
    return sorted(d for d in root.iterdir()
                  if d.is_dir() and not d.name.startswith(".") and any((d / f).exists() for f in (METRICS, CONFUSION)))


def new_evaluation_dir(run_dir: str | os.PathLike, dataset_name: str, when=None) -> Path:
    """A fresh ``<run>/evaluations/<dataset-name>-<YYYYmmdd-HHMMSS>/`` path (not created; suffixed if taken)."""
    import re
    from datetime import datetime

    slug = re.sub(r"[^A-Za-z0-9_.+-]+", "_", dataset_name).strip("._-") or "dataset"
    stamp = (when or datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = Path(run_dir) / EVALUATIONS / f"{slug}-{stamp}"
    path, i = base, 2
    while path.exists():
        path, i = base.with_name(f"{base.name}-{i}"), i + 1
    return path
