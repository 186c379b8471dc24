"""CLI: ``python -m fer_core.ensemble --members RUN RUN [...] --out models/runs/NAME [--data CSV --usage PublicTest]
[--tta none|flip|crops] [--cascade-threshold T] [--holdout --selection TEXT] [--note TEXT]``.

Writes an ensemble run folder: a config.json with ``"kind": "ensemble"`` naming the member runs (no model file: the
members' model.keras files are averaged at load time), and with ``--data`` its evaluation (metrics.json and
confusion_matrix.csv, the run-folder schema). Loaded, it runs each member's own
model.int8.onnx / model.onnx (the members' averaged outputs); ``python -m fer_core.export_onnx ENSEMBLE [--int8
...]`` can instead write the averaged network as one model.onnx / model.int8.onnx of its own (a copy of all the
members' weights), which then takes precedence. ``--holdout`` also scores it on the FER2013 CSV's fixed holdout (the
split that picks models) into ``evaluations/holdout-<backend>-<tta>/`` and records that accuracy as
``best_val_accuracy`` with ``--selection`` saying how the mix was picked: the figures the runs table and model card
show. ``--cascade-threshold T`` makes it a cascade (config.json ``cascade``): the first member alone on the faces where
its top probability is at least T, the average of all members on the rest; ``benchmarks/bench_cascade.py`` sweeps T
on the holdout. Members sharing the ensemble's parent folder are stored by run id,
others by a path relative to that parent.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

from .. import runs
from ..inference.classifier import TTA_MODES, Classifier, ModelLoadError, load_classifier
from .data import HOLDOUT, DatasetError, fer2013_training_copies, load_dataset
from .evaluation import evaluate, format_table, write_evaluation


def member_reference(member: Path, out: Path) -> str:
    """How config.json names a member: its run id when it sits beside the ensemble, else a path relative to the
    ensemble's parent folder (absolute when there is none, e.g. another drive)."""
    member, parent = member.resolve(), out.resolve().parent
    if member.parent == parent:
        return member.name
    try:
        return Path(os.path.relpath(member, parent)).as_posix()
    except ValueError:
        return str(member)


def ensemble_config(out: Path, members: list[Path], tta: str, cascade: float | None = None) -> dict:
    """The config.json of an ensemble of ``members`` written to ``out`` (labels and n_params are added once loaded);
    ``cascade``: the first member's threshold (see ``Classifier.cascade_members``), None to always average."""
    member_configs = []
    for m in members:
        try:
            member_configs.append(runs.read_json(m / runs.CONFIG) if (m / runs.CONFIG).is_file() else {})
        except runs.RunError:
            member_configs.append({})
    refs = [member_reference(m, out) for m in members]
    archs = [c.get("architecture") or "?" for c in member_configs]
    described = ", ".join(f"{Path(r).name} ({a})" for r, a in zip(refs, archs))
    if cascade is None:
        description = f"Average of the softmax outputs of {described}."
    else:
        description = (f"Cascade: {Path(refs[0]).name} alone on the faces where its top probability is at least "
                       f"{cascade:g}; elsewhere the average of the softmax outputs of {described}.")
    config = {
        "kind": runs.ENSEMBLE,
        "run_id": out.name,
        "members": refs,
        "architecture": runs.ENSEMBLE,
        "architecture_description": description,
        "member_architectures": dict(zip(refs, archs)),
        "inference": {"tta": tta},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "finished": True,
    }
    if cascade is not None:
        config["cascade"] = {"threshold": cascade}
    datasets = [c.get("dataset") for c in member_configs]
    paths = {(d or {}).get("path") if isinstance(d, dict) else None for d in datasets}
    if len(paths) == 1 and None not in paths:  # all members trained on the same data: the ensemble's too
        config["dataset"] = datasets[0]
    equalize = {((c.get("inference") or {}).get("equalize") or "none") for c in member_configs}
    if len(equalize) > 1:
        raise ValueError(f"Ensemble members must see photo crops alike. Expected one inference.equalize. "
                         f"Received: {sorted(equalize)}")
    config["inference"]["equalize"] = equalize.pop() if equalize else "none"
    return config


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fer_core.ensemble", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--members", nargs="+", required=True, help="two or more run folders (each with model.keras)")
    p.add_argument("--out", required=True, help="the ensemble run folder to write, e.g. models/runs/fer_vgg_ens")
    p.add_argument("--data", help="FER2013 CSV (.csv/.csv.gz) or a folder of class folders to evaluate it on")
    p.add_argument("--usage", default=None, help="FER2013 rows to use (Training, PublicTest, PrivateTest); default all")
    p.add_argument("--tta", choices=TTA_MODES, default="flip",
                   help="test-time augmentation the ensemble uses (config.json inference.tta) and that the "
                        "evaluation reports (metrics.json \"tta\"); default flip")
    p.add_argument("--cascade-threshold", type=float, default=None, metavar="T",
                   help="a cascade instead of a plain average: the first member alone on faces where its top "
                        "probability is at least T (0-1), all members averaged on the rest (pick T with "
                        "benchmarks/bench_cascade.py on the holdout)")
    p.add_argument("--holdout", action="store_true",
                   help="also score the ensemble (without TTA, and with --tta) on the fixed holdout of the FER2013 "
                        "CSV --data, the split that picks models; recorded as best_val_accuracy")
    p.add_argument("--selection", default=None,
                   help="with --holdout: how the members were picked, in words that follow 'the members are' on the model "
                        "card (config.json selection.what), e.g. 'the mix of up to three shipped nets with the best "
                        "holdout accuracy'; default: runs named by hand")
    p.add_argument("--note", default=None, help="why this TTA, in words (config.json inference_note, on the card)")
    return p


