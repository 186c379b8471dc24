"""A student's share with a class session: their per-second aggregates forwarded from the live pipeline to the store.

``ClassShare`` runs one background thread per student. Every ``flush_every`` seconds it reads the seconds that the
``EngagementRecorder`` of the student's ``LiveProcessor`` has completed since the last pass and writes them in one
batch (``ClassStore.add_seconds``). The WebRTC video callback never waits for the database: it only fills the recorder,
as it does without a class. Nothing but the class row (in view, facing the screen, dominant emotion, Sharma's index)
leaves.

Per second, the student's row comes from the face present in most of that second's frames (the student; a second
person passing behind them does not replace them); no face in any processed frame of the second -> ``present=False``
(not in view). A face detected but not yet named by the tracker (its first sighting: the first frames of a stream)
counts as in view, with expression and facing unknown. Seconds are put on the class's time axis (UTC epoch seconds)
from the clock time of the record's first shared second.

A second in which no frame was processed at all (the server was busy: with many students on a few cores a student's
frames are processed in bursts, and the recorder has no bucket for the seconds in between) is not evidence of absence.
Such a hole of at most ``FILL_GAP_S`` seconds between two seconds where the face was in view is filled with the
earlier second's row; a longer hole, or one next to a second without the face, is left without rows (the summary
counts holes shorter than ``figures.ABSENT_AFTER_S`` as absent, longer ones as "no video"). (Issue 26's "49% present
at N = 30" came mostly from the benchmark's own video: see benchmarks/bench_class.py.)

Only seconds recorded after the share started (after the student consented) are sent. When no new second comes for
``absent_after`` seconds (camera stopped, tab closed, connection lost) the student is marked absent; after
``idle_stop_after`` seconds, or when the processor is gone (the browser session ended), sharing ends. While the database
is unavailable, rows wait in memory (up to ``max_pending``) and go with the next write that succeeds.
"""
from __future__ import annotations

import math
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from .store import ClassroomError, ClassStore, ClassStoreUnavailable, Participant, SecondRow, SessionClosed


FILL_GAP_S = 2  # the longest hole of seconds without any processed frame that is filled from its neighbours


@dataclass(frozen=True)
class ShareStatus:
    """What the student's page shows about their share."""

    participant: Participant
    sharing: bool  # the thread runs (False once ended)
    rows_sent: int
    pending: int  # rows waiting for the database
    last_write: float | None  # clock time of the latest successful write
    error: str = ""  # the latest database problem (sharing retries)
    ended: str = ""  # why sharing ended ("" while sharing)
    lesson_ended: bool = False  # the teacher ended the lesson (sharing stopped)


def second_row(t: int, face_rows: list[dict], unconfirmed: int = 0) -> SecondRow:
    """One student's class row of one second from that second's face rows (``EngagementRecorder`` rows); a second
    whose only face was detected but not yet named (``unconfirmed`` frames: the tracker names a face from its second
    sighting) is in view, with its expression and facing unknown."""
    present = [r for r in face_rows if r["present"]]
    if not present:
        return SecondRow(t=t, present=unconfirmed > 0)
    main = max(present, key=lambda r: r["frames_seen"])
    index = main["engagement"]
    return SecondRow(t=t, present=True, emotion=main["dominant_emotion"],
                     engagement=None if index is None or math.isnan(index) else round(float(np.clip(index, 0, 1)), 4),
                     facing=main.get("facing"))


