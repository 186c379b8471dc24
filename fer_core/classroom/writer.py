"""One database writer per process: the per-second rows of every student this server holds, in batched transactions.

A class of 30 writing one transaction each per second queues on SQLite's single write lock (the issue-24 benchmark:
write p95 of 3.5 s at 30 students). ``ClassWriter`` instead takes rows from every student's share (``submit`` never
touches the database and never blocks on it), and a background thread writes whatever waits, for all students at once,
in one transaction (``ClassStore.add_seconds_many``) every ``flush_every`` seconds, or sooner once ``max_batch`` rows
wait.

A database that goes away mid-lesson (server restarted, network cut, file locked by another program): the rows stay in
memory, in order, and the writer retries with exponential back-off (``retry_min_s`` doubling up to ``retry_max_s``,
with jitter so that many servers do not retry in step). Nothing already submitted is lost while the backlog is under
``max_pending`` rows (an hour of a 55-student class at the default); beyond it the oldest rows go first and are
counted in ``WriterStatus.dropped``. ``status()`` says when the last write succeeded, how many rows wait, and the
last error, for the pages to show.

``shared_writer(store)`` is the process's writer for a store (one per store object, created on first use); the
Webcam page's shares use it.
"""
from __future__ import annotations

import itertools
import random
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Callable, Sequence

from .store import ClassStore, ClassStoreUnavailable, SecondRow

DEFAULT_FLUSH_EVERY_S = 0.5
DEFAULT_MAX_BATCH = 5_000
DEFAULT_MAX_PENDING = 200_000


@dataclass(frozen=True)
class WriterStatus:
    """What a page shows about this process's class writes."""

    running: bool
    rows_written: int
    pending: int  # rows waiting for the database
    last_write: float | None  # clock time of the latest successful write (None: none yet)
    last_error: str  # the latest database problem ("" once a write succeeds again)
    error_since: float | None  # clock time of the first failure of the current outage (None: no outage)
    retry_at: float | None  # clock time of the next attempt while the database is away
    dropped: int  # rows discarded because the backlog exceeded max_pending (0 unless a very long outage)

    @property
    def healthy(self) -> bool:
        return not self.last_error

    def describe(self, now: float | None = None) -> str:
        """One sentence for a page: all well, or how long the database has been away and what waits."""
        now = time.time() if now is None else now
        last = "never" if self.last_write is None else f"{max(0.0, now - self.last_write):.0f} s ago"
        if self.healthy:
            return f"Class database: writing ({self.rows_written} rows stored, last write {last}, {self.pending} waiting)."
        since = "" if self.error_since is None else f" for {max(0.0, now - self.error_since):.0f} s"
        lost = f"; {self.dropped} oldest rows dropped (backlog full)" if self.dropped else ""
        return (f"Class database unavailable{since}: {self.pending} rows wait in memory and are retried "
                f"(last successful write {last}{lost}). Last error: {self.last_error}")


