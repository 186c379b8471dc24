"""Training a registered architecture on a face dataset into a run folder, with per-epoch checkpoints and resume."""
from __future__ import annotations

import dataclasses
import logging
import math
import platform
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .. import runs
from .data import (HOLDOUT, HOLDOUT_FRACTION, HOLDOUT_SEED, MIXED_ROW, FaceDataset, fer2013_training_copies, load_dataset,
                   select_classes, stratified_split)
from ..inference.preprocessing import EQUALIZED_FLATNESS, histogram_flatness
from .architectures import get_spec
from .soft_targets import build_targets

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Everything a run needs; ``None`` fields take the architecture's recipe default."""

    data: str
    arch: str
    out: str
    classes: tuple[str, ...] | None = None
    remap: dict[str, str] = field(default_factory=dict)
    train_usage: str = "Training"
    val_usage: str = "PublicTest"  # or data.HOLDOUT: a stratified 10% of train_usage picks the epoch and model
    test_usage: str | None = None  # reported every epoch and at the end, never used to pick anything
    val_fraction: float = 0.2
    split_by_subject: bool = False
    input_size: int | None = None
    epochs: int = 30
    batch_size: int | None = None
    augment: str | None = None
    optimizer: str | None = None
    lr: float | None = None
    schedule: str | None = None
    warmup_epochs: int | None = None
    weight_decay: float | None = None
    label_smoothing: float | None = None
    patience: int | None = None  # early stopping on val_accuracy; None = off
    seed: int = 0
    tta: bool = True
    max_train: int | None = None  # cap on training images (quick trials, tests)
    init_from: str | None = None  # a run folder or .keras file whose weights start the training (fine-tuning)
    ema: float | None = None  # decay of an exponential moving average of the weights per step; None = off
    ferplus: str | None = None  # FER+ votes in the data CSV's row order: soft targets (soft_targets.py)
    ferplus_weight: float = 0.5
    teacher: str | None = None  # a run (or ensemble run) whose predictions are distilled into this one
    teacher_weight: float = 0.5
    mix: str | None = None  # a folder of class folders (e.g. CK+48) whose images join the training set only
    precision: str = "float32"  # or "bfloat16": Keras's mixed_bfloat16 policy (float32 weights, bf16 compute)

    def resolved(self) -> "TrainConfig":
        recipe = get_spec(self.arch).recipe
        defaults = {"batch_size": 64, "augment": "none", "optimizer": "adam", "lr": 1e-3, "schedule": "constant",
                    "warmup_epochs": 0, "weight_decay": 0.0, "label_smoothing": 0.0}
        values = {k: (getattr(self, k) if getattr(self, k) is not None else recipe.get(k, d)) for k, d in defaults.items()}
        return dataclasses.replace(self, **values)


def library_versions() -> dict:
    """The versions a run records: Python, Keras and its backend, the backend's library, numpy, OpenCV."""
    import importlib

    import keras

    backend = keras.backend.backend()
    out = {"python": platform.python_version(), "keras": keras.__version__, "keras_backend": backend,
           "numpy": np.__version__, "opencv": cv2.__version__}
    out[backend] = importlib.import_module(backend).__version__
    return out


def prepare_images(images: np.ndarray, input_shape: tuple[int, int, int]) -> np.ndarray:
    """Grayscale uint8 ``(N, H, W)`` -> uint8 ``(N, h, w, 1)`` at the model's input size (channels added in the pipeline)."""
    h, w, _ = input_shape
    if images.shape[1:3] != (h, w):
        interp = cv2.INTER_AREA if images.shape[1] > h else cv2.INTER_LINEAR
        images = np.stack([cv2.resize(im, (w, h), interpolation=interp) for im in images]) if len(images) else np.zeros((0, h, w), np.uint8)
    return images[..., None]


def input_equalization(images: np.ndarray) -> str:
    """What the training images say photo crops need to look like them: "hist" when they are histogram-equalised
    (as the shared FER2013 copy is), else "none"."""
    return "hist" if histogram_flatness(images[:2000]) < EQUALIZED_FLATNESS else "none"


def load_splits(cfg: TrainConfig) -> tuple[FaceDataset, FaceDataset]:
    """Training and validation sets (see ``load_train_val_test``)."""
    return load_train_val_test(cfg)[:2]


