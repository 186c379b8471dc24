"""Training cost per FER2013 epoch on this machine: the augmentation pipeline and the model's training step, apart.

    python benchmarks/bench_training_step.py [--arch fer_vgg_wide] [--augment fer] [--batch 128] [--steps 20]

Both run on random 48x48 images (no dataset needed). The step is Keras ``fit`` on one fixed batch with the
architecture's own recipe (optimizer, weight decay, label smoothing, as training builds them), so it measures compute
alone; the pipeline is the training ``tf.data`` map alone. Run it with nothing else running: a session's epoch takes about the sum plus validation.
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

from fer_core.training.augmentation import AUGMENTATIONS  # noqa: E402
from fer_core.training.architectures import create_model, list_models  # noqa: E402
from fer_core.training.trainer import TrainConfig, make_dataset, make_optimizer  # noqa: E402

FER2013_TRAINING = 28709


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="fer_vgg_wide", choices=list_models())
    ap.add_argument("--augment", default="fer", choices=AUGMENTATIONS)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()

    import keras
    import tensorflow as tf

    batches_per_epoch = FER2013_TRAINING / args.batch
    rng = np.random.default_rng(0)
    n = args.batch * args.steps
    x = rng.integers(0, 256, (n, 48, 48, 1), dtype=np.uint8)
    y = rng.integers(0, 7, n)

    cfg = TrainConfig(data="-", arch=args.arch, out="-", augment=args.augment, batch_size=args.batch).resolved()
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
    print(f"{args.arch} ({model.count_params():,} parameters): training step {step * 1000:.0f} ms per batch of "
          f"{args.batch}, {step * batches_per_epoch:.0f} s per FER2013 epoch of compute")


if __name__ == "__main__":
    main()
