"""One batched classifier per process for class mode: the faces of every student's stream classified together.

A class of 30 on one server runs 30 ``LiveProcessor``s, each calling the classifier with its one or two faces. The
int8 model costs far less per face in a batch (issue 24: about 0.6 ms per face batched against 2 ms alone), so
``BatchedClassifier`` stands in for the classifier: each stream's call hands its faces to one worker thread, which
waits at most ``max_wait_s`` for other streams' faces, classifies them all in one call and hands every stream its
rows back.

Nothing queues up: a stream's video worker waits for its own answer before it takes its next frame (and
streamlit-webrtc's ``async_processing`` hands it only the newest frame), so at most one request per stream waits at
any time and a stream that falls behind drops frames, never queues them: the newest frame wins.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class _Request:
    faces: list
    tta: object
    photo: bool
    done: threading.Event = field(default_factory=threading.Event)
    result: np.ndarray | None = None
    error: BaseException | None = None


class BatchedClassifier:
    """A classifier whose ``predict_proba`` calls from many threads are classified in shared batches (thread-safe);
    every other attribute is the wrapped classifier's."""

    def __init__(self, classifier, *, max_wait_s: float = 0.004, max_batch: int = 128):
        if max_wait_s < 0 or max_batch < 1:
            raise ValueError(f"Expected max_wait_s >= 0 and max_batch >= 1. Received: max_wait_s={max_wait_s}, "
                             f"max_batch={max_batch}")
        self.classifier = classifier
        self.max_wait_s, self.max_batch = max_wait_s, max_batch
        self._cond = threading.Condition()
        self._waiting: list[_Request] = []
        self._stop = False
        self.batches = 0  # calls to the wrapped classifier
        self.requests = 0  # predict_proba calls answered
        self.max_waiting = 0  # the most requests ever waiting at once (at most one per calling thread)
        self._thread = threading.Thread(target=self._run, name="batched-classifier", daemon=True)
        self._thread.start()

    def __getattr__(self, name):  # labels, name, backend, tta, ... of the wrapped classifier
        return getattr(self.classifier, name)

    def predict_proba(self, faces, tta=None, photo=False) -> np.ndarray:
        faces = list(faces)
        if not faces:
            return self.classifier.predict_proba(faces, tta=tta, photo=photo)
        request = _Request(faces, tta, photo)
        with self._cond:
            if self._stop:
                raise RuntimeError("The batched classifier was closed.")
            self._waiting.append(request)
            self.max_waiting = max(self.max_waiting, len(self._waiting))
            self._cond.notify_all()
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.result

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _take(self) -> list[_Request]:
        """The next batch: the first waiting request and those with the same settings that come within max_wait_s."""
        with self._cond:
            while not self._waiting and not self._stop:
                self._cond.wait()
            if not self._waiting:
                return []
            deadline = time.monotonic() + self.max_wait_s
            while sum(len(r.faces) for r in self._waiting) < self.max_batch:
                left = deadline - time.monotonic()
                if left <= 0 or not self._cond.wait(left):
                    break
            key = (self._waiting[0].tta, self._waiting[0].photo)
            batch, rest, n = [], [], 0
            for r in self._waiting:
                if (r.tta, r.photo) == key and (not batch or n + len(r.faces) <= self.max_batch):
                    batch.append(r)
                    n += len(r.faces)
                else:
                    rest.append(r)
            self._waiting = rest
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                return
            try:
                probs = self.classifier.predict_proba([f for r in batch for f in r.faces], tta=batch[0].tta,
                                                      photo=batch[0].photo)
                start = 0
                for r in batch:
                    r.result = probs[start:start + len(r.faces)]
                    start += len(r.faces)
            except BaseException as e:  # noqa: BLE001  (each caller gets the error of its batch)
                for r in batch:
                    r.error = e
            self.batches += 1
            self.requests += len(batch)
            for r in batch:
                r.done.set()


_SHARED: dict[int, tuple[object, BatchedClassifier]] = {}  # id(classifier) -> (classifier, its batched one)
_SHARED_LOCK = threading.Lock()


def shared_batched(classifier) -> BatchedClassifier:
    """This process's batched classifier for ``classifier`` (one worker per model, created on first use; models are
    cached for the server's life, so these are too)."""
    if isinstance(classifier, BatchedClassifier):
        return classifier
    with _SHARED_LOCK:
        entry = _SHARED.get(id(classifier))
        if entry is None or entry[0] is not classifier:
            entry = _SHARED[id(classifier)] = (classifier, BatchedClassifier(classifier))
        return entry[1]
