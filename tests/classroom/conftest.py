"""A lesson in a class store, for the tests of the class figures and of what the dashboard reads; the database URLs
the store tests run over (SQLite in memory, and a live PostgreSQL server when ``FER_TEST_POSTGRES_URL`` names one)."""
from __future__ import annotations

import pytest

from fer_core.classroom.store import ClassStore, SecondRow

from factories import CLASS_T0 as T0
from factories import Clock
from factories import postgres_url_or_skip


@pytest.fixture
def lesson():
    """Ana: 20 s in view and facing the screen; Ben: 10 s facing the screen, then 10 s in view but turned away (and a
    low index), then gone (dropped);
    Cleo: joined, no video yet; Dan: 5 s then left."""
    clock = Clock(T0)
    store = ClassStore("sqlite://", clock=clock)
    session, _ = store.create_session("Physics")
    ana, ben, cleo, dan = (store.join(session.join_code, n) for n in ("Ana", "Ben", "Cleo", "Dan"))
    store.add_seconds(ana.id, [SecondRow(T0 + k, True, "neutral", 0.9, True) for k in range(20)])
    store.add_seconds(ben.id, [SecondRow(T0 + k, True, "happy", 0.6, True) for k in range(10)]
                      + [SecondRow(T0 + k, True, "sad", 0.1, False) for k in range(10, 20)])
    store.add_seconds(dan.id, [SecondRow(T0 + k, True, "surprise", 0.5) for k in range(5)])
    clock.t = T0 + 6
    store.leave(dan.id)
    return store, session, clock, {"ana": ana, "ben": ben, "cleo": cleo, "dan": dan}


@pytest.fixture
def postgres_url() -> str:
    """The live PostgreSQL server's URL with empty class tables (skipped when there is none)."""
    return postgres_url_or_skip()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request) -> str:
    """Each store test twice: SQLite in memory, and the live PostgreSQL server (skipped when there is none)."""
    return "sqlite://" if request.param == "sqlite" else postgres_url_or_skip()
