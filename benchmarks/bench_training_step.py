"""Training cost per FER2013 epoch on this machine: the augmentation pipeline and the model's training step, apart.

    python benchmarks/bench_training_step.py [--arch fer_vgg_wide] [--augment fer] [--batch 128] [--steps 20]
                                             [--backend tensorflow|jax|torch] [--precision float32|bfloat16]

Both run on random 48x48 images (no dataset needed). The step is Keras ``fit`` on one fixed batch with the
architecture's own recipe (optimizer, weight decay, label smoothing, as training builds them), so it measures compute
alone; the pipeline is the training ``tf.data`` map alone. Run it with nothing else running: a session's epoch takes about the sum plus validation.
Off TensorFlow (``--backend jax|torch``) the step is the portable trainer's (``portable.build_trainer``): the batch
augmentation runs inside it, so its time is the whole epoch's compute.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from fer_core.training.train_cli import BACKENDS, PRECISIONS  # noqa: E402  (Keras-free: the backend is set after)

FER2013_TRAINING = 28709


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="fer_vgg_wide")
    ap.add_argument("--augment", default="fer")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--backend", default="tensorflow", choices=BACKENDS, help="the Keras backend (set before Keras loads)")
    ap.add_argument("--precision", default="float32", choices=PRECISIONS,
                    help="bfloat16: Keras's mixed_bfloat16 policy, as train --precision bfloat16 uses it")
    args = ap.parse_args()
    os.environ["KERAS_BACKEND"] = args.backend
    import keras

    from fer_core.training.trainer import dtype_policy

    keras.config.set_dtype_policy(dtype_policy(args.precision))

    from fer_core.training.architectures import create_model, list_models
    from fer_core.training.augmentation import AUGMENTATIONS
    from fer_core.training.trainer import TrainConfig

    if args.arch not in list_models() or args.augment not in AUGMENTATIONS:
        ap.error(f"Expected --arch in {list_models()} and --augment in {list(AUGMENTATIONS)}. "
                 f"Received: arch={args.arch!r}, augment={args.augment!r}")
    batches_per_epoch = FER2013_TRAINING / args.batch
    rng = np.random.default_rng(0)
    cfg = TrainConfig(data="-", arch=args.arch, out="-", augment=args.augment, batch_size=args.batch).resolved()
    if args.backend != "tensorflow":
        portable_step(args, cfg, batches_per_epoch, rng)
        return

    import tensorflow as tf

    from fer_core.training.trainer import make_dataset, make_optimizer

    n = args.batch * args.steps
    x = rng.integers(0, 256, (n, 48, 48, 1), dtype=np.uint8)
    y = rng.integers(0, 7, n)
    it = iter(make_dataset(x, y, 7, cfg, 1, training=True))
    next(it)
    t = time.perf_counter()
    k = sum(1 for _ in it)
    pipe = (time.perf_counter() - t) / k
    print(f"augmentation {args.augment}: {pipe * 1000:.1f} ms per batch of {args.batch}, "
          f"{pipe * batches_per_epoch:.0f} s per FER2013 epoch")

    model = create_model(args.arch, 7)
    model.compile(optimizer=make_optimizer(cfg), metrics=["accuracy"],
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing))
    side = model.input_shape[1]
    xb = tf.constant(rng.integers(0, 256, (args.batch, side, side, model.input_shape[3])).astype(np.float32))
    yb = tf.one_hot(y[:args.batch], 7)
    batches = tf.data.Dataset.from_tensors((xb, yb)).repeat()
    model.fit(batches.take(3), epochs=1, verbose=0)  # builds and traces the step
    t = time.perf_counter()
    model.fit(batches.take(args.steps), epochs=1, verbose=0)
    step = (time.perf_counter() - t) / args.steps
    print(f"{args.arch} ({model.count_params():,} parameters), {args.precision}: training step {step * 1000:.0f} ms per batch of "
          f"{args.batch}, {step * batches_per_epoch:.0f} s per FER2013 epoch of compute")


def portable_step(args, cfg, batches_per_epoch: float, rng) -> None:
    """The portable trainer's step (augmentation inside) on ``args.steps`` random batches, after one warm-up epoch."""
    import keras

    from fer_core.training.architectures import get_spec
    from fer_core.training.portable import build_trainer

    side, _, channels = get_spec(args.arch).input_shape
    n = args.batch * args.steps
    x = rng.integers(0, 256, (n, side, side, channels)).astype(np.float32)
    y = np.eye(7, dtype=np.float32)[rng.integers(0, 7, n)]
    model, trainer = build_trainer(cfg, (side, side, channels), 7)
    trainer.fit(x[:args.batch * 2], y[:args.batch * 2], batch_size=args.batch, epochs=1, verbose=0)  # compiles the step
    t = time.perf_counter()
    trainer.fit(x, y, batch_size=args.batch, epochs=1, verbose=0, shuffle=False)
    step = (time.perf_counter() - t) / args.steps
    print(f"{args.arch} ({model.count_params():,} parameters) on {keras.backend.backend()} "
          f"(jit_compile={trainer.jit_compile}), {args.precision}, {args.augment} augmentation in the step: {step * 1000:.0f} ms per batch "
          f"of {args.batch}, {step * batches_per_epoch:.0f} s per FER2013 epoch of compute")


if __name__ == "__main__":
    main()
