"""fer_core.classroom.store: configuration, sessions and teacher tokens, joining (codes, expiry, duplicate names), per-second
rows, drop-outs, retention, locked and corrupt files, and concurrent writers losing no row."""
from __future__ import annotations

import sqlite3
import threading

import pandas as pd
import pytest

from fer_core.classroom import store as cr
from fer_core.classroom.store import ClassStore, SecondRow


class Clock:
    def __init__(self, t: float = 1_700_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(clock, store_url):
    s = ClassStore(store_url, clock=clock)
    yield s
    s.close()


def present(t, emotion="neutral", engagement=0.8):
    return SecondRow(t=t, present=True, emotion=emotion, engagement=engagement)


# ----- configuration -----
def test_database_url_from_config_values(tmp_path):
    assert cr.database_url(":memory:") == "sqlite://"
    assert cr.database_url("") == f"sqlite:///{cr.DEFAULT_DB_PATH}"
    assert cr.database_url(str(tmp_path / "c.db")) == f"sqlite:///{tmp_path / 'c.db'}"
    url = "postgresql+psycopg://fer:secret@db.example.org/fer"
    assert cr.database_url(url) == url
    with pytest.raises(cr.ClassConfigError, match="SQLite or PostgreSQL"):
        cr.database_url("mysql://u:p@host/db")


def test_config_env_wins_over_secrets_and_bad_retention_is_refused(tmp_path):
    cfg = cr.config_from({}, {"db": str(tmp_path / "s.db"), "retention_days": 7})
    assert cfg.url.endswith("s.db") and cfg.retention_days == 7 and "secrets" in cfg.source
    cfg = cr.config_from({cr.ENV_DB: ":memory:", cr.ENV_RETENTION_DAYS: "0.5"}, {"db": "x.db"})
    assert (cfg.url, cfg.retention_days, cfg.source) == ("sqlite://", 0.5, "$FER_CLASS_DB")
    assert cr.config_from({}, None).source == "default"
    with pytest.raises(cr.ClassConfigError, match="positive number of days"):
        cr.config_from({cr.ENV_RETENTION_DAYS: "-3"})
    with pytest.raises(cr.ClassConfigError, match="positive number of days"):
        cr.config_from({cr.ENV_RETENTION_DAYS: "soon"})


def test_postgres_url_without_driver_is_a_clear_error():
    try:
        import psycopg  # noqa: F401
        pytest.skip("psycopg is installed: the URL would try to connect")
    except ImportError:
        pass
    with pytest.raises(cr.ClassStoreUnavailable, match="pip install psycopg"):
        ClassStore("postgresql+psycopg://fer:pw@127.0.0.1:1/fer")


# ----- teacher -----
def test_session_token_opens_it_and_only_its_hash_is_stored(store):
    session, token = store.create_session("  Maths   3B ")
    assert session.title == "Maths 3B" and session.live
    assert len(session.join_code) == cr.CODE_LENGTH and set(session.join_code) <= set(cr.CODE_ALPHABET)
    assert token.startswith(session.join_code + ".")
    assert store.open_session(token) == session
    assert store.open_session(f"  {token} ") == session
    with store._read() as conn:
        stored = conn.execute(cr.class_session.select()).mappings().one()
    assert token not in str(dict(stored)) and stored["token_hash"].startswith("scrypt$")
    for wrong in ("", session.join_code, token[:-1] + ("A" if token[-1] != "A" else "B"), "ZZZZZZ.nothing"):
        with pytest.raises(cr.TeacherAuthError, match="does not open any class session"):
            store.open_session(wrong)


def test_codes_avoid_look_alike_characters():
    codes = {cr.new_join_code() for _ in range(200)}
    assert len(codes) == 200
    assert not set("".join(codes)) & set("0O1IL")
    assert cr.normalize_code(" abc-d e_f ") == "ABCDEF" and cr.format_code("ABCDEF") == "ABC-DEF"


# ----- students -----
def test_join_with_code_as_typed_and_duplicate_names_get_a_suffix(store):
    session, _ = store.create_session()
    typed = session.display_code.lower()
    names = [store.join(typed, "Ana").display_name, store.join(session.join_code, "  Ana ").display_name,
             store.join(session.join_code, "Ana").display_name, store.join(session.join_code, "Ben").display_name]
    assert names == ["Ana", "Ana (2)", "Ana (3)", "Ben"]
    anon = [store.join(session.join_code, anonymous=True) for _ in range(2)]
    assert [p.display_name for p in anon] == ["Anonymous 1", "Anonymous 2"] and all(p.anonymous for p in anon)
    assert [p.display_name for p in store.participants(session.id)] == [*names, "Anonymous 1", "Anonymous 2"]


@pytest.mark.parametrize("code, message", [("ABC", "6 letters and digits"), ("ABCDE0", "6 letters and digits"),
                                           ("ZZZ-ZZZ", "No class uses this join code")])
def test_wrong_join_code(store, code, message):
    store.create_session()
    with pytest.raises(cr.JoinError, match=message):
        store.join(code, "Ana")


def test_expired_and_ended_codes_and_bad_names(store, clock):
    session, _ = store.create_session(join_hours=1)
    with pytest.raises(cr.JoinError, match="Enter a display name"):
        store.join(session.join_code, "   ")
    with pytest.raises(cr.JoinError, match="at most 40 characters"):
        store.join(session.join_code, "x" * 41)
    clock.t += 3601
    with pytest.raises(cr.JoinError, match="has expired"):
        store.join(session.join_code, "Late")
    other, _ = store.create_session()
    store.end_session(other.id)
    with pytest.raises(cr.JoinError, match="has ended"):
        store.join(other.join_code, "Ana")


# ----- rows -----
def test_rows_are_stored_once_and_absent_seconds_keep_no_emotion(store):
    session, _ = store.create_session()
    p = store.join(session.join_code, "Ana")
    assert store.add_seconds(p.id, [present(100), SecondRow(101, False, "happy", 0.9)]) == 2
    store.add_seconds(p.id, [present(101, "happy"), present(102, "sad", 0.1)])  # second 101 already stored
    df = store.seconds(session.id)
    assert df["t"].tolist() == [100, 101, 102]
    assert df["present"].tolist() == [True, False, True]
    assert pd.isna(df.loc[1, "emotion"]) and df["engagement"].isna().tolist() == [False, True, False]
    assert store.seconds(session.id, since_t=101)["t"].tolist() == [102]
    assert store.participant(p.id).last_t == 102
    with pytest.raises(ValueError, match="present second needs an engagement in \[0, 1\]"):
        store.add_seconds(p.id, [SecondRow(103, True, "happy", 1.5)])


def test_dropout_is_marked_absent_with_rows_kept_and_comes_back(store):
    session, _ = store.create_session()
    p = store.join(session.join_code, "Ana")
    store.add_seconds(p.id, [present(t) for t in range(10, 15)])
    store.mark_absent(p.id)
    assert store.participant(p.id).status == "absent" and store.count_seconds(p.id) == 5
    store.add_seconds(p.id, [present(40)])
    assert store.participant(p.id).status == "active"


def test_leaving_or_ending_the_lesson_closes_sharing(store):
    session, _ = store.create_session()
    ana, ben = store.join(session.join_code, "Ana"), store.join(session.join_code, "Ben")
    store.leave(ana.id)
    assert store.participant(ana.id).status == "left" and store.participant(ana.id).left_at is not None
    with pytest.raises(cr.SessionClosed, match="You left"):
        store.add_seconds(ana.id, [present(1)])
    ended = store.end_session(session.id)
    assert not ended.live and store.participant(ben.id).status == "left"
    with pytest.raises(cr.SessionClosed, match="ended the lesson"):
        store.add_seconds(ben.id, [present(1)])


def test_teacher_reload_reads_the_state_back_from_the_file(tmp_path, clock):
    url = f"sqlite:///{tmp_path / 'class.db'}"
    first = ClassStore(url, clock=clock)
    session, token = first.create_session("History")
    p = first.join(session.join_code, "Ana")
    first.add_seconds(p.id, [present(t) for t in range(5)])
    first.close()
    again = ClassStore(url, clock=clock)
    assert again.open_session(token) == session
    assert [q.display_name for q in again.participants(session.id)] == ["Ana"]
    assert len(again.seconds(session.id)) == 5
    with sqlite3.connect(tmp_path / "class.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again.close()


# ----- retention -----
def test_old_sessions_are_deleted_with_their_rows(clock):
    store = ClassStore("sqlite://", retention_days=2, clock=clock)
    old, _ = store.create_session("old")
    p = store.join(old.join_code, "Ana")
    store.add_seconds(p.id, [present(1), present(2)])
    clock.t += 86400
    recent, _ = store.create_session("recent")
    store.join(recent.join_code, "Ben")
    clock.t += 1.5 * 86400  # old is 2.5 days old, recent 1.5
    assert store.purge_expired() == 1
    with pytest.raises(cr.ClassroomError, match="No class session"):
        store.session(old.id)
    assert store.count_seconds() == 0 and store.participants(old.id) == []
    assert store.session(recent.id).title == "recent" and len(store.participants(recent.id)) == 1


# ----- faults -----
def test_corrupt_file_is_a_clear_error(tmp_path):
    path = tmp_path / "class.db"
    path.write_bytes(b"this is not a database " * 200)
    with pytest.raises(cr.ClassStoreUnavailable, match="not a valid SQLite database"):
        ClassStore(f"sqlite:///{path}")


def test_locked_file_is_a_clear_error_after_retries(tmp_path):
    path = tmp_path / "class.db"
    store = ClassStore(f"sqlite:///{path}", busy_timeout_s=0.1, retries=2)
    session, _ = store.create_session()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program holds the write lock
    try:
        with pytest.raises(cr.ClassStoreUnavailable, match="locked by another program") as info:
            store.join(session.join_code, "Ana")
        assert "Expected a working SQLite file" in str(info.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.join(session.join_code, "Ana").display_name == "Ana"  # works again once released
    store.close()


# ----- concurrency -----
def _hammer(stores, threads: int, rows: int, batch: int) -> list[int]:
    session, _ = stores[0].create_session()
    people = [stores[0].join(session.join_code, f"Student {i}") for i in range(threads)]
    errors = []
    barrier = threading.Barrier(threads)

    def student(i):
        store = stores[i % len(stores)]
        barrier.wait()
        try:
            for start in range(0, rows, batch):
                store.add_seconds(people[i].id, [present(1000 + t, engagement=(t % 10) / 10)
                                                 for t in range(start, min(start + batch, rows))])
        except Exception as e:  # noqa: BLE001  (collected and asserted below)
            errors.append(e)

    workers = [threading.Thread(target=student, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    df = stores[0].seconds(session.id)
    return df.groupby("participant_id").size().tolist()


def test_concurrent_writers_lose_no_row_in_memory():
    store = ClassStore("sqlite://")
    assert _hammer([store], threads=20, rows=200, batch=1) == [200] * 20


def test_concurrent_writers_lose_no_row_in_a_file_shared_by_two_servers(tmp_path):
    url = f"sqlite:///{tmp_path / 'class.db'}"
    a, b = ClassStore(url), ClassStore(url)  # two engines, two locks: as two server processes would be
    counts = _hammer([a, b], threads=20, rows=200, batch=4)
    assert counts == [200] * 20 and a.count_seconds() == 4000
    a.close()
    b.close()


def test_concurrent_writers_lose_no_row_on_one_postgres_server_shared_by_two_servers(postgres_url):
    url = postgres_url
    a, b = ClassStore(url), ClassStore(url)  # two engines and pools: as two app instances over one database
    counts = _hammer([a, b], threads=20, rows=100, batch=4)
    assert counts == [100] * 20 and a.count_seconds() == 2000
    a.close()
    b.close()


def test_many_participants_in_one_transaction_and_closed_ones_are_skipped(store):
    session, _ = store.create_session()
    people = [store.join(session.join_code, f"S{i}") for i in range(5)]
    store.leave(people[4].id)
    closed = store.add_seconds_many({p.id: [present(1000 + t) for t in range(3)] for p in people})
    assert closed == {people[4].id: "You left the class: sharing stopped."}
    assert [store.count_seconds(p.id) for p in people] == [3, 3, 3, 3, 0]
    assert {store.participant(p.id).last_t for p in people[:4]} == {1002}


def test_instances_opening_an_empty_postgresql_database_together_all_succeed(postgres_url):
    """App instances starting at once on an empty PostgreSQL database each create the tables: without the advisory
    lock the second CREATE failed with a duplicate-type error."""

    errors: list[str] = []

    def open_store():
        try:
            ClassStore(postgres_url).close()
        except Exception as e:  # noqa: BLE001  (the test reports every failure)
            errors.append(repr(e)[:300])

    threads = [threading.Thread(target=open_store) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
