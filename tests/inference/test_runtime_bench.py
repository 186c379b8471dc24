"""benchmarks/bench_runtimes.py: the TFLite file it times against ONNX Runtime is really int8 and agrees with the Keras
net it came from, and its timer alternates the runtimes within each round."""
from __future__ import annotations

import numpy as np
import pytest

from tests.factories import load_bench


@pytest.fixture(scope="module")
def bench():
    return load_bench("bench_runtimes")


def small_net(seed: int = 0, train: bool = True):
    """A small conv net, fitted for a few epochs to tell ``gratings`` apart by angle (7 classes) so that its softmax
    rows are peaked and varied and agreement with it means something."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((24, 24, 1)),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(7, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    if train:
        x, angle = gratings(512, seed=seed + 1, with_angle=True)
        model.fit(x, (angle / np.pi * 7).astype(int).clip(0, 6), epochs=15, batch_size=64, verbose=0)
    return model


def gratings(n: int, size: int = 24, seed: int = 0, with_angle: bool = False):
    """``n`` sine gratings of random angle, frequency, phase and contrast (and, ``with_angle``, their angles)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    angle, freq, phase, contrast = (rng.uniform(0, np.pi, n), rng.uniform(1, 6, n), rng.uniform(0, 2 * np.pi, n),
                                    rng.uniform(0.1, 0.5, n))
    wave = np.sin(2 * np.pi * freq[:, None, None] * (np.cos(angle)[:, None, None] * xx + np.sin(angle)[:, None, None]
                                                      * yy) + phase[:, None, None])
    x = (0.5 + contrast[:, None, None] * wave)[..., None].astype(np.float32)
    return (x, angle) if with_angle else x


def test_the_tflite_file_is_int8_and_agrees_with_the_keras_net(bench, tmp_path):
    tf = pytest.importorskip("tensorflow")
    model = small_net()
    x = gratings(64)
    path = bench.tflite_int8(model, x, tmp_path / "net.tflite")
    details = tf.lite.Interpreter(model_path=str(path)).get_tensor_details()
    assert any(d["dtype"] == np.int8 and len(d["shape"]) == 4 for d in details), "no int8 conv weights"
    expected = np.asarray(model(x, training=False))
    assert expected.max(axis=1).mean() > 0.5 and len(set(expected.argmax(axis=1))) >= 3  # not a uniform net
    got = bench.predict_all(bench.tflite_forward(path, batch=16), x, 16)
    assert got.shape == expected.shape
    assert np.percentile(np.abs(got - expected).max(axis=1), 99) <= 0.1
    assert np.mean(got.argmax(axis=1) == expected.argmax(axis=1)) >= 0.9
    builtin = bench.predict_all(bench.tflite_forward(path, batch=16, xnnpack=False), x, 16)
    np.testing.assert_allclose(builtin, got, atol=0.05)


def test_the_tflite_interpreter_and_the_batching_refuse_other_sizes(bench, tmp_path):
    pytest.importorskip("tensorflow")
    x = np.zeros((20, 24, 24, 1), np.float32)
    forward = bench.tflite_forward(bench.tflite_int8(small_net(train=False), x, tmp_path / "net.tflite"), batch=8)
    with pytest.raises(ValueError, match="Received: rows=20"):
        forward(x)
    with pytest.raises(ValueError, match=r"multiple of the batch \(8\). Received: rows=20"):
        bench.predict_all(forward, x, 8)
    with pytest.raises(ValueError, match=r"Received: shape=\(0,\)"):
        bench.tflite_int8(small_net(train=False), np.zeros(0), tmp_path / "empty.tflite")


def test_each_round_times_every_runtime_on_every_batch_in_turn(bench):
    calls = []
    ticks = iter(range(1000))
    forwards = {name: (lambda b, name=name: calls.append((name, len(b)))) for name in ("a", "b")}
    batches = [np.zeros((4, 1)), np.zeros((4, 1))]
    medians = bench.alternate(forwards, batches, rounds=3, clock=lambda: float(next(ticks)))
    assert calls == [("a", 4), ("a", 4), ("b", 4), ("b", 4)] * 3
    # each timed call spans one clock tick: 1 s over 4 faces is 250 ms per face
    assert medians == {"a": [250.0] * 3, "b": [250.0] * 3}
