"""An exponential moving average (EMA) of a model's weights during training, kept beside the run for resuming.

Averaging the weights over the last few thousand steps gives a smoother, often slightly better model than the last
step's weights (Polyak averaging; timm's ``ModelEmaV2``). Every float weight is averaged, BatchNorm statistics
included; integer state (seed generators) is left alone.
"""
from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

log = logging.getLogger(__name__)

EMA_WEIGHTS = "ema.weights.npz"  # in the run folder, next to checkpoint.keras


def _float_weights(model: keras.Model) -> list:
    return [w for w in model.weights if np.dtype(w.dtype).kind == "f"]


class WeightEMA(keras.callbacks.Callback):
    """Updates ``ema = decay * ema + (1 - decay) * w`` after every training batch.

    ``swap()`` exchanges the model's weights with the averaged ones (call it again to swap back), so the average can be
    evaluated or saved with the model's own code. ``save``/``load`` keep the average across resumed sessions.
    """

    def __init__(self, decay: float):
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1). Received: decay={decay}")
        self.decay = float(decay)
        self._ema: list[tf.Variable] | None = None
        self._pending: list[np.ndarray] | None = None

    def _variables(self) -> list:
        return _float_weights(self.model)

    def _build(self) -> None:
        weights = self._variables()
        init = self._pending if self._pending is not None else [w.numpy() for w in weights]
        if len(init) != len(weights) or any(a.shape != tuple(w.shape) for a, w in zip(init, weights)):
            log.warning("The saved EMA weights do not fit the model; the average starts again from the current weights.")
            init = [w.numpy() for w in weights]
        self._ema = [tf.Variable(a, trainable=False, dtype=w.dtype) for a, w in zip(init, weights)]
        self._pending = None
        decay = tf.constant(self.decay)

        @tf.function
        def update():
            for e, w in zip(self._ema, self._variables()):
                e.assign(decay * e + (1.0 - decay) * tf.convert_to_tensor(w))

        self._update = update

    def on_train_begin(self, logs=None):
        if self._ema is None:
            self._build()

    def on_train_batch_end(self, batch, logs=None):
        self._update()

    def swap(self) -> None:
        """Exchange the model's float weights and the averaged ones."""
        if self._ema is None:
            self._build()
        for e, w in zip(self._ema, self._variables()):
            current = w.numpy()
            w.assign(e.numpy())
            e.assign(current)

    def save(self, path: Path) -> None:
        if self._ema is None:
            return
        tmp = Path(str(path) + ".tmp.npz")
        np.savez(tmp, *[e.numpy() for e in self._ema])
        tmp.replace(path)

    def load(self, path: Path) -> bool:
        """Read a saved average (used at the next ``on_train_begin``); False when there is none or it is unreadable."""
        try:
            with np.load(path) as data:
                self._pending = [data[f"arr_{i}"] for i in range(len(data.files))]
            return True
        except (OSError, ValueError, KeyError) as e:
            if Path(path).exists():
                log.warning("Could not read %s (%s); the average starts from the current weights.", path, e)
            return False


def accuracy(model: keras.Model, dataset) -> float:
    """Top-1 accuracy of ``model`` in inference mode over a dataset of ``(inputs, one-hot targets)`` batches."""
    correct = total = 0
    for xb, yb in dataset:
        probs = keras.ops.convert_to_numpy(model(xb, training=False))
        correct += int(np.sum(np.argmax(probs, axis=1) == np.argmax(yb.numpy(), axis=1)))
        total += len(probs)
    if total == 0:
        raise ValueError("accuracy needs at least one example. Received: an empty dataset")
    return correct / total