def record_holdout(out: Path, config: dict, clf: Classifier, data: str, tta: str, selection: str | None) -> dict:
    """Score the ensemble on ``data``'s fixed holdout, save that evaluation beside it and record its accuracy (no TTA:
    the figure a mix search compares) in ``config`` as ``best_val_accuracy``; returns the holdout metrics."""
    from .trainer import load_holdout

    hold = load_holdout(data)
    metrics, cm = evaluate(clf, hold, tta=tta)
    metrics["model"] = out.name
    name = f"{HOLDOUT}-{metrics.get('backend', 'model').removeprefix('onnxruntime-')}-{tta}"
    write_evaluation(out / runs.EVALUATIONS / name, metrics, cm)
    config["selection"] = {"split": hold.split, "what": selection or "runs named by hand, not picked on this figure"}
    config["best_val_accuracy"] = metrics["accuracy"]
    config["best_val_note"] = f"the ensemble's own {hold.split} accuracy without TTA (evaluations/{name})"
    return metrics


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    out = Path(args.out)
    members = [Path(m) for m in args.members]
    if len(members) < 2:
        print(f"error: an ensemble needs at least two members. Received: members={args.members}", file=sys.stderr)
        return 2
    if args.holdout and (not args.data or Path(args.data).is_dir()):
        print(f"error: --holdout needs --data to be a FER2013 CSV. Received: data={args.data}", file=sys.stderr)
        return 2
    if args.selection and not args.holdout:
        print(f"error: --selection describes the --holdout pick; add --holdout. Received: selection={args.selection!r}",
              file=sys.stderr)
        return 2
    if args.cascade_threshold is not None and not 0 <= args.cascade_threshold <= 1:
        print(f"error: --cascade-threshold must be from 0 to 1. Received: cascade_threshold={args.cascade_threshold}",
              file=sys.stderr)
        return 2
    if any(m.resolve() == out.resolve() for m in members):
        print(f"error: --out must not be one of the members. Received: out={args.out}", file=sys.stderr)
        return 2
    if out.exists():
        existing = {}
        try:
            existing = runs.read_json(out / runs.CONFIG) if (out / runs.CONFIG).is_file() else {}
        except runs.RunError:
            pass
        if (out / runs.MODEL).exists() or (existing and not runs.is_ensemble(existing)):
            print(f"error: {out} holds a trained run; choose a new folder for the ensemble. Received: out={args.out}",
                  file=sys.stderr)
            return 2
    try:
        config = ensemble_config(out, members, args.tta, args.cascade_threshold)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    # a previous ensemble's evaluations and exported models would no longer apply
    for stale in (runs.METRICS, runs.CONFUSION, runs.ONNX_MODEL, runs.ONNX_INT8_MODEL):
        (out / stale).unlink(missing_ok=True)
    shutil.rmtree(out / runs.EVALUATIONS, ignore_errors=True)
    runs.write_json(out / runs.CONFIG, config)
    try:
        clf = load_classifier(out)
    except ModelLoadError as e:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        else:
            (out / runs.CONFIG).unlink(missing_ok=True)
        print(f"error: {e}", file=sys.stderr)
        return 2
    config.update(labels=list(clf.labels), input_shape=list(clf.input_shape), n_params=clf.n_params)
    if args.note:
        config["inference_note"] = args.note
    if args.holdout:
        try:
            hold = record_holdout(out, config, clf, args.data, args.tta, args.selection)
        except (DatasetError, FileNotFoundError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"{hold['split']}: accuracy {hold['accuracy']:.4f}   macro-F1 {hold['macro_f1']:.4f}   n={hold['n']}")
    runs.write_json(out / runs.CONFIG, config)
    print(f"Wrote {out / runs.CONFIG}: ensemble of {', '.join(config['members'])} "
          f"({clf.n_params:,} parameters, inference TTA {args.tta})")
    if args.data:
        try:
            ds = load_dataset(args.data, usage=args.usage, size=clf.input_shape[0])
            copies = fer2013_training_copies(args.data, ds, args.usage)
        except (DatasetError, FileNotFoundError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        metrics, cm = evaluate(clf, ds, tta=args.tta, copies=copies)
        metrics["model"] = out.name
        print(format_table(metrics))
        print(f"Wrote {write_evaluation(out, metrics, cm)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
