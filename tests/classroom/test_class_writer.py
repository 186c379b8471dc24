"""fer_core.classroom.writer: one writer per process batches every student's rows into one transaction; every row
arrives; a database that goes away is retried (rows kept in memory, in order, bounded) and reported; SQLite runs in
WAL mode. Over SQLite and, when one answers, a live PostgreSQL server (``store_url`` in conftest)."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import event

from fer_core.classroom.store import ClassStore, SecondRow
from fer_core.classroom.writer import ClassWriter, shared_writer, writer_status

from factories import CLASS_T0 as T0


def rows(n: int, start: int = 0) -> list[SecondRow]:
    return [SecondRow(T0 + start + k, True, "neutral", round((k % 10) / 10, 1)) for k in range(n)]


class Outage:
    """Makes the store's engine raise the driver's OperationalError on every statement while ``down``."""

    def __init__(self, store: ClassStore):
        self.down = False
        self.calls = 0
        error = store._engine.dialect.dbapi.OperationalError

        @event.listens_for(store._engine, "before_cursor_execute")
        def _fail(*_args):
            if self.down:
                self.calls += 1
                raise error("server closed the connection unexpectedly (simulated outage)")


@pytest.fixture
def lesson(store_url):
    store = ClassStore(store_url)
    session, _ = store.create_session("Maths")
    people = [store.join(session.join_code, f"Student {i}") for i in range(30)]
    yield store, session, people
    store.close()


def test_every_row_of_a_class_arrives_in_few_transactions(lesson):
    store, session, people = lesson
    writer = ClassWriter(store, start=False)
    for second in range(20):  # 30 students, 20 seconds, each share submitting its second as it completes
        for p in people:
            writer.submit(p.id, rows(1, second))
    assert writer.pending() == 600 and store.count_seconds() == 0  # submit never writes
    assert writer.flush() == 600  # all students, all seconds: one transaction
    assert len(writer.latencies) == 1
    df = store.seconds(session.id)
    assert len(df) == 600 and df.groupby("participant_id").size().tolist() == [20] * 30
    assert not df.duplicated(["participant_id", "t"]).any()
    st = writer.status()
    assert (st.rows_written, st.pending, st.last_error, st.dropped) == (600, 0, "", 0)
    assert writer.written(people[0].id) == 20


def test_background_thread_writes_rows_submitted_from_many_threads(lesson):
    store, session, people = lesson
    writer = ClassWriter(store, flush_every=0.05, max_batch=100, max_pending=100_000)

    def student(p):
        for second in range(30):
            writer.submit(p.id, rows(1, second))

    threads = [threading.Thread(target=student, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = time.monotonic() + 30
    while writer.pending() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert writer.stop()
    assert store.count_seconds() == 900 and writer.status().rows_written == 900
    assert len(writer.latencies) >= 9  # max_batch bounds a transaction


def test_rows_survive_an_outage_and_the_status_reports_it(lesson):
    store, session, people = lesson
    outage = Outage(store)
    wall = [T0 + 100.0]
    writer = ClassWriter(store, start=False, clock=lambda: wall[0], retry_min_s=0.5, retry_max_s=4)
    writer.submit(people[0].id, rows(3))
    assert writer.flush() == 3
    outage.down = True
    for second in range(3, 8):  # the database went away mid-lesson: five seconds of two students arrive meanwhile
        writer.submit(people[0].id, rows(1, second))
        writer.submit(people[1].id, rows(1, second))
        wall[0] += 1
        assert writer.flush() == 0
    st = writer.status()
    assert not st.healthy and st.pending == 10 and st.rows_written == 3 and st.last_write == T0 + 100
    assert "simulated outage" in st.last_error and st.error_since == T0 + 101 and st.retry_at is not None
    assert "10 rows wait in memory" in st.describe(now=T0 + 105) and "for 4 s" in st.describe(now=T0 + 105)
    assert outage.calls >= 5
    outage.down = False  # the database is back
    assert writer.flush() == 10
    df = store.seconds(session.id)
    assert df[df.participant_id == people[0].id]["t"].tolist() == [T0 + k for k in range(8)]  # no second lost
    assert df[df.participant_id == people[1].id]["t"].tolist() == [T0 + k for k in range(3, 8)]
    st = writer.status()
    assert st.healthy and st.pending == 0 and st.error_since is None and st.retry_at is None
    assert st.describe(now=T0 + 106).startswith("Class database: writing (13 rows stored")


def test_the_thread_backs_off_while_the_database_is_away_and_catches_up(lesson):
    store, session, people = lesson
    outage = Outage(store)
    outage.down = True
    writer = ClassWriter(store, flush_every=0.01, retry_min_s=0.05, retry_max_s=0.2)
    for p in people[:5]:
        writer.submit(p.id, rows(10))
    time.sleep(0.6)
    attempts = outage.calls
    assert attempts < 20  # backed off (0.05, 0.1, 0.2, 0.2 ... s), not every 10 ms
    assert writer.status().pending == 50 and not writer.status().healthy
    outage.down = False
    deadline = time.monotonic() + 10
    while writer.pending() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert writer.stop() and store.count_seconds() == 50 and writer.status().healthy


def test_backlog_is_bounded_and_drops_are_counted(lesson):
    store, session, people = lesson
    outage = Outage(store)
    outage.down = True
    writer = ClassWriter(store, start=False, max_batch=50, max_pending=50)
    writer.submit(people[0].id, rows(80))
    assert writer.flush() == 0
    st = writer.status()
    assert st.pending == 50 and st.dropped == 30  # the oldest 30 went; memory stays bounded
    assert "30 oldest rows dropped" in st.describe()
    outage.down = False
    assert writer.flush() == 50
    assert store.seconds(session.id)["t"].tolist() == [T0 + k for k in range(30, 80)]


def test_closed_participants_are_reported_and_the_others_still_written(lesson):
    store, session, people = lesson
    writer = ClassWriter(store, start=False)
    store.leave(people[1].id)
    writer.submit(people[0].id, rows(2))
    writer.submit(people[1].id, rows(2))
    assert writer.flush() == 2
    assert writer.closed(people[1].id) == "You left the class: sharing stopped." and writer.closed(people[0].id) == ""
    writer.submit(people[1].id, rows(1, 5))  # refused from now on
    assert writer.pending() == 0 and store.count_seconds(people[1].id) == 0


def test_one_writer_per_store_in_a_process():
    store = ClassStore("sqlite://")
    assert writer_status(store) is None  # no student shares through this process yet
    w = shared_writer(store)
    assert shared_writer(store) is w and writer_status(store) is not None
    w.stop()
    store.close()


def test_bad_rows_fail_their_sender_not_the_batch(lesson):
    store, session, people = lesson
    writer = ClassWriter(store, start=False)
    with pytest.raises(ValueError, match="present second needs an engagement in \[0, 1\]"):
        writer.submit(people[0].id, [SecondRow(T0, True, "happy", 1.5)])
    assert writer.pending() == 0


def test_sqlite_file_runs_in_wal_mode_with_normal_sync_and_a_busy_timeout(tmp_path):
    store = ClassStore(f"sqlite:///{tmp_path / 'class.db'}", busy_timeout_s=1.5)
    with store._engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1500
    store.close()


def test_bad_writer_settings_are_refused():
    store = ClassStore("sqlite://")
    with pytest.raises(ValueError, match="flush_every > 0"):
        ClassWriter(store, flush_every=0, start=False)
    with pytest.raises(ValueError, match="max_batch <= max_pending"):
        ClassWriter(store, max_batch=10, max_pending=5, start=False)


def test_a_student_written_by_one_instance_is_read_by_another_over_postgres(postgres_url):
    """Two app instances over one PostgreSQL database: instance B's writer stores a student's rows, instance A (the
    teacher's) reads them (two engines and pools, as two processes)."""
    url = postgres_url
    a, b = ClassStore(url), ClassStore(url)
    session, _ = a.create_session("Shared")
    person = b.join(session.join_code, "Ana")  # joined on instance B
    writer = ClassWriter(b, start=False)
    writer.submit(person.id, rows(5))
    assert writer.flush() == 5
    assert [p.display_name for p in a.participants(session.id)] == ["Ana"]  # seen on instance A
    assert a.seconds(session.id)["t"].tolist() == [T0 + k for k in range(5)] and a.participant(person.id).last_t == T0 + 4
    a.close()
    b.close()
