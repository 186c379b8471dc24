"""fer_core.live.batcher: many streams' faces classified in shared batches, with each stream's own rows back, errors
to their callers, and never more than one waiting request per stream (no queue growth)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from fer_core.live.batcher import BatchedClassifier, shared_batched
from fer_core.labels import EMOTIONS


class CountingClassifier:
    """Probabilities that encode each face's mean brightness, so rows can be checked against their faces."""

    labels = tuple(EMOTIONS)
    name, backend, tta = "counting", "none", "none"

    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()

    def predict_proba(self, faces, tta=None, photo=False):
        with self.lock:
            self.calls.append((len(faces), tta))
        out = np.zeros((len(faces), len(self.labels)), np.float32)
        for i, f in enumerate(faces):
            out[i, 0] = float(np.mean(f))
        return out


def test_streams_get_their_own_rows_from_shared_batches():
    clf = CountingClassifier()
    batched = BatchedClassifier(clf, max_wait_s=0.05)
    results, barrier = {}, threading.Barrier(12)

    def stream(k):
        faces = [np.full((48, 48), k * 10 + j, np.uint8) for j in range(1 + k % 2)]
        barrier.wait()
        for _ in range(5):
            results[k] = batched.predict_proba(faces, tta="none")

    threads = [threading.Thread(target=stream, args=(k,)) for k in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(12):
        assert results[k][:, 0].tolist() == [k * 10 + j for j in range(1 + k % 2)]
    assert batched.requests == 60 and batched.batches < 60  # shared calls
    assert max(n for n, _ in clf.calls) > 2
    assert batched.max_waiting <= 12  # at most one waiting request per stream: nothing queues up
    assert batched.labels == clf.labels and batched.name == "counting"  # the wrapped classifier's attributes
    batched.close()


def test_different_tta_settings_are_never_mixed_and_errors_reach_their_callers():
    clf = CountingClassifier()
    batched = BatchedClassifier(clf, max_wait_s=0.0)
    assert batched.predict_proba([np.zeros((48, 48), np.uint8)], tta="flip").shape == (1, len(EMOTIONS))
    assert clf.calls[-1] == (1, "flip")

    def broken(faces, tta=None, photo=False):
        raise RuntimeError("model exploded")

    clf.predict_proba = broken
    with pytest.raises(RuntimeError, match="model exploded"):
        batched.predict_proba([np.zeros((48, 48), np.uint8)])
    batched.close()
    with pytest.raises(RuntimeError, match="closed"):
        batched.predict_proba([np.zeros((48, 48), np.uint8)])


def test_one_batched_classifier_per_model_and_the_live_pipeline_runs_on_it():
    from fer_core.live.processor import LiveProcessor, LiveSettings

    clf = CountingClassifier()
    assert shared_batched(clf) is shared_batched(clf)
    proc = LiveProcessor(shared_batched(clf), LiveSettings(mirror=False, detect_every=1),
                         detector_factory=lambda s: (lambda img: [(100, 100, 120, 120)]))
    img = np.full((480, 640, 3), 200, np.uint8)
    for _ in range(3):
        proc.process(img)
    assert len(proc.snapshot().faces) == 1 and shared_batched(clf).requests >= 2
