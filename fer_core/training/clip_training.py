"""Subject-wise k-fold training of a clip architecture into one run folder (the standard run schema).

Every fold trains the same recipe for a fixed number of epochs on the other folds' subjects; the held-out fold is
only scored, never used to pick an epoch or drive the learning rate (ReduceLROnPlateau watches the training loss),
so the k-fold figure is an honest estimate for unseen people. The shipped ``model.keras`` is then trained the same
way on all subjects. ``history.csv`` holds the per-epoch mean over the folds (``val_*`` = held-out subjects),
``metrics.json``/``confusion_matrix.csv`` pool every fold's held-out predictions.

With ``pretrain`` (a FER2013 CSV) the per-frame CNN is first trained as an image classifier on FER2013's Training
images, once, and every fold (and the final model) starts from those weights: a different dataset, so no CK+
subject leaks into any fold, and the transfer lifts the hard sad/angry/fear folds.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .. import runs
from .clip_data import ClipDataset, load_clip_folder, subject_folds
from .evaluation import confusion_matrix, metrics_from_confusion
from .architectures import get_spec
from .trainer import save_inference_model

log = logging.getLogger(__name__)


@dataclass
class ClipTrainConfig:
    """A k-fold clip run; ``None`` fields take the architecture's recipe default."""

    data: str
    out: str
    arch: str = "ck_convlstm"
    classes: int | str | tuple[str, ...] = 5
    folds: int = 5
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    label_smoothing: float | None = None
    augment: bool = True
    class_weight: bool = False  # weight the loss by inverse class frequency (small classes count as much)
    final_model: str = "all"  # "all": retrain on every subject; "none": keep the best fold's model (faster)
    pretrain: str | None = None  # FER2013 CSV: first train the per-frame CNN on its Training images (transfer)
    pretrain_epochs: int | None = None
    seed: int = 0

    def resolved(self) -> "ClipTrainConfig":
        recipe = get_spec(self.arch).recipe
        if recipe.get("kind") != "clip":
            raise ValueError(f"{self.arch!r} is not a clip architecture (its recipe lacks kind='clip').")
        if self.final_model not in ("all", "none"):
            raise ValueError(f"final_model must be 'all' or 'none'. Received: final_model={self.final_model!r}")
        defaults = {"epochs": 60, "batch_size": 32, "lr": 1e-3, "label_smoothing": 0.0, "pretrain_epochs": 10}
        if self.pretrain:  # fine-tuning a pre-trained frame CNN has its own recipe values
            recipe = {**recipe, "lr": recipe.get("finetune_lr", recipe.get("lr")),
                      "epochs": recipe.get("finetune_epochs", recipe.get("epochs"))}
        values = {k: (getattr(self, k) if getattr(self, k) is not None else recipe.get(k, d)) for k, d in defaults.items()}
        return dataclasses.replace(self, **values)


