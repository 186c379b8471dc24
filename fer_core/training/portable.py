"""Training on any Keras backend (JAX, PyTorch, TensorFlow): no ``tf.data`` and no ``tf`` op on the training path.

Augmentation runs on the batch inside the compiled step (``batch_augment.BatchAugment``), the weight average is the
optimizer's own EMA (updated inside the step), and the data are plain numpy arrays. The run folder has the layout
``training.train`` writes, so the app reads it; the ONNX export and the final evaluation need TensorFlow and are done
by ``finish_cli.finish_run`` (at the end of training when TensorFlow is installed, else later with ``python -m fer_core.finish_run``).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from .. import runs
from .trainer import (TrainConfig, load_run_inputs, lr_at, make_optimizer, new_run_config, prepare_images,
                      record_progress, recorded_setting, session_seed)

log = logging.getLogger(__name__)

BACKENDS = ("tensorflow", "jax", "torch")
PORTABLE_CHECKPOINT = "checkpoint.npz"  # weights, optimizer state (its EMA included) and the epoch, any backend


def describe_accelerator() -> str:
    """The device the current Keras backend trains on: ``"GPU: <name>"`` or the CPU's description."""
    import keras

    from ..device import cpu_text

    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            dev = jax.devices()[0]
            if dev.platform != "cpu":
                return f"{dev.platform.upper()}: {dev.device_kind}"
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                return f"GPU: {torch.cuda.get_device_name(0)}"
        elif backend == "tensorflow":
            from ..device import describe_device

            return describe_device()
    except Exception as e:  # a broken accelerator runtime still trains on the CPU
        log.warning("Could not describe the %s device: %s", backend, e)
    return cpu_text()


def ema_weights(model, optimizer) -> list[np.ndarray]:
    """``model.get_weights()`` with each trainable weight replaced by the optimizer's moving average of it."""
    import keras

    averages = getattr(optimizer, "_model_variables_moving_average", None)
    if not averages:
        raise ValueError("The optimizer keeps no weight average. Expected an optimizer built with use_ema=True.")
    out = []
    for v in model.weights:
        value = v
        if v.trainable:
            value = averages[optimizer._get_variable_index(v)]
        out.append(keras.ops.convert_to_numpy(value))
    return out


def _accuracy(model, x: np.ndarray, y: np.ndarray, batch_size: int = 1024) -> float:
    probs = model.predict(x, batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(probs, axis=1) == y))