class ClassShare:
    """Forwards a live processor's completed seconds to a class session from a background thread, in batches."""

    def __init__(self, store: ClassStore, participant: Participant, source, *, flush_every: float = 2.0,
                 absent_after: float = 10.0, idle_stop_after: float = 300.0, max_pending: int = 3600,
                 clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic,
                 start: bool = True, writer=None):
        if flush_every <= 0 or absent_after <= 0 or idle_stop_after < absent_after:
            raise ValueError(f"Expected flush_every > 0 and 0 < absent_after <= idle_stop_after. Received: "
                             f"flush_every={flush_every}, absent_after={absent_after}, "
                             f"idle_stop_after={idle_stop_after}")
        self.store = store
        self.participant = participant
        self._source = weakref.ref(source)  # an object with .recorder (a LiveProcessor); held weakly: sharing ends
        # when the browser session that owns it is gone
        self.flush_every = flush_every
        self.absent_after = absent_after
        self.idle_stop_after = idle_stop_after
        self.max_pending = max_pending
        self._writer = writer  # a fer_core.classroom.writer.ClassWriter: this process's batched writer (the rows of
        # every student in one transaction, retried while the database is away); None: this share writes itself
        self._clock, self._mono = clock, monotonic
        self.started_at = clock()  # nothing recorded before the student consented is sent
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._recorder = None
        self._resets: int | None = None
        self._after = -1  # the last recorder second taken
        self._anchor: int | None = None  # epoch second of recorder second 0
        self._last_t: int | None = None
        self._prev: SecondRow | None = None  # the latest row taken (to fill a short hole after it)
        self._latest: int | None = None  # the latest recorder second seen
        self._last_new = monotonic()  # when a new second last appeared
        self._absent_marked = False
        self._pending: list[SecondRow] = []
        self.latencies: deque[float] = deque(maxlen=10_000)  # seconds per successful batch write
        self._rows_sent = 0
        self._last_write: float | None = None
        self._error = ""
        self._ended = ""
        self._lesson_ended = False
        if start:
            self.start()

    # ----- lifecycle -----
    def start(self) -> None:
        with self._lock:
            if self._thread is None and not self._ended:
                self._thread = threading.Thread(target=self._run, name=f"class-share-{self.participant.id}",
                                                daemon=True)
                self._thread.start()

    def stop(self, leave: bool = True, reason: str = "You left the class.") -> None:
        """End sharing: send what is recorded (the latest second too), then mark the student as having left
        (``leave``) or absent."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        with self._lock:
            if self._ended:
                return
            self.flush(final=True)
            self._end(reason, leave=leave)

    def _end(self, reason: str, leave: bool) -> None:
        self._ended = reason
        self._stop.set()
        try:
            (self.store.leave if leave else self.store.mark_absent)(self.participant.id)
        except (ClassStoreUnavailable, SessionClosed):
            pass

    @property
    def sharing(self) -> bool:
        return not self._ended

    def status(self) -> ShareStatus:
        with self._lock:
            if self._writer is not None:
                w = self._writer.status()
                pid = self.participant.id
                return ShareStatus(self.participant, not self._ended, self._writer.written(pid),
                                   self._writer.pending(pid), w.last_write, w.last_error, self._ended,
                                   self._lesson_ended)
            return ShareStatus(self.participant, not self._ended, self._rows_sent, len(self._pending),
                               self._last_write, self._error, self._ended, self._lesson_ended)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_every):
            with self._lock:
                if self._ended or self._stop.is_set():
                    return
                self.flush()
                if self._ended:
                    return
                idle = self._mono() - self._last_new
                if self._source() is None:
                    self._end("The webcam session ended.", leave=False)
                elif idle >= self.idle_stop_after:
                    self._end(f"Sharing ended after {self.idle_stop_after / 60:.0f} minutes without video.",
                              leave=False)
                elif idle >= self.absent_after and not self._absent_marked:
                    try:
                        self.store.mark_absent(self.participant.id)
                        self._absent_marked = True
                    except ClassStoreUnavailable as e:
                        self._error = str(e)

    # ----- one pass -----
    def flush(self, final: bool = False) -> int:
        """Take the newly completed seconds (with ``final``, the latest one too) and write every waiting row in one
        batch; returns the rows written (0 when the database is unavailable: they wait for the next pass)."""
        with self._lock:
            if self._ended:
                return 0
            if self._writer is not None:
                return self._submit(final)
            self._pending.extend(self._take(final))
            if len(self._pending) > self.max_pending:
                del self._pending[:len(self._pending) - self.max_pending]
            if not self._pending:
                return 0
            batch = list(self._pending)
            start = time.perf_counter()
            try:
                self.store.add_seconds(self.participant.id, batch)
            except ClassStoreUnavailable as e:
                self._error = str(e)
                return 0
            except SessionClosed as e:
                self._pending.clear()
                self._stop_sharing(str(e))
                return 0
            self.latencies.append(time.perf_counter() - start)
            del self._pending[:len(batch)]
            self._rows_sent += len(batch)
            self._last_write = self._clock()
            self._error = ""
            self._absent_marked = False
            return len(batch)

    def _stop_sharing(self, reason: str) -> None:
        """Sharing can go on no longer (the student left, or the teacher ended the lesson, which is then recorded)."""
        self._ended = reason
        self._stop.set()
        try:
            self._lesson_ended = self.store.session(self.participant.session_id).ended_at is not None
        except ClassroomError:
            pass

    def _submit(self, final: bool) -> int:
        """``flush`` through the process's writer: queue the new rows (returns how many); with ``final``, write them
        now, so that they are stored before the student is marked as having left."""
        pid = self.participant.id
        rows = self._take(final)
        if rows:
            self._writer.submit(pid, rows)
            self._absent_marked = False
        if final:
            while self._writer.pending(pid) and self._writer.flush():
                pass
        closed = self._writer.closed(pid)
        if closed and not self._ended:
            self._stop_sharing(closed)
        self._error = self._writer.status().last_error
        return len(rows)

    def _take(self, final: bool) -> list[SecondRow]:
        source = self._source()
        if source is None:
            return []
        recorder = source.recorder
        if recorder is not self._recorder:  # a model with other labels started a new record
            self._recorder, self._resets = recorder, None
        resets, seconds = recorder.completed_seconds(self._after, include_latest=True)
        if resets != self._resets:  # first pass on this record, or the student pressed Reset: seconds restart at 0
            self._resets, self._after, self._anchor, self._prev = resets, -1, None, None
            resets, seconds = recorder.completed_seconds(-1, include_latest=True)
        if not seconds:
            return []
        latest, latest_wall = seconds[-1][0], seconds[-1][1]
        if self._latest != latest:
            self._latest = latest
            self._last_new = self._mono()
        # the latest second may still be filling: it ends less than 1 s after its first frame
        if not final and self._clock() - latest_wall < 1.5:
            seconds = seconds[:-1]
        rows = []
        for sec, wall, face_rows, unconfirmed in seconds:
            self._after = sec
            if wall < self.started_at:
                continue
            if self._anchor is None:
                self._anchor = math.floor(wall) - sec
            t = self._anchor + sec
            if self._last_t is not None and t <= self._last_t:
                continue
            row = second_row(t, face_rows, unconfirmed)
            prev = self._prev
            if prev is not None and row.present and prev.present and 1 < t - prev.t <= FILL_GAP_S + 1:
                rows += [replace(prev, t=k) for k in range(prev.t + 1, t)]  # no frame processed in these seconds: the face stayed
            self._last_t = t
            self._prev = row
            rows.append(row)
        return rows