def augment_clips(clips: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random flip, rotation (+-10 deg), zoom (+-10 %), shift (+-8 %) and brightness/contrast, the same for every frame
    of a clip (uint8 ``(N, T, H, W)`` in and out; OpenCV warps, far cheaper than doing it in the graph on a CPU)."""
    n, t, h, w = clips.shape
    out = np.empty_like(clips)
    for i in range(n):
        m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-10, 10), rng.uniform(0.9, 1.1))
        m[:, 2] += rng.uniform(-0.08, 0.08, 2) * (w, h)
        if rng.random() < 0.5:
            m[0] = -m[0]
            m[0, 2] += w - 1
        contrast, bright = rng.uniform(0.8, 1.2), rng.uniform(-20, 20)
        for j in range(t):
            f = cv2.warpAffine(clips[i, j], m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
            f = (f.astype(np.float32) - f.mean()) * contrast + f.mean() + bright
            out[i, j] = np.clip(f, 0, 255)
    return out


def _batches(x: np.ndarray, y: np.ndarray, n_classes: int, batch_size: int, seed: int, augment: bool):
    """A Keras ``PyDataset`` of shuffled (augmented) batches, re-augmented every epoch."""
    import keras

    class ClipBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.on_epoch_end()

        def __len__(self):
            return int(np.ceil(len(x) / batch_size))

        def on_epoch_end(self):
            self.order = self.rng.permutation(len(x))

        def __getitem__(self, i):
            idx = self.order[i * batch_size:(i + 1) * batch_size]
            xb = augment_clips(x[idx], self.rng) if augment else x[idx]
            return xb[..., None].astype(np.float32), np.eye(n_classes, dtype=np.float32)[y[idx]]

    return ClipBatches()


def pretrain_frames(cfg: ClipTrainConfig, frame_shape: tuple[int, int, int], verbose: int = 0) -> tuple[list, dict]:
    """Train the architecture's per-frame CNN as a 7-class image classifier on FER2013's Training images; returns
    its weights and a record for config.json. FER2013 holds none of CK+'s subjects, so no fold sees its test people."""
    import keras
    from keras import layers

    from .data import load_fer2013

    t0 = time.time()
    spec = get_spec(cfg.arch)
    ds = load_fer2013(cfg.pretrain, "Training")
    keras.utils.set_random_seed(cfg.seed)
    cnn = spec.builder((1, *frame_shape), 2).get_layer(spec.recipe.get("frame_layer", "frames")).layer
    inp = keras.Input((1, *frame_shape))
    x = layers.Flatten()(layers.TimeDistributed(cnn)(inp))
    x = layers.Dropout(0.4)(x)
    model = keras.Model(inp, layers.Dense(len(ds.label_names), activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(spec.recipe.get("lr", cfg.lr)), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    images = ds.images[:, None]
    if images.shape[2:] != frame_shape[:2]:
        images = np.stack([[cv2.resize(im[0], frame_shape[1::-1], interpolation=cv2.INTER_AREA)] for im in images])
    hist = model.fit(_batches(images, ds.labels, len(ds.label_names), 128, cfg.seed, True),
                     epochs=cfg.pretrain_epochs, verbose=verbose)
    record = {"data": str(cfg.pretrain), "usage": "Training", "n_images": len(ds), "labels": list(ds.label_names),
              "epochs": cfg.pretrain_epochs, "final_accuracy": float(hist.history["accuracy"][-1]),
              "seconds": round(time.time() - t0, 1)}
    log.info("Pre-trained the frame CNN on %d FER2013 images: training accuracy %.3f (%.0fs)", len(ds),
             record["final_accuracy"], record["seconds"])
    return cnn.get_weights(), record


def _fit(cfg: ClipTrainConfig, train: ClipDataset, test: ClipDataset | None, seed: int, verbose: int,
         frame_weights: list | None = None):
    """Train one model on ``train`` (``test`` only scored per epoch); returns (model, keras history dict)."""
    import keras

    keras.utils.set_random_seed(seed)
    spec = get_spec(cfg.arch)
    n = len(train.label_names)
    input_shape = (*train.clips.shape[1:], 1)
    model = spec.builder(input_shape, n)
    if frame_weights is not None:
        model.get_layer(spec.recipe.get("frame_layer", "frames")).layer.set_weights(frame_weights)
    model.compile(optimizer=keras.optimizers.Adam(cfg.lr),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing), metrics=["accuracy"])
    fit_train = _batches(train.clips, train.labels, n, cfg.batch_size, seed, cfg.augment)
    fit_val = (test.clips[..., None].astype(np.float32), np.eye(n, dtype=np.float32)[test.labels]) if test is not None else None
    recipe = spec.recipe
    timer = _epoch_timer()
    callbacks = [timer, keras.callbacks.ReduceLROnPlateau(
        monitor="loss", factor=recipe.get("plateau_factor", 0.5), patience=recipe.get("plateau_patience", 5),
        min_lr=recipe.get("min_lr", 1e-5))]
    weights = None
    if cfg.class_weight:
        counts = np.bincount(train.labels, minlength=n)
        weights = {c: float(len(train.labels) / (n * max(k, 1))) for c, k in enumerate(counts)}
    hist = model.fit(fit_train, validation_data=fit_val, epochs=cfg.epochs, callbacks=callbacks, verbose=verbose,
                     validation_batch_size=64, class_weight=weights)
    h = dict(hist.history)
    h["seconds"] = timer.seconds
    return model, h


def _epoch_timer():
    """A Keras callback recording each epoch's wall time and learning rate (built here so imports stay light)."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.time()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(round(time.time() - self.t0, 2))
            if logs is not None:
                logs["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    return EpochTimer()


def _mean_history(histories: list[dict], epochs: int) -> list[dict]:
    rows = []
    for e in range(epochs):
        row = {"epoch": e + 1}
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
            vals = [h[key][e] for h in histories if key in h and len(h[key]) > e]
            if vals:
                row[key] = float(np.mean(vals))
        row["seconds"] = round(float(sum(h["seconds"][e] for h in histories if len(h["seconds"]) > e)), 2)
        rows.append(row)
    return rows


def train_clips(cfg: ClipTrainConfig, on_fold: Callable[[dict], None] | None = None, verbose: int = 0) -> Path:
    """Run subject-wise k-fold cross-validation of ``cfg.arch`` on a CK+-style clip folder; returns the run folder."""
    import keras

    from ..device import describe_device
    from .trainer import library_versions

    cfg = cfg.resolved()
    spec = get_spec(cfg.arch)
    ds = load_clip_folder(cfg.data, cfg.classes, frames=spec.input_shape[0], size=spec.input_shape[1])
    labels = ds.label_names
    run_dir = Path(cfg.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in (runs.HISTORY, runs.METRICS, runs.CONFUSION, runs.MODEL):
        (run_dir / stale).unlink(missing_ok=True)
    started = time.time()
    config = {
        "run_id": run_dir.name, "kind": "clip", "architecture": cfg.arch, "architecture_description": spec.description,
        "input_shape": [*ds.clips.shape[1:], 1], "labels": list(labels),
        "dataset": {"path": str(cfg.data), **ds.describe()},
        "hyperparameters": {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("data", "out", "arch")},
        "evaluation": (f"{cfg.folds}-fold cross-validation by subject (no subject in both training and held-out); "
                       "fixed epochs, the held-out fold never selects an epoch or drives the learning rate"),
        "history_note": ("history.csv is the per-epoch mean over the folds (val_* = held-out subjects; seconds = "
                         "summed over the folds)"),
        "versions": library_versions(), "device": describe_device(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "epochs_planned": cfg.epochs,
        "inference": {"tta": False},
    }
    runs.write_json(run_dir / runs.CONFIG, config)

    frame_weights = None
    if cfg.pretrain:
        frame_weights, config["pretraining"] = pretrain_frames(cfg, tuple(spec.input_shape[1:]), verbose)
        runs.write_json(run_dir / runs.CONFIG, config)
    y_true, y_pred, y_tta, histories, fold_info = [], [], [], [], []
    best_model, best_acc = None, -1.0
    for f, (tr, te) in enumerate(subject_folds(ds.subjects, cfg.folds, cfg.seed)):
        t0 = time.time()
        train, test = ds.subset(tr), ds.subset(te)
        model, hist = _fit(cfg, train, test, cfg.seed + f, verbose, frame_weights)
        x_test = test.clips[..., None].astype(np.float32)
        probs = model.predict(x_test, batch_size=64, verbose=0)
        flipped = model.predict(x_test[:, :, :, ::-1], batch_size=64, verbose=0)  # mirrored faces, for flip TTA
        pred, pred_tta = probs.argmax(1), (probs + flipped).argmax(1)
        acc = float((pred == test.labels).mean())
        y_true.append(test.labels)
        y_pred.append(pred)
        y_tta.append(pred_tta)
        histories.append(hist)
        info = {"fold": f + 1, "accuracy": acc, "accuracy_tta": float((pred_tta == test.labels).mean()),
                "n_train": len(train), "n_test": len(test),
                "test_subjects": sorted(np.unique(test.subjects).tolist()), "seconds": round(time.time() - t0, 1)}
        fold_info.append(info)
        log.info("Fold %d/%d: held-out accuracy %.4f on %d clips (%.0fs)", f + 1, cfg.folds, acc, len(test), info["seconds"])
        if on_fold:
            on_fold(info)
        if cfg.final_model == "none" and acc > best_acc:
            best_model, best_acc = model, acc
        if cfg.final_model == "all":
            del model
            keras.backend.clear_session()

    accs = np.array([i["accuracy"] for i in fold_info])
    y_true, y_pred, y_tta = np.concatenate(y_true), np.concatenate(y_pred), np.concatenate(y_tta)
    cm = confusion_matrix(y_true, y_pred, len(labels))
    accs_tta = np.array([i["accuracy_tta"] for i in fold_info])
    metrics = {"dataset": str(cfg.data), "split": f"{cfg.folds}-fold by subject (pooled held-out predictions)",
               "labels": list(labels), **metrics_from_confusion(cm, labels),
               "kfold": {"k": cfg.folds, "fold_accuracies": accs.tolist(), "mean": float(accs.mean()),
                         "std": float(accs.std()), "fold_accuracies_tta": accs_tta.tolist(),
                         "mean_tta": float(accs_tta.mean())},
               "tta": {"method": "flip", **metrics_from_confusion(confusion_matrix(y_true, y_tta, len(labels)), labels)}}
    runs.write_json(run_dir / runs.METRICS, metrics)
    runs.write_confusion(run_dir / runs.CONFUSION, labels, cm)
    for row in _mean_history(histories, cfg.epochs):
        runs.append_history(run_dir, row)

    if cfg.final_model == "all":
        t0 = time.time()
        final, hist = _fit(cfg, ds, None, cfg.seed + cfg.folds, verbose, frame_weights)
        final_info = {"trained_on": "all subjects", "n_clips": len(ds), "epochs": cfg.epochs,
                      "final_loss": float(hist["loss"][-1]), "final_accuracy": float(hist["accuracy"][-1]),
                      "seconds": round(time.time() - t0, 1)}
    else:
        final = best_model
        best = int(np.argmax(accs))
        final_info = {"trained_on": f"the best fold's training subjects (fold {best + 1})", "epochs": cfg.epochs,
                      "fold_accuracy": float(accs[best])}
    save_inference_model(final, run_dir / runs.MODEL)  # no optimizer state: keeps the file small
    config.update(folds=fold_info, kfold_accuracy_mean=float(accs.mean()), kfold_accuracy_std=float(accs.std()),
                  best_val_accuracy=float(accs.mean()), epochs_done=cfg.epochs, final_model=final_info,
                  n_params=int(final.count_params()), train_seconds=round(time.time() - started, 1),
                  ended=datetime.now(timezone.utc).isoformat(timespec="seconds"), finished=True)
    runs.write_json(run_dir / runs.CONFIG, config)
    return run_dir