class ClassWriter:
    """Batches the per-second rows of every student of this process into one transaction per pass (thread-safe)."""

    def __init__(self, store: ClassStore, *, flush_every: float = DEFAULT_FLUSH_EVERY_S,
                 max_batch: int = DEFAULT_MAX_BATCH, max_pending: int = DEFAULT_MAX_PENDING,
                 retry_min_s: float = 0.5, retry_max_s: float = 30.0, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic, start: bool = True):
        if flush_every <= 0 or max_batch < 1 or max_pending < max_batch or not 0 < retry_min_s <= retry_max_s:
            raise ValueError(f"Expected flush_every > 0, 1 <= max_batch <= max_pending, 0 < retry_min_s <= "
                             f"retry_max_s. Received: flush_every={flush_every}, max_batch={max_batch}, "
                             f"max_pending={max_pending}, retry_min_s={retry_min_s}, retry_max_s={retry_max_s}")
        self.store = store
        self.flush_every, self.max_batch, self.max_pending = flush_every, max_batch, max_pending
        self.retry_min_s, self.retry_max_s = retry_min_s, retry_max_s
        self._clock, self._mono = clock, monotonic
        self._lock = threading.Lock()  # guards the queue and the figures; never held during a database call
        self._write_lock = threading.Lock()  # one pass at a time (the thread, or a caller's flush())
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._queue: deque[tuple[int, int, SecondRow]] = deque()  # (sequence, participant, row), in submission order
        self._seq = 0
        self._closed: dict[int, str] = {}  # participant -> why they can no longer share
        self._written: dict[int, int] = {}  # participant -> rows stored
        self._rows_written = 0
        self._dropped = 0
        self._last_write: float | None = None
        self._last_error = ""
        self._error_since: float | None = None
        self._failures = 0
        self._retry_at_mono: float | None = None
        self.latencies: deque[float] = deque(maxlen=10_000)  # seconds per successful batch transaction
        if start:
            self.start()

    # ----- lifecycle -----
    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="class-writer", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the thread after a last pass; True when nothing was left waiting."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self.flush()
        return self.pending() == 0

    # ----- students' side -----
    def submit(self, participant_id: int, rows: Sequence[SecondRow]) -> None:
        """Queue a student's rows (validated now, stored by the next pass); returns at once."""
        if not rows:
            return
        from .store import _second_values  # validation only: a bad row fails its sender, not the whole batch

        for r in rows:
            _second_values(participant_id, r)
        with self._lock:
            if int(participant_id) in self._closed:
                return
            for r in rows:
                self._seq += 1
                self._queue.append((self._seq, int(participant_id), r))
            over = len(self._queue) - self.max_pending
            for _ in range(max(0, over)):  # bounded memory: the oldest go first (counted)
                self._queue.popleft()
                self._dropped += 1
            if len(self._queue) >= self.max_batch:
                self._wake.set()

    def closed(self, participant_id: int) -> str:
        """Why this participant can no longer share ("" while they can): found out by a pass."""
        with self._lock:
            return self._closed.get(int(participant_id), "")

    def written(self, participant_id: int) -> int:
        with self._lock:
            return self._written.get(int(participant_id), 0)

    def pending(self, participant_id: int | None = None) -> int:
        with self._lock:
            if participant_id is None:
                return len(self._queue)
            return sum(1 for _, pid, _ in self._queue if pid == participant_id)

    def status(self) -> WriterStatus:
        with self._lock:
            retry_at = None
            if self._retry_at_mono is not None:
                retry_at = self._clock() + max(0.0, self._retry_at_mono - self._mono())
            return WriterStatus(self._thread is not None and self._thread.is_alive() and not self._stop.is_set(),
                                self._rows_written, len(self._queue), self._last_write, self._last_error,
                                self._error_since, retry_at, self._dropped)

    # ----- the writing pass -----
    def flush(self) -> int:
        """One pass: write up to ``max_batch`` waiting rows (all students) in one transaction. Returns the rows
        stored; 0 when the database is unavailable (the rows stay queued, the back-off grows)."""
        with self._write_lock:
            with self._lock:
                taken = list(itertools.islice(self._queue, self.max_batch))
            if not taken:
                return 0
            last_seq = taken[-1][0]
            batches: dict[int, list[SecondRow]] = {}
            for _, pid, row in taken:
                batches.setdefault(pid, []).append(row)
            start = time.perf_counter()
            try:
                closed = self.store.add_seconds_many(batches)
            except ClassStoreUnavailable as e:
                with self._lock:
                    self._failures += 1
                    self._last_error = str(e)
                    if self._error_since is None:
                        self._error_since = self._clock()
                    delay = min(self.retry_max_s, self.retry_min_s * 2 ** (self._failures - 1))
                    self._retry_at_mono = self._mono() + delay * (0.75 + 0.5 * random.random())
                return 0
            elapsed = time.perf_counter() - start
            with self._lock:
                # the rows taken were the queue's head (the bound may have dropped some of them meanwhile)
                while self._queue and self._queue[0][0] <= last_seq:
                    self._queue.popleft()
                stored = 0
                for pid, rows in batches.items():
                    if pid in closed:
                        self._closed[pid] = closed[pid]
                    else:
                        self._written[pid] = self._written.get(pid, 0) + len(rows)
                        stored += len(rows)
                if self._closed:  # rows of closed participants that arrived later are never stored
                    self._queue = deque(item for item in self._queue if item[1] not in self._closed)
                self._rows_written += stored
                self._last_write = self._clock()
                self._last_error, self._error_since, self._failures, self._retry_at_mono = "", None, 0, None
                self.latencies.append(elapsed)
            return stored

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_every)
            self._wake.clear()
            if self._stop.is_set():
                return
            with self._lock:
                retry_at = self._retry_at_mono
            if retry_at is not None and self._mono() < retry_at:
                self._wake.wait(max(0.0, retry_at - self._mono()))
                self._wake.clear()
                if self._stop.is_set():
                    return
            try:
                while self.flush() >= self.max_batch and not self._stop.is_set():
                    pass  # a backlog (after an outage) goes in max_batch slices without waiting
            except Exception as e:  # noqa: BLE001  (a bug must not kill the writer: reported, retried)
                with self._lock:
                    self._last_error = f"{type(e).__name__}: {e}"
                    self._failures += 1
                    self._retry_at_mono = self._mono() + self.retry_max_s


_WRITERS: "weakref.WeakKeyDictionary[ClassStore, ClassWriter]" = weakref.WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()


def shared_writer(store: ClassStore, **kwargs) -> ClassWriter:
    """This process's writer for ``store`` (created and started on first use; ``kwargs`` apply then only)."""
    with _WRITERS_LOCK:
        writer = _WRITERS.get(store)
        if writer is None:
            writer = _WRITERS[store] = ClassWriter(store, **kwargs)
        else:
            writer.start()
        return writer


def writer_status(store: ClassStore) -> WriterStatus | None:
    """The status of this process's writer for ``store``; None when no student of this process shares."""
    with _WRITERS_LOCK:
        writer = _WRITERS.get(store)
    return None if writer is None else writer.status()