def load_holdout(data: str) -> FaceDataset:
    """The fixed stratified holdout of a FER2013 CSV's Training rows: the split that picks models (and ensembles)."""
    return load_holdout_and_rest(data)[0]


def load_holdout_and_rest(data: str) -> tuple[FaceDataset, FaceDataset]:
    """The holdout and the Training rows that training fits on (the rest of Training)."""
    train, val, _ = load_train_val_test(TrainConfig(data=data, arch="fer_vgg", out="", val_usage=HOLDOUT))
    return val, train


def load_train_val_test(cfg: TrainConfig) -> tuple[FaceDataset, FaceDataset, FaceDataset | None]:
    """Training, validation (picks the model) and test (only reported) sets. Folders split by a seeded stratified
    (or by-subject) split; FER2013 by Usage, or with ``val_usage="holdout"`` a fixed stratified 10% of Training held
    out (the same rows for every run and seed), so the test Usage stays an unbiased figure."""
    test = None
    if Path(cfg.data).is_dir():
        full = select_classes(load_dataset(cfg.data), cfg.classes, cfg.remap)
        train, val = stratified_split(full, cfg.val_fraction, cfg.seed, by_group=cfg.split_by_subject)
    else:
        train = select_classes(load_dataset(cfg.data, usage=cfg.train_usage), cfg.classes, cfg.remap)
        if cfg.val_usage == HOLDOUT:
            train, val = stratified_split(train, HOLDOUT_FRACTION, HOLDOUT_SEED)
            train.split, val.split = cfg.train_usage, f"{HOLDOUT} ({HOLDOUT_FRACTION:.0%} of {cfg.train_usage})"
        else:
            val = select_classes(load_dataset(cfg.data, usage=cfg.val_usage), train.label_names, cfg.remap)
        if cfg.test_usage:
            test = select_classes(load_dataset(cfg.data, usage=cfg.test_usage), train.label_names, cfg.remap)
    if len(train) == 0 or len(val) == 0:
        raise ValueError(f"Training and validation sets must be non-empty. Received: train={len(train)}, val={len(val)}")
    if cfg.max_train and len(train) > cfg.max_train:
        idx = np.random.default_rng(cfg.seed).permutation(len(train))[: cfg.max_train]
        train = train.subset(np.sort(idx))
    if cfg.mix:
        train = mix_in(train, cfg.mix)
    return train, val, test


def mix_in(train: FaceDataset, folder: str) -> FaceDataset:
    """``train`` plus the images of a folder of class folders (its classes outside ``train``'s dropped), brought to
    ``train``'s intensities first (histogram-equalised when ``train``'s images are, as FER2013's are here). The added
    images get row ``MIXED_ROW`` (no FER2013 row, so no FER+ votes: they train on their own labels)."""
    from ..inference.preprocessing import equalize_crop

    extra = load_dataset(folder, size=train.images.shape[1])
    keep = [n for n in extra.label_names if n in train.label_names]
    if not keep:
        raise ValueError(f"--mix shares no class with the training set. Expected some of {list(train.label_names)}. "
                         f"Received: {folder} with classes {list(extra.label_names)}")
    extra = select_classes(extra, keep)
    labels = np.array([train.label_names.index(n) for n in extra.label_names], np.int64)[extra.labels]
    images = extra.images
    if input_equalization(train.images) == "hist":
        images = np.stack([equalize_crop(im) for im in images])
    log.info("Mixed in %d images of %s from %s", len(images), keep, folder)
    rows = None if train.rows is None else np.concatenate([train.rows, np.full(len(images), MIXED_ROW, np.int64)])
    return FaceDataset(np.concatenate([train.images, images]), np.concatenate([train.labels, labels]),
                       train.label_names, train.source, f"{train.split} + {folder}", rows=rows)