def _save_checkpoint(path: Path, model, optimizer, epochs_done: int) -> None:
    import keras

    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    arrays.update({f"o{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(optimizer.variables)})
    tmp = Path(str(path) + ".tmp.npz")
    np.savez(tmp, epochs_done=np.int64(epochs_done), **arrays)
    os.replace(tmp, path)


def _load_checkpoint(path: Path, model, optimizer) -> int:
    with np.load(path) as z:
        weights = [z[f"w{i}"] for i in range(sum(k.startswith("w") for k in z.files))]
        opt_values = [z[f"o{i}"] for i in range(sum(k.startswith("o") for k in z.files))]
        done = int(z["epochs_done"])
    model.set_weights(weights)
    if len(opt_values) != len(optimizer.variables):
        raise ValueError(f"{path} does not fit this optimizer. Expected {len(optimizer.variables)} optimizer "
                         f"variables. Received: {len(opt_values)}")
    for var, value in zip(optimizer.variables, opt_values):
        var.assign(value)
    return done


def build_trainer(cfg: TrainConfig, input_shape: tuple[int, int, int], n_classes: int):
    """``(model, trainer)``: the architecture, and a compiled model that runs the batch augmentation before it, with
    the optimizer's in-step EMA; jit-compiled on JAX. ``cfg`` must be resolved."""
    import keras

    from .architectures import get_spec
    from .batch_augment import BatchAugment

    model = get_spec(cfg.arch).builder(input_shape, n_classes)
    inp = keras.Input(input_shape, name="pixels")
    trainer = keras.Model(inp, model(BatchAugment(cfg.augment, seed=cfg.seed, name="batch_augment")(inp)),
                          name=f"{cfg.arch}_trainer")
    optimizer = make_optimizer(cfg, in_step_ema=True)
    trainer.compile(optimizer=optimizer, loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
                    metrics=["accuracy"], jit_compile=True if keras.backend.backend() == "jax" else "auto")
    optimizer.build(trainer.trainable_variables)
    return model, trainer


def train_portable(cfg: TrainConfig, time_budget: float | None = None, on_epoch: Callable[[dict], None] | None = None,
                   verbose: int = 2, finish: bool = True) -> Path:
    """Train (or resume) ``cfg`` on the current Keras backend into ``cfg.out``; returns the run folder.

    ``time_budget`` (seconds, wall clock from the call) sizes the schedule: after the warm-up epochs it sets the number
    of epochs to what fits, so that a cosine schedule still ends at its floor. The model with the best validation
    accuracy, live or averaged weights, is saved as ``model.keras`` after each epoch."""
    from .trainer import precision_scope

    with precision_scope(cfg.precision):
        return _train_portable(cfg, time_budget, on_epoch, verbose, finish)


def _train_portable(cfg: TrainConfig, time_budget: float | None, on_epoch: Callable[[dict], None] | None,
                    verbose: int, finish: bool) -> Path:
    import keras

    from .architectures import get_spec
    from .trainer import emulated_bf16_warning, save_inference_model

    t_start = time.time()
    backend = keras.backend.backend()
    cfg = cfg.resolved()
    if warning := emulated_bf16_warning(cfg.precision, describe_accelerator()):
        log.warning(warning)
    from .soft_targets import TEACHER_FILE_SUFFIX

    if cfg.teacher and not str(cfg.teacher).endswith(TEACHER_FILE_SUFFIX) and backend != "tensorflow":
        raise ValueError(f"Off TensorFlow a teacher comes as its saved probabilities (python -m fer_core.teacher). "
                         f"Expected a {TEACHER_FILE_SUFFIX} file. Received: teacher={cfg.teacher!r}, backend={backend!r}")
    spec = get_spec(cfg.arch)
    run_dir = Path(cfg.out)
    run_dir.mkdir(parents=True, exist_ok=True)

    inputs = load_run_inputs(cfg)
    train_ds, val_ds, test_ds, labels, input_shape = (inputs.train, inputs.val, inputs.test, inputs.labels,
                                                      inputs.input_shape)
    y_train, targets_info = inputs.targets, inputs.targets_info

    def prep(images):
        x = prepare_images(images, input_shape)
        return np.repeat(x, 3, axis=-1) if input_shape[2] == 3 else x

    x_train, x_val = prep(train_ds.images), prep(val_ds.images)
    x_test = prep(test_ds.images) if test_ds is not None else None

    model, trainer = build_trainer(cfg, input_shape, len(labels))
    optimizer = trainer.optimizer
    eval_model = spec.builder(input_shape, len(labels))

    ckpt_path, state_path = run_dir / PORTABLE_CHECKPOINT, run_dir / runs.STATE
    if ckpt_path.exists() and state_path.exists():
        config = runs.read_json(run_dir / runs.CONFIG)
        if config.get("architecture") != cfg.arch or config.get("labels") != list(labels):
            raise ValueError(f"{run_dir} holds a different run. Expected {cfg.arch} with {list(labels)}. "
                             f"Received: {config.get('architecture')}, {config.get('labels')}")
        state = runs.read_json(state_path)
        _load_checkpoint(ckpt_path, model, optimizer)
        config.setdefault("resumes", []).append({"after_epoch": state["epochs_done"], "backend": backend,
                                                 "device": describe_accelerator(),
                                                 "time": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        if recorded_setting(config["hyperparameters"], "precision") != cfg.precision:  # the weights are float32 either way
            config["resumes"][-1]["precision"] = config["hyperparameters"]["precision"] = cfg.precision
        cfg = dataclasses.replace(cfg, epochs=int(config["epochs_planned"]))
        log.info("Resuming %s after epoch %d", run_dir, state["epochs_done"])
    else:
        for stale in (runs.HISTORY, runs.METRICS, runs.CONFUSION, runs.MODEL, runs.ONNX_MODEL, runs.ONNX_INT8_MODEL):
            (run_dir / stale).unlink(missing_ok=True)
        state = {"epochs_done": 0, "best_val_accuracy": -1.0, "best_epoch": 0, "wait": 0, "train_seconds": 0.0}
        init = None
        if cfg.init_from:
            src_path = Path(cfg.init_from)
            src = keras.models.load_model(src_path / runs.MODEL if src_path.is_dir() else src_path, compile=False)
            model.set_weights(src.get_weights())
            init = {"path": str(cfg.init_from)}
        extra = {"jit_compile": bool(trainer.jit_compile)}
        if time_budget:
            extra["time_budget_s"] = float(time_budget)
        config = new_run_config(cfg, run_dir, model, input_shape, (train_ds, val_ds, test_ds), backend,
                                describe_accelerator(), init, targets_info, **extra)
        runs.write_json(run_dir / runs.CONFIG, config)
    if backend == "jax" and not trainer.jit_compile:
        raise RuntimeError("The training step would run eagerly on JAX (a layer does not support jit). "
                           f"Received: jit_compile={trainer.jit_compile}")

    seed = session_seed(cfg.seed, state["epochs_done"])
    keras.utils.set_random_seed(seed)
    plan = {"epochs": cfg.epochs}

    class Recorder(keras.callbacks.Callback):
        """LR schedule, per-epoch evaluation of the live and averaged weights, best model, checkpoint, history."""

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.time()
            sized = dataclasses.replace(cfg, epochs=plan["epochs"])
            if cfg.schedule in ("cosine", "constant") or (cfg.warmup_epochs and epoch < cfg.warmup_epochs):
                optimizer.learning_rate.assign(lr_at(sized, epoch))

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            row = {"epoch": epoch + 1, "lr": float(keras.ops.convert_to_numpy(optimizer.learning_rate)),
                   **{k: float(logs[k]) for k in ("loss", "accuracy") if k in logs}}
            row["val_accuracy"] = val_acc = _accuracy(model, x_val, val_ds.labels)
            if x_test is not None:
                row["test_accuracy"] = _accuracy(model, x_test, test_ds.labels)
            source, best_weights = "weights", None
            if cfg.ema:
                eval_model.set_weights(ema_weights(model, optimizer))
                row["ema_val_accuracy"] = _accuracy(eval_model, x_val, val_ds.labels)
                if x_test is not None:
                    row["ema_test_accuracy"] = _accuracy(eval_model, x_test, test_ds.labels)
                if row["ema_val_accuracy"] > val_acc:
                    source, val_acc, best_weights = "ema", row["ema_val_accuracy"], eval_model
            if val_acc > state["best_val_accuracy"]:
                state.update(best_val_accuracy=val_acc, best_epoch=epoch + 1, wait=0, best_source=source)
                save_inference_model(best_weights or model, run_dir / runs.MODEL)
            else:
                state["wait"] += 1
            seconds = time.time() - self.t0
            row["seconds"] = round(seconds, 2)
            runs.append_history(run_dir, row)
            state["epochs_done"] = epoch + 1
            state["train_seconds"] += seconds
            _save_checkpoint(ckpt_path, model, optimizer, epoch + 1)
            runs.write_json(state_path, state)
            if time_budget and epoch + 1 == max(cfg.warmup_epochs, 1) + 1 and epoch + 1 < plan["epochs"]:
                left = time_budget - (time.time() - t_start)
                fits = epoch + 1 + int(left // max(seconds, 1e-3))
                if fits < plan["epochs"]:
                    plan["epochs"] = max(fits, epoch + 2)
                    log.info("Time budget: %.0f s left at %.1f s per epoch: %d epochs in all", left, seconds, fits)
            record_progress(run_dir, config, state, epochs_planned=plan["epochs"])
            if on_epoch:
                on_epoch(row)
            if epoch + 1 >= plan["epochs"] or (cfg.patience and state["wait"] >= cfg.patience):
                self.model.stop_training = True

    if state["epochs_done"] < cfg.epochs:
        trainer.fit(x_train, y_train, batch_size=cfg.batch_size, epochs=cfg.epochs, initial_epoch=state["epochs_done"],
                    shuffle=True, callbacks=[Recorder()], verbose=verbose)
    config["training_finished"] = True
    runs.write_json(run_dir / runs.CONFIG, config)
    if finish:
        finish_run_subprocess(run_dir, cfg)
    return run_dir


def finish_run_subprocess(run_dir: Path, cfg: TrainConfig) -> bool:
    """ONNX export, int8 and the final evaluation of a run trained off TensorFlow, in a TensorFlow process; skipped
    with a message when TensorFlow is not installed (as on an accelerator machine that has only JAX or PyTorch)."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("tensorflow") is None:
        log.warning("TensorFlow is not installed here: finish %s on a machine that has it with "
                    "`python -m fer_core.finish_run %s --data DATA`", run_dir, run_dir)
        return False
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    cmd = [sys.executable, "-m", "fer_core.finish_run", str(run_dir), "--data", str(cfg.data)]
    subprocess.run(cmd, check=True, env=env)
    return True