def new_run_config(cfg: TrainConfig, run_dir: Path, model, input_shape: tuple[int, int, int], splits: tuple,
                   backend: str, device: str, init: dict | None = None, targets: dict | None = None, **extra) -> dict:
    """The ``config.json`` a fresh run starts with (any backend): data, splits, which split selects the model,
    hyper-parameters, versions, device; ``extra`` adds fields (e.g. ``jit_compile``)."""
    train_ds, val_ds, test_ds = splits
    spec = get_spec(cfg.arch)
    config = {
        "run_id": run_dir.name, "architecture": cfg.arch, "architecture_description": spec.description,
        "input_shape": list(input_shape), "labels": list(train_ds.label_names), "n_params": int(model.count_params()),
        "dataset": {"path": str(cfg.data), "train": train_ds.describe(), "validation": val_ds.describe(),
                    **({"test": test_ds.describe()} if test_ds is not None else {})},
        "selection": {"split": val_ds.split, "what": "the epoch (and with --ema the weights, live or averaged) "
                                                    "with the best validation accuracy"},
        "training_backend": backend, **extra,
        "hyperparameters": {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("data", "out", "arch")},
        "versions": library_versions(), "device": device,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "epochs_planned": cfg.epochs, "epochs_done": 0,
        "inference": {"tta": bool(cfg.tta), "equalize": input_equalization(train_ds.images)},
    }
    if init:
        config["init_from"] = init
    if targets:
        config["targets"] = targets
    return config


def check_ferplus_settings(cfg: TrainConfig) -> None:
    """FER+ votes pair with the rows of a FER2013 CSV's training Usage (each image keeps its row through the holdout
    split and ``--max-train``; images added by ``--mix`` have none): a ``ValueError`` for settings that change the
    classes or the FER2013 images."""
    if cfg.ferplus and (Path(cfg.data).is_dir() or cfg.classes or cfg.remap):
        raise ValueError("FER+ votes pair with the rows of a FER2013 CSV's training Usage: --ferplus takes no folder "
                         "dataset, --classes or --remap (--mix is fine: its images train on their own labels). "
                         f"Received: data={cfg.data!r}, classes={cfg.classes}, remap={cfg.remap}")


@dataclass
class RunInputs:
    """What both trainers (TensorFlow's and the any-backend one) start from: the splits, the targets and the input."""
    train: FaceDataset
    val: FaceDataset
    test: FaceDataset | None
    targets: np.ndarray  # (N, K): one-hot, mixed with FER+ votes or a teacher's probabilities where asked
    targets_info: dict  # what config.json records about that mix; empty when the targets are one-hot
    input_shape: tuple[int, int, int]

    @property
    def labels(self) -> tuple[str, ...]:
        return self.train.label_names


def load_run_inputs(cfg: TrainConfig) -> RunInputs:
    """Checks the FER+ settings, loads the splits and builds the training targets and input shape for ``cfg``."""
    check_ferplus_settings(cfg)
    train, val, test = load_train_val_test(cfg)
    targets, info = build_targets(train, cfg.ferplus, cfg.ferplus_weight, cfg.teacher, cfg.teacher_weight,
                                  usage=cfg.train_usage)
    spec = get_spec(cfg.arch)
    side = cfg.input_size or spec.input_shape[0]
    return RunInputs(train, val, test, targets, info, (side, side, spec.input_shape[2]))


def record_progress(run_dir: Path, config: dict, state: dict, **extra) -> None:
    """Copies an epoch's progress from the trainer's ``state`` into config.json, which the runs page reads."""
    config.update(**extra, epochs_done=state["epochs_done"], best_epoch=state["best_epoch"],
                  best_val_accuracy=state["best_val_accuracy"], best_source=state.get("best_source", "weights"),
                  train_seconds=round(state["train_seconds"], 1),
                  ended=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    runs.write_json(run_dir / runs.CONFIG, config)


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate for a 0-based epoch under a warmup + cosine (or constant) schedule."""
    if cfg.warmup_epochs and epoch < cfg.warmup_epochs:
        return cfg.lr * (epoch + 1) / (cfg.warmup_epochs + 1)
    if cfg.schedule == "cosine":
        span = max(1, cfg.epochs - cfg.warmup_epochs)
        t = (epoch - cfg.warmup_epochs) / span
        return cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))
    return cfg.lr


PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16"}  # --precision -> Keras dtype policy


def dtype_policy(precision: str) -> str:
    """The Keras dtype policy for ``--precision``: bfloat16 keeps float32 weights and computes in bfloat16, which the
    CPU's AVX-512 BF16 units (and GPUs) run faster."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}. Received: precision={precision!r}")
    return PRECISIONS[precision]


@contextmanager
def precision_scope(precision: str):
    """Keras's global dtype policy set for ``--precision`` while the block runs, and restored after it (also when the
    block raises: an interrupted training leaves the process as it found it)."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype_policy(precision))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def emulated_bf16_warning(precision: str, device: str, flags: frozenset[str] | None = None) -> str | None:
    """A warning for bfloat16 training on a CPU without bfloat16 instructions, where Keras emulates it; else None."""
    from ..device import cpu_features, cpu_has_bf16

    if precision != "bfloat16" or not device.startswith("CPU") or cpu_has_bf16(flags) is not False:
        return None
    return (f"--precision bfloat16 on a CPU without bfloat16 instructions ({cpu_features(flags)}): it is emulated, many "
            "times slower than float32 (one fer_vgg_wide epoch ran over 40 minutes on such a CPU, against 378 s in "
            "float32). Expected --precision float32 here. Received: precision='bfloat16'")


def recorded_setting(hyperparameters: dict, key: str):
    """A run's recorded setting, or ``TrainConfig``'s default for it when the run predates the setting."""
    default = next((f.default for f in dataclasses.fields(TrainConfig) if f.name == key), None)
    return hyperparameters.get(key, None if default is dataclasses.MISSING else default)


def model_precision(model) -> str:
    """"bfloat16" when any layer of ``model`` with weights computes in bfloat16, else "float32" (weightless layers,
    e.g. the input's, take the global policy when a file is loaded, so they say nothing about how it was trained)."""
    return "bfloat16" if any(layer.compute_dtype == "bfloat16" for layer in model.layers if layer.weights) else "float32"


def _float32_config(config):
    """A model config with every bfloat16 dtype (policies and input dtypes) turned back to float32."""
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy" and isinstance(config.get("config"), dict):
            return {**config, "config": {**config["config"], "name": "float32"}}
        return {k: ("float32" if k == "dtype" and v == "bfloat16" else _float32_config(v)) for k, v in config.items()}
    if isinstance(config, list):
        return [_float32_config(v) for v in config]
    return config


def compile_for_training(model, cfg: TrainConfig) -> None:
    """Compile ``model`` with the recipe's optimizer, the label-smoothed cross-entropy and accuracy."""
    import keras

    model.compile(optimizer=make_optimizer(cfg), metrics=["accuracy"],
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing))


def recast_checkpoint(model, cfg: TrainConfig, input_shape: tuple[int, int, int], n_classes: int):
    """A resumed checkpoint rebuilt under the current dtype policy (a resume that changes ``--precision``): the same
    weights and optimizer state (momentum, step count) in a model built and compiled afresh."""
    new = get_spec(cfg.arch).builder(input_shape, n_classes)
    compile_for_training(new, cfg)
    new.set_weights(model.get_weights())
    new.optimizer.build(new.trainable_variables)
    old_vars, new_vars = model.optimizer.variables, new.optimizer.variables
    if [tuple(v.shape) for v in old_vars] != [tuple(v.shape) for v in new_vars]:
        raise ValueError(f"The checkpoint's optimizer state does not fit the rebuilt model. Expected "
                         f"{len(new_vars)} variables. Received: {len(old_vars)}")
    for old, fresh in zip(old_vars, new_vars):
        fresh.assign(old)
    return new


def make_optimizer(cfg: TrainConfig, in_step_ema: bool = False):
    """The recipe's optimizer. ``in_step_ema`` (with ``cfg.ema``) turns on the optimizer's own moving average of the
    weights, updated inside the compiled step and kept apart (``portable.ema_weights`` reads it): any backend."""
    import keras

    extra = dict(use_ema=True, ema_momentum=cfg.ema, ema_overwrite_frequency=None) if in_step_ema and cfg.ema else {}
    wd = cfg.weight_decay or None
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(cfg.lr, momentum=0.9, nesterov=True, weight_decay=wd, **extra)
    if cfg.optimizer == "adamw":
        return keras.optimizers.AdamW(cfg.lr, weight_decay=cfg.weight_decay or 1e-4, **extra)
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(cfg.lr, weight_decay=wd, **extra)
    raise ValueError(f"optimizer must be sgd, adam or adamw. Received: optimizer={cfg.optimizer!r}")


# What a resume may change (the next epochs follow it; `resumes` in config.json says from when), and what it may not:
# the optimizer, its weight decay and the loss are compiled into the checkpoint, the data and labels fix the run.
RESUME_CHANGEABLE = ("epochs", "augment", "ema", "lr", "schedule", "warmup_epochs", "batch_size", "patience", "tta",
                     "precision")
RESUME_FIXED = ("optimizer", "weight_decay", "label_smoothing", "classes", "remap", "train_usage", "val_usage", "test_usage",
                "val_fraction", "split_by_subject", "input_size", "max_train", "ferplus", "ferplus_weight", "teacher",
                "teacher_weight", "mix")  # init_from: the checkpoint's weights win


def _record_resume_changes(cfg: TrainConfig, config: dict) -> None:
    """Apply a resume's changed settings to ``config`` (recorded in its latest ``resumes`` entry); a change the
    checkpoint cannot follow is a ``ValueError``."""
    hp = config["hyperparameters"]
    given = dataclasses.asdict(cfg)
    fixed = {k: (hp[k], given[k]) for k in RESUME_FIXED if k in hp and _norm(hp[k]) != _norm(given[k])}
    if fixed:
        raise ValueError(f"These settings are fixed by the run being resumed: {sorted(fixed)}. Expected the run's "
                         f"values. Received: {', '.join(f'{k}={v[1]!r} (run: {v[0]!r})' for k, v in fixed.items())}")
    for k in RESUME_CHANGEABLE:
        if k != "epochs" and _norm(recorded_setting(hp, k)) != _norm(given[k]):
            config["resumes"][-1][k] = given[k]
            hp[k] = given[k]


def _norm(v):
    return list(v) if isinstance(v, tuple) else v


def session_seed(seed: int, epochs_done: int) -> int:
    """The seed of a training session that starts after ``epochs_done`` epochs. A resumed session seeded like the
    first would replay the first session's shuffles and augmentations, batch for batch."""
    return seed + 1009 * epochs_done


def make_dataset(x: np.ndarray, y: np.ndarray, n_classes: int, cfg: TrainConfig, channels: int, training: bool,
                 seed: int | None = None):
    import tensorflow as tf

    from .augmentation import make_augmenter

    seed = cfg.seed if seed is None else seed
    aug = make_augmenter(cfg.augment, seed) if training else None
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if training:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(cfg.batch_size)

    def prep(xb, yb):
        xb = tf.cast(xb, tf.float32)
        if aug is not None:
            xb = aug(xb, training=True)
        if channels == 3:
            xb = tf.repeat(xb, 3, axis=-1)
        return xb, (tf.one_hot(yb, n_classes) if yb.shape.rank == 1 else yb)

    return ds.map(prep, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


def session_dataset(x: np.ndarray, y: np.ndarray, n_classes: int, cfg: TrainConfig, channels: int, epochs_done: int):
    """The training dataset of a session that starts after ``epochs_done`` epochs, with every random source (global
    seed, shuffle, augmentation layers) seeded by ``session_seed``."""
    import keras

    seed = session_seed(cfg.seed, epochs_done)
    keras.utils.set_random_seed(seed)
    return make_dataset(x, y, n_classes, cfg, channels, True, seed=seed)


def save_inference_model(model, path: Path) -> None:
    """Save weights and architecture without the optimizer state (half the size under SGD with momentum, a third
    under Adam). Built from the config, not ``clone_model``, which in Keras 3 keeps the compiled optimizer; always
    float32, whatever precision trained it, so the app and the ONNX export see one kind of file."""
    clone = type(model).from_config(_float32_config(model.get_config()))
    clone.set_weights(model.get_weights())
    clone.save(path)


def write_onnx(model, run_dir: Path, calibration: np.ndarray | None = None) -> Path | None:
    """Export ``model`` as the run's model.onnx (fast CPU inference) and, given ``calibration`` model inputs, its
    int8 model.int8.onnx; logged and skipped when that is impossible."""
    from ..inference.onnx_backend import OnnxExportError, export_onnx, quantize_int8

    try:
        path = export_onnx(model, run_dir / runs.ONNX_MODEL)
        if calibration is not None:
            quantize_int8(path, run_dir / runs.ONNX_INT8_MODEL, calibration)
        return path
    except OnnxExportError as e:
        log.warning("No %s written: %s", runs.ONNX_MODEL if calibration is None else runs.ONNX_INT8_MODEL, e)
        return None


def _init_weights(model, source: str, labels: list[str]) -> dict:
    """Copy the weights of a run (or a ``.keras`` file), loaded as ``load_classifier`` loads it, into ``model``; both
    must share architecture and labels. Returns what config.json records about the source, so a fine-tuned run says
    where it started."""
    from ..inference.classifier import ModelLoadError, load_classifier

    try:
        src = load_classifier(source, backend="keras")  # only its weights are needed
    except (ModelLoadError, runs.RunError) as e:
        raise ValueError(f"--init-from must be a run folder with {runs.MODEL} or a .keras file. "
                         f"Received: {source!r} ({e})") from None
    if list(src.labels) != list(labels):
        raise ValueError(f"--init-from labels differ from this run's. Expected {list(labels)}. "
                         f"Received: labels={list(src.labels)}")
    try:
        model.set_weights(src.model.get_weights())
    except ValueError as e:
        raise ValueError(f"--init-from weights do not fit architecture {model.name!r}. Received: {source!r} ({e})") from None
    keys = ("run_id", "architecture", "epochs_done", "best_epoch", "best_val_accuracy", "train_seconds")
    return {"path": str(source), **{k: src.config.get(k) for k in keys}}


def train(cfg: TrainConfig, on_epoch: Callable[[dict], None] | None = None, verbose: int = 1) -> Path:
    """Train (or resume) a run into ``cfg.out``; returns the run folder. Evaluates the best epoch at the end."""
    with precision_scope(cfg.precision):
        return _train(cfg, on_epoch, verbose)


def _train(cfg: TrainConfig, on_epoch: Callable[[dict], None] | None, verbose: int) -> Path:
    import keras

    from ..inference import layers, onnx_backend  # noqa: F401  (layers: custom layers for checkpoint loading)
    from ..inference.classifier import Classifier
    from ..device import describe_device
    from .evaluation import evaluate, write_evaluation
    from .weight_averaging import EMA_WEIGHTS, WeightEMA, accuracy

    cfg = cfg.resolved()
    if warning := emulated_bf16_warning(cfg.precision, describe_device()):
        log.warning(warning)
    spec = get_spec(cfg.arch)
    run_dir = Path(cfg.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(cfg.seed)

    inputs = load_run_inputs(cfg)
    train_ds, val_ds, test_ds, labels, input_shape = (inputs.train, inputs.val, inputs.test, inputs.labels,
                                                      inputs.input_shape)
    targets_info = inputs.targets_info
    y_train = inputs.targets if targets_info else train_ds.labels  # sparse labels where nothing soft mixes in
    x_train, x_val = prepare_images(train_ds.images, input_shape), prepare_images(val_ds.images, input_shape)

    state_path, ckpt_path = run_dir / runs.STATE, run_dir / runs.CHECKPOINT
    state = runs.read_json(state_path) if state_path.exists() and ckpt_path.exists() else None
    if state:
        config = runs.read_json(run_dir / runs.CONFIG)
        if config.get("architecture") != cfg.arch or config.get("labels") != list(labels):
            raise ValueError(f"{run_dir} holds a different run ({config.get('architecture')}, {config.get('labels')}); choose another --out.")
        model = keras.models.load_model(ckpt_path)
        trained_in = model_precision(model)
        if trained_in != cfg.precision:
            log.info("Rebuilding the checkpoint in %s (it trained in %s)", cfg.precision, trained_in)
            model = recast_checkpoint(model, cfg, input_shape, len(labels))
        log.info("Resuming %s after epoch %d", run_dir, state["epochs_done"])
        config.setdefault("resumes", []).append({
            "after_epoch": state["epochs_done"], "epochs_planned": cfg.epochs, "device": describe_device(),
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        config["epochs_planned"] = cfg.epochs
        config["hyperparameters"]["epochs"] = cfg.epochs
        _record_resume_changes(cfg, config)
    else:
        state = {"epochs_done": 0, "best_val_accuracy": -1.0, "best_epoch": 0, "wait": 0, "train_seconds": 0.0}
        for stale in (runs.HISTORY, runs.METRICS, runs.CONFUSION):
            (run_dir / stale).unlink(missing_ok=True)
        model = spec.builder(input_shape, len(labels))
        init = _init_weights(model, cfg.init_from, labels) if cfg.init_from else None
        compile_for_training(model, cfg)
        config = new_run_config(cfg, run_dir, model, input_shape, (train_ds, val_ds, test_ds), "tensorflow",
                                describe_device(), init, targets_info)
        runs.write_json(run_dir / runs.CONFIG, config)

    channels = input_shape[2]
    fit_train = session_dataset(x_train, y_train, len(labels), cfg, channels, state["epochs_done"])
    fit_val = make_dataset(x_val, val_ds.labels, len(labels), cfg, channels, False)
    fit_test = (make_dataset(prepare_images(test_ds.images, input_shape), test_ds.labels, len(labels), cfg, channels, False)
                if test_ds is not None else None)
    ema = WeightEMA(cfg.ema) if cfg.ema else None
    ema_path = run_dir / EMA_WEIGHTS
    if ema and state["epochs_done"]:
        ema.load(ema_path)

    class RunRecorder(keras.callbacks.Callback):
        """Writes history, the checkpoint, the best model and state after every epoch; applies the LR schedule."""

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.time()
            if cfg.schedule in ("cosine", "constant") or (cfg.warmup_epochs and epoch < cfg.warmup_epochs):
                self.model.optimizer.learning_rate.assign(lr_at(cfg, epoch))

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            seconds = time.time() - self.t0
            lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            row = {"epoch": epoch + 1, "lr": lr, "seconds": round(seconds, 2),
                   **{k: float(logs[k]) for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in logs}}
            val_acc = float(logs.get("val_accuracy", 0.0))
            if fit_test is not None:  # reported only: the test split never picks an epoch
                row["test_accuracy"] = accuracy(self.model, fit_test)
            source = "weights"
            if ema:  # the model holds the average while it is evaluated, and while it is saved if it is better
                ema.swap()
                row["ema_val_accuracy"] = accuracy(self.model, fit_val)
                if fit_test is not None:
                    row["ema_test_accuracy"] = accuracy(self.model, fit_test)
                if row["ema_val_accuracy"] > val_acc:
                    source, val_acc = "ema", row["ema_val_accuracy"]
                else:
                    ema.swap()
            if val_acc > state["best_val_accuracy"]:
                state.update(best_val_accuracy=val_acc, best_epoch=epoch + 1, wait=0, best_source=source)
                save_inference_model(self.model, run_dir / runs.MODEL)
                for stale in (runs.ONNX_MODEL, runs.ONNX_INT8_MODEL):  # exported again at the end
                    (run_dir / stale).unlink(missing_ok=True)
            else:
                state["wait"] += 1
            if source == "ema":
                ema.swap()
            runs.append_history(run_dir, row)
            state["epochs_done"] = epoch + 1
            state["train_seconds"] += seconds
            self.model.save(ckpt_path)
            if ema:
                ema.save(ema_path)
            runs.write_json(state_path, state)
            record_progress(run_dir, config, state)
            if on_epoch:
                on_epoch(row)
            if cfg.patience and state["wait"] >= cfg.patience:
                log.info("Early stopping: no val_accuracy gain for %d epochs", cfg.patience)
                self.model.stop_training = True
                config["early_stopped"] = True

    callbacks = ([ema] if ema else []) + [RunRecorder()]
    if cfg.schedule == "plateau":
        recipe = spec.recipe
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor="val_accuracy", factor=recipe.get("plateau_factor", 0.2), patience=recipe.get("plateau_patience", 5),
            min_lr=recipe.get("min_lr", 1e-5)))
    stopped_early = cfg.patience and state["wait"] >= cfg.patience
    if state["epochs_done"] < cfg.epochs and not stopped_early:
        model.fit(fit_train, validation_data=fit_val, epochs=cfg.epochs, initial_epoch=state["epochs_done"],
                  callbacks=callbacks, verbose=verbose)

    keras.config.set_dtype_policy("float32")  # the export and the evaluation read the saved file as the app does
    best = keras.models.load_model(run_dir / runs.MODEL, compile=False)
    write_onnx(best, run_dir, onnx_backend.calibration_inputs(Classifier(best, labels, backend="keras"), train_ds.images))
    clf = Classifier(best, labels, name=run_dir.name, config=config, onnx_path=run_dir / runs.ONNX_MODEL)
    scored, usage = (test_ds, cfg.test_usage) if test_ds is not None else (val_ds, cfg.val_usage)
    metrics, cm = evaluate(clf, scored, tta=cfg.tta, copies=fer2013_training_copies(cfg.data, scored, usage))
    metrics["model_epoch"] = state["best_epoch"]
    metrics["split"] = scored.split
    write_evaluation(run_dir, metrics, cm)
    config["finished"] = True
    runs.write_json(run_dir / runs.CONFIG, config)
    ckpt_path.unlink(missing_ok=True)
    ema_path.unlink(missing_ok=True)
    return run_dir
