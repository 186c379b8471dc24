"""Class sessions: the store behind the class dashboard (teacher) and the Webcam page's "join a class" (students).

Only aggregates are stored, never a frame: per student and per second, whether a face was present, its dominant
emotion and its engagement index (``fer_core.live.engagement``). SQLAlchemy Core over SQLite by default (one file;
``:memory:`` for tests) or PostgreSQL given a URL (``postgresql+psycopg://user:password@host/db``; its driver is not a requirement).

Schema (times are UTC epoch seconds; ``t`` is a whole second, so every student's rows share one time axis)::

    class_session       id PK, join_code UNIQUE (6 characters, no look-alikes such as 0/O, 1/I/L), title,
                        token_hash (scrypt of the teacher's token: the token itself is shown once, never stored),
                        created_at, join_expires_at (no new student after it), ended_at (NULL while live)
    participant         id PK, session_id FK, display_name (UNIQUE per session: "Ana", "Ana (2)"), anonymous,
                        joined_at, left_at (NULL unless the student left), status ("active", "absent", "left"),
                        last_t (latest second stored)
    participant_second  participant_id FK + t PK, present (a face in view), emotion (NULL when absent), engagement
                        (Sharma's index; NULL when absent or unknown), facing (the head faced the screen; NULL when
                        absent or unknown: a detector without landmarks)

A student who drops out keeps their rows; their status becomes "absent" (and the seconds they miss count as absent
in the summaries). Sessions older than the retention time (``FER_CLASS_RETENTION_DAYS``, default 30) are deleted with
their participants and rows whenever the store opens or a session is created.

SQLite and threads: one Streamlit server writes for every student from many threads. Writes take an in-process
lock and ``BEGIN IMMEDIATE``; the file runs in WAL mode (readers never wait for the writer) with a busy timeout, and a
write that still finds the file locked (another process) is retried with back-off. ``:memory:`` uses one shared
connection (``StaticPool``), so every statement takes the lock. Whatever still fails (a locked or corrupt file, a
server that does not answer) raises ``ClassStoreUnavailable`` with what was expected and what came. The live
per-second rows of a whole class go through ``fer_core.classroom.writer.ClassWriter`` (one per process): one
transaction for every student's waiting rows (``add_seconds_many``), retried while the database is away.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import math
import os
import random
import re
import secrets
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError, OperationalError
from sqlalchemy.pool import StaticPool

ENV_DB = "FER_CLASS_DB"
ENV_RETENTION_DAYS = "FER_CLASS_RETENTION_DAYS"
SECRETS_SECTION = "class_dashboard"  # .streamlit/secrets.toml: [class_dashboard] db = "...", retention_days = 30
DEFAULT_DB_PATH = Path(__file__).resolve().parents[2] / "var" / "class_sessions.sqlite3"
DEFAULT_RETENTION_DAYS = 30.0
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud or copied from a screen without doubt
CODE_LENGTH = 6
MAX_NAME_LENGTH = 40
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}

metadata = sa.MetaData()
class_session = sa.Table(
    "class_session", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("join_code", sa.String(CODE_LENGTH), nullable=False, unique=True),
    sa.Column("title", sa.String(120), nullable=False, default=""),
    sa.Column("token_hash", sa.String(200), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    sa.Column("join_expires_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float, nullable=True),
)
participant = sa.Table(
    "participant", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("session_id", sa.Integer, sa.ForeignKey("class_session.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("display_name", sa.String(MAX_NAME_LENGTH + 8), nullable=False),
    sa.Column("anonymous", sa.Boolean, nullable=False, default=False),
    sa.Column("joined_at", sa.Float, nullable=False),
    sa.Column("left_at", sa.Float, nullable=True),
    sa.Column("status", sa.String(8), nullable=False, default="active"),
    sa.Column("last_t", sa.Integer, nullable=True),
    sa.UniqueConstraint("session_id", "display_name", name="uq_participant_name"),
)
participant_second = sa.Table(
    "participant_second", metadata,
    sa.Column("participant_id", sa.Integer, sa.ForeignKey("participant.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("t", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("present", sa.Boolean, nullable=False),
    sa.Column("emotion", sa.String(16), nullable=True),
    sa.Column("engagement", sa.Float, nullable=True),
    sa.Column("facing", sa.Boolean, nullable=True),
)
SECOND_COLUMNS = ["participant_id", "t", "present", "emotion", "engagement", "facing"]
# A teacher's browser that opened a session: the hash of an opaque random secret kept in that browser's cookie, so
# that the dashboard survives a reload without the teacher token (which never goes into a cookie or a URL).
teacher_login = sa.Table(
    "teacher_login", metadata,
    sa.Column("secret_hash", sa.String(64), primary_key=True),
    sa.Column("session_id", sa.Integer, sa.ForeignKey("class_session.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("expires_at", sa.Float, nullable=False),
)
TEACHER_LOGIN_HOURS = 12.0


class ClassroomError(Exception):
    """Base of every class-session error the pages turn into a message."""


class ClassConfigError(ClassroomError, ValueError):
    """The class database configuration (URL, path, retention) is not usable."""


class ClassStoreUnavailable(ClassroomError):
    """The database cannot be used now (locked, corrupt, unreachable): live pages keep working without sharing."""


class JoinError(ClassroomError, ValueError):
    """A student cannot join: unknown, expired or ended join code, or an unusable display name."""


class TeacherAuthError(ClassroomError):
    """The teacher token does not open any class session."""


class SessionClosed(ClassroomError):
    """The participant can no longer share: the teacher ended the lesson, or the student left."""


@dataclass(frozen=True)
class ClassroomConfig:
    """Where the class database is and how long sessions are kept; ``source`` says where the URL came from."""

    url: str
    retention_days: float = DEFAULT_RETENTION_DAYS
    source: str = "default"


@dataclass(frozen=True)
class ClassSession:
    id: int
    join_code: str
    title: str
    created_at: float
    join_expires_at: float
    ended_at: float | None

    @property
    def live(self) -> bool:
        return self.ended_at is None

    @property
    def display_code(self) -> str:
        return format_code(self.join_code)


@dataclass(frozen=True)
class Participant:
    id: int
    session_id: int
    display_name: str
    anonymous: bool
    joined_at: float
    left_at: float | None
    status: str
    last_t: int | None


@dataclass(frozen=True)
class SecondRow:
    """One student's aggregate of one second: ``t`` (UTC epoch second), presence, dominant emotion, engagement."""

    t: int
    present: bool
    emotion: str | None = None
    engagement: float | None = None
    facing: bool | None = None  # the head faced the screen (None: unknown)


# ----- configuration -----
def database_url(value: str | None) -> str:
    """A SQLAlchemy URL from a config value: empty -> the default SQLite file, ``:memory:`` -> an in-memory SQLite
    database, ``scheme://...`` -> as given (sqlite or postgresql), anything else -> the path of a SQLite file."""
    value = (value or "").strip()
    if not value:
        return f"sqlite:///{DEFAULT_DB_PATH}"
    if value == ":memory:":
        return "sqlite://"
    if "://" in value:
        try:
            url = sa.engine.make_url(value)
        except ArgumentError as e:
            raise ClassConfigError(f"The class database URL does not parse. Expected e.g. sqlite:///path.sqlite3 or "
                                   f"postgresql+psycopg://user:password@host/db. Received: {_mask(value)!r} ({e})"
                                   ) from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ClassConfigError(f"The class database must be SQLite or PostgreSQL. "
                                   f"Received: backend={url.get_backend_name()!r}")
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def config_from(env: Mapping[str, str] | None = None, secrets_section: Mapping | None = None) -> ClassroomConfig:
    """The configuration from the environment (``FER_CLASS_DB``, ``FER_CLASS_RETENTION_DAYS``), else from the
    ``[class_dashboard]`` section of Streamlit's secrets (``db``, ``retention_days``), else the defaults."""
    env = os.environ if env is None else env
    section = dict(secrets_section or {})
    if env.get(ENV_DB, "").strip():
        raw, source = env[ENV_DB], f"${ENV_DB}"
    elif str(section.get("db", "")).strip():
        raw, source = str(section["db"]), f"secrets [{SECRETS_SECTION}] db"
    else:
        raw, source = "", "default"
    days_raw = env.get(ENV_RETENTION_DAYS, "").strip() or section.get("retention_days", DEFAULT_RETENTION_DAYS)
    try:
        days = float(days_raw)
    except (TypeError, ValueError):
        days = float("nan")
    if not days > 0 or math.isinf(days):
        raise ClassConfigError(f"The retention time must be a positive number of days. Received: {days_raw!r}")
    return ClassroomConfig(url=database_url(raw), retention_days=days, source=source)


# ----- codes, tokens, names -----
def new_join_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(text: str) -> str:
    """What a student typed as a join code, upper-cased without spaces or dashes (``abc-def`` -> ``ABCDEF``)."""
    return re.sub(r"[\s\-_.]", "", str(text or "")).upper()


def format_code(code: str) -> str:
    """``ABCDEF`` -> ``ABC-DEF`` (easier to read out)."""
    return f"{code[:3]}-{code[3:]}" if len(code) == CODE_LENGTH else code


def hash_token(token: str, salt: bytes | None = None) -> str:
    """scrypt hash of a teacher token, with its salt and parameters: ``scrypt$n$r$p$salt$hash`` (hex)."""
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(token.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def verify_token(token: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(token.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


def clean_display_name(name: str) -> str:
    """A display name without control characters and runs of spaces; ``JoinError`` when empty or too long."""
    cleaned = re.sub(r"\s+", " ", "".join(ch for ch in str(name or "") if ch.isprintable())).strip()
    if not cleaned:
        raise JoinError("Enter a display name, or choose to stay anonymous. Received: an empty name")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise JoinError(f"A display name has at most {MAX_NAME_LENGTH} characters. Received: {len(cleaned)} characters")
    return cleaned


def unique_name(base: str, taken: Iterable[str]) -> str:
    """``base`` itself when free, else ``"base (2)"``, ``"base (3)"``, ... (the first free one)."""
    taken = set(taken)
    if base not in taken:
        return base
    k = 2
    while f"{base} ({k})" in taken:
        k += 1
    return f"{base} ({k})"


def _mask(url: str) -> str:
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


# ----- the store -----
class ClassStore:
    """Class sessions, participants and their per-second aggregates in one SQL database (thread-safe)."""

    def __init__(self, url: str = "sqlite://", *, retention_days: float = DEFAULT_RETENTION_DAYS,
                 busy_timeout_s: float = 2.0, retries: int = 3, clock: Callable[[], float] = time.time):
        if not retention_days > 0:
            raise ClassConfigError(f"retention_days must be positive. Received: retention_days={retention_days}")
        self.url = url
        self.retention_days = float(retention_days)
        self._clock = clock
        self._retries = retries
        try:
            backend = sa.engine.make_url(url).get_backend_name()
        except ArgumentError as e:
            raise ClassConfigError(f"The class database URL does not parse. Received: {_mask(url)!r} ({e})") from None
        self._sqlite = backend == "sqlite"
        self._memory = self._sqlite and sa.engine.make_url(url).database in (None, "", ":memory:")
        try:
            if self._memory:
                self._engine = sa.create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
            elif self._sqlite:
                path = Path(sa.engine.make_url(url).database)
                path.parent.mkdir(parents=True, exist_ok=True)
                self._engine = sa.create_engine(url, connect_args={"check_same_thread": False,
                                                                   "timeout": busy_timeout_s})
            else:
                self._engine = sa.create_engine(url, pool_pre_ping=True)
        except (NoSuchModuleError, ModuleNotFoundError, ImportError) as e:
            raise ClassStoreUnavailable(f"No driver for the class database {_mask(url)!r}. Expected SQLite, or "
                                        f"PostgreSQL with its driver installed (pip install psycopg). Received: {e}"
                                        ) from None
        except OSError as e:
            raise ClassStoreUnavailable(f"The class database file cannot be created. Expected a writable folder. "
                                        f"Received: {e}") from None
        if self._sqlite:
            self._install_sqlite_hooks(busy_timeout_s)
        # one writer at a time in this process (SQLite has one anyway); the memory database shares one connection
        self._write_lock = threading.RLock() if self._sqlite else nullcontext()
        self._read_lock = self._write_lock if self._memory else nullcontext()
        self._write(_create_tables)
        self._write(_add_missing_columns)
        self.purge_expired()

    def _install_sqlite_hooks(self, busy_timeout_s: float) -> None:
        memory = self._memory

        @event.listens_for(self._engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # transactions are begun below, as SQLAlchemy's docs recommend
            cur = dbapi_conn.cursor()
            try:
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
                if not memory:
                    cur.execute("PRAGMA journal_mode=WAL")
                    cur.execute("PRAGMA synchronous=NORMAL")
            finally:
                cur.close()

        @event.listens_for(self._engine, "begin")
        def _on_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("fer_write") else "BEGIN")

    @classmethod
    def from_config(cls, config: ClassroomConfig, **kwargs) -> "ClassStore":
        return cls(config.url, retention_days=config.retention_days, **kwargs)

    @property
    def masked_url(self) -> str:
        return _mask(self.url)

    def close(self) -> None:
        self._engine.dispose()

    # ----- transactions -----
    def _write(self, fn):
        """Run ``fn(conn)`` in one write transaction; retried while the database is busy, else ClassStoreUnavailable."""
        for attempt in range(self._retries + 1):
            try:
                with self._write_lock, self._engine.connect() as conn:
                    conn.execution_options(fer_write=True)
                    with conn.begin():
                        return fn(conn)
            except IntegrityError:
                raise
            except OperationalError as e:
                if _is_busy(e) and attempt < self._retries:
                    time.sleep(min(1.0, 0.02 * 2 ** attempt) * (0.5 + random.random()))
                    continue
                raise self._unavailable(e) from e
            except DBAPIError as e:
                raise self._unavailable(e) from e
        raise AssertionError("unreachable")

    @contextmanager
    def _read(self):
        try:
            with self._read_lock, self._engine.connect() as conn:
                yield conn
        except DBAPIError as e:
            raise self._unavailable(e) from e

    def _unavailable(self, e: DBAPIError) -> ClassStoreUnavailable:
        orig = getattr(e, "orig", e)
        text = str(orig)
        if _is_busy(e):
            what = "it stays locked by another program or process"
        elif "not a database" in text or "malformed" in text:
            what = "the file is not a valid SQLite database (corrupt?)"
        else:
            what = "it cannot be read or written"
        return ClassStoreUnavailable(f"The class database cannot be used: {what}. Expected a working "
                                     f"{'SQLite file' if self._sqlite else 'database'} at {self.masked_url}. "
                                     f"Received: {type(orig).__name__}: {text}")

    # ----- teacher -----
    def create_session(self, title: str = "", join_hours: float = 2.0) -> tuple[ClassSession, str]:
        """A new live session and its teacher token (``CODE.secret``): return it to the teacher once; only its hash is
        kept. Students can join for ``join_hours``."""
        if not 0 < join_hours <= 24:
            raise ValueError(f"join_hours must be in (0, 24]. Received: join_hours={join_hours}")
        title = re.sub(r"\s+", " ", str(title or "")).strip()[:120]
        self.purge_expired()
        now = self._clock()
        for _ in range(10):
            code = new_join_code()
            token = f"{code}.{secrets.token_urlsafe(18)}"
            values = dict(join_code=code, title=title, token_hash=hash_token(token), created_at=now,
                          join_expires_at=now + join_hours * 3600, ended_at=None)
            try:
                sid = self._write(lambda c: c.execute(class_session.insert().values(**values)).inserted_primary_key[0])
            except IntegrityError:  # the code is taken: draw another
                continue
            return self.session(sid), token
        raise ClassStoreUnavailable("No free join code could be drawn in 10 tries. Expected mostly free codes. "
                                    "Received: 10 collisions")

    def open_session(self, token: str) -> ClassSession:
        """The session a teacher token opens (the page asks for it again after a reload); else TeacherAuthError."""
        token = str(token or "").strip()
        code = normalize_code(token.split(".", 1)[0]) if "." in token else ""
        with self._read() as conn:
            row = conn.execute(sa.select(class_session).where(class_session.c.join_code == code)).mappings().first()
        if row is None or not verify_token(token, row["token_hash"]):
            raise TeacherAuthError("This teacher token does not open any class session (it may have been deleted "
                                   "after the retention time). Expected the token shown when the session was created, "
                                   f"like ABCDEF.xxxxxxxx. Received: {len(token)} characters")
        return _session(row)

    def session(self, session_id: int) -> ClassSession:
        with self._read() as conn:
            row = conn.execute(sa.select(class_session).where(class_session.c.id == session_id)).mappings().first()
        if row is None:
            raise ClassroomError(f"No class session with this id. Received: session_id={session_id}")
        return _session(row)

    def end_session(self, session_id: int) -> ClassSession:
        """End the lesson: no one can join or share any more; students still sharing are marked as having left."""
        now = self._clock()

        def end(conn):
            conn.execute(class_session.update().where(class_session.c.id == session_id,
                                                      class_session.c.ended_at.is_(None)).values(ended_at=now))
            conn.execute(participant.update().where(participant.c.session_id == session_id,
                                                    participant.c.left_at.is_(None))
                         .values(left_at=now, status="left"))
        self._write(end)
        return self.session(session_id)

    # ----- a teacher's browser -----
    def new_teacher_login(self, session_id: int, hours: float = TEACHER_LOGIN_HOURS) -> str:
        """An opaque random secret for the browser that opened ``session_id`` (for its cookie); only its SHA-256 is
        stored. It opens that session's dashboard for ``hours`` or until ``end_teacher_login``."""
        secret = secrets.token_urlsafe(32)
        values = dict(secret_hash=_sha256(secret), session_id=session_id, expires_at=self._clock() + hours * 3600)
        self._write(lambda c: c.execute(teacher_login.insert().values(**values)))
        return secret

    def session_for_login(self, secret: str) -> ClassSession | None:
        """The session a browser's teacher secret opens, or None (unknown, expired, revoked, or session deleted)."""
        if not secret:
            return None
        with self._read() as conn:
            row = conn.execute(sa.select(teacher_login).where(
                teacher_login.c.secret_hash == _sha256(str(secret)),
                teacher_login.c.expires_at > self._clock())).mappings().first()
        if row is None:
            return None
        try:
            return self.session(int(row["session_id"]))
        except ClassroomError:
            return None

    def end_teacher_login(self, secret: str) -> None:
        """Forget a browser's teacher secret (Close dashboard)."""
        self._write(lambda c: c.execute(teacher_login.delete().where(
            teacher_login.c.secret_hash == _sha256(str(secret or "")))))

    # ----- students -----
    def join(self, code: str, display_name: str = "", anonymous: bool = False) -> Participant:
        """Add a student to the live session of ``code``; a name already taken gets a suffix ("Ana (2)")."""
        code_n = normalize_code(code)
        if len(code_n) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in code_n):
            raise JoinError(f"A join code has {CODE_LENGTH} letters and digits, like ABC-DEF. Received: {code!r}")
        base = "Anonymous" if anonymous else clean_display_name(display_name)
        now = self._clock()

        def add(conn):
            s = conn.execute(sa.select(class_session).where(class_session.c.join_code == code_n)).mappings().first()
            if s is None:
                raise JoinError(f"No class uses this join code. Expected the code your teacher shows. "
                                f"Received: {format_code(code_n)}")
            if s["ended_at"] is not None:
                raise JoinError(f"The lesson of code {format_code(code_n)} has ended. Ask your teacher for a new code.")
            if now > s["join_expires_at"]:
                raise JoinError(f"The join code {format_code(code_n)} has expired (joining closed at "
                                f"{time.strftime('%H:%M UTC', time.gmtime(s['join_expires_at']))}). "
                                "Ask your teacher for a new code.")
            taken = set(conn.execute(sa.select(participant.c.display_name).where(
                participant.c.session_id == s["id"])).scalars().all())
            if anonymous:  # "Anonymous 1", "Anonymous 2", ...
                name = next(f"{base} {k}" for k in itertools.count(1) if f"{base} {k}" not in taken)
            else:
                name = unique_name(base, taken)
            pid = conn.execute(participant.insert().values(
                session_id=s["id"], display_name=name, anonymous=bool(anonymous), joined_at=now, left_at=None,
                status="active", last_t=None)).inserted_primary_key[0]
            return pid

        for _ in range(5):
            try:
                return self.participant(self._write(add))
            except IntegrityError:  # another server took the same name at the same time: pick the next free one
                continue
        raise ClassStoreUnavailable(f"Could not give {base!r} a unique name in 5 tries. Received: 5 conflicts")

    def participant(self, participant_id: int) -> Participant:
        with self._read() as conn:
            row = conn.execute(sa.select(participant).where(participant.c.id == participant_id)).mappings().first()
        if row is None:
            raise ClassroomError(f"No participant with this id. Received: participant_id={participant_id}")
        return _participant(row)

    def leave(self, participant_id: int) -> None:
        """The student left (their rows are kept)."""
        self._write(lambda c: c.execute(participant.update().where(
            participant.c.id == participant_id, participant.c.left_at.is_(None)).values(
            left_at=self._clock(), status="left")))

    def mark_absent(self, participant_id: int) -> None:
        """The student's video stopped without leaving (dropped, closed the camera): shown absent, rows kept."""
        self._write(lambda c: c.execute(participant.update().where(
            participant.c.id == participant_id, participant.c.left_at.is_(None)).values(status="absent")))

    def add_seconds(self, participant_id: int, rows: Sequence[SecondRow]) -> int:
        """Store a batch of a participant's seconds in one transaction (a second already stored is kept as it was);
        ``SessionClosed`` once the lesson ended or the student left. Returns the number of rows given."""
        if not rows:
            return 0
        values = [_second_values(participant_id, r) for r in rows]
        last_t = max(v["t"] for v in values)

        def add(conn):
            state = conn.execute(sa.select(participant.c.left_at, class_session.c.ended_at)
                                 .join(class_session, participant.c.session_id == class_session.c.id)
                                 .where(participant.c.id == participant_id)).first()
            if state is None:
                raise SessionClosed(f"No participant with this id (the session may have been deleted). "
                                    f"Received: participant_id={participant_id}")
            if state.ended_at is not None:
                raise SessionClosed("The teacher ended the lesson: sharing stopped.")
            if state.left_at is not None:
                raise SessionClosed("You left the class: sharing stopped.")
            conn.execute(self._insert_ignore(participant_second), values)
            conn.execute(participant.update().where(participant.c.id == participant_id).values(
                status="active", last_t=sa.func.max(sa.func.coalesce(participant.c.last_t, last_t), last_t)
                if self._sqlite else sa.func.greatest(sa.func.coalesce(participant.c.last_t, last_t), last_t)))
            return len(values)
        return self._write(add)

    def add_seconds_many(self, batches: Mapping[int, Sequence[SecondRow]]) -> dict[int, str]:
        """Store the seconds of many participants in one transaction (what ``fer_core.classroom.writer.ClassWriter``
        sends: every student of this process at once). A second already stored is kept as it was. Participants who
        can no longer share (lesson ended, student left, participant gone) are skipped: returns ``{participant_id:
        why}`` for them, and their rows are not stored; the others' rows all are."""
        values_by = {int(pid): [_second_values(int(pid), r) for r in rows] for pid, rows in batches.items() if rows}
        if not values_by:
            return {}

        def add(conn):
            states = {int(r.id): r for r in conn.execute(
                sa.select(participant.c.id, participant.c.left_at, class_session.c.ended_at)
                .join(class_session, participant.c.session_id == class_session.c.id)
                .where(participant.c.id.in_(list(values_by))))}
            closed: dict[int, str] = {}
            values = []
            for pid, vals in values_by.items():
                state = states.get(pid)
                if state is None:
                    closed[pid] = (f"No participant with this id (the session may have been deleted). "
                                   f"Received: participant_id={pid}")
                elif state.ended_at is not None:
                    closed[pid] = "The teacher ended the lesson: sharing stopped."
                elif state.left_at is not None:
                    closed[pid] = "You left the class: sharing stopped."
                else:
                    values.extend(vals)
            if values:
                conn.execute(self._insert_ignore(participant_second), values)
            greatest = sa.func.max if self._sqlite else sa.func.greatest
            for pid, vals in values_by.items():
                if pid in closed:
                    continue
                last_t = max(v["t"] for v in vals)
                conn.execute(participant.update().where(participant.c.id == pid).values(
                    status="active", last_t=greatest(sa.func.coalesce(participant.c.last_t, last_t), last_t)))
            return closed
        return self._write(add)

    def _insert_ignore(self, table: sa.Table):
        if self._sqlite:
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        return insert(table).on_conflict_do_nothing()

    # ----- reading -----
    def participants(self, session_id: int) -> list[Participant]:
        with self._read() as conn:
            rows = conn.execute(sa.select(participant).where(participant.c.session_id == session_id)
                                .order_by(participant.c.id)).mappings().all()
        return [_participant(r) for r in rows]

    def seconds(self, session_id: int, since_t: int | None = None) -> pd.DataFrame:
        """The session's per-second rows (``t > since_t`` when given), ordered by participant and second."""
        q = (sa.select(*[participant_second.c[c] for c in SECOND_COLUMNS])
             .join(participant, participant.c.id == participant_second.c.participant_id)
             .where(participant.c.session_id == session_id))
        if since_t is not None:
            q = q.where(participant_second.c.t > since_t)
        with self._read() as conn:
            rows = conn.execute(q.order_by(participant_second.c.participant_id, participant_second.c.t)).all()
        df = pd.DataFrame(rows, columns=SECOND_COLUMNS)
        return df.astype({"participant_id": "int64", "t": "int64", "present": "bool", "engagement": "float64"})

    def count_seconds(self, participant_id: int | None = None) -> int:
        q = sa.select(sa.func.count()).select_from(participant_second)
        if participant_id is not None:
            q = q.where(participant_second.c.participant_id == participant_id)
        with self._read() as conn:
            return int(conn.execute(q).scalar_one())

    # ----- retention -----
    def purge_expired(self, now: float | None = None) -> int:
        """Delete sessions created more than ``retention_days`` ago, with their participants and rows; returns how
        many sessions went."""
        cutoff = (self._clock() if now is None else now) - self.retention_days * 86400

        def purge(conn):
            old = sa.select(class_session.c.id).where(class_session.c.created_at < cutoff).scalar_subquery()
            people = sa.select(participant.c.id).where(participant.c.session_id.in_(old)).scalar_subquery()
            conn.execute(participant_second.delete().where(participant_second.c.participant_id.in_(people)))
            conn.execute(teacher_login.delete().where(teacher_login.c.session_id.in_(old)))
            conn.execute(participant.delete().where(participant.c.session_id.in_(old)))
            return conn.execute(class_session.delete().where(class_session.c.created_at < cutoff)).rowcount
        return int(self._write(purge) or 0)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _add_missing_columns(conn) -> None:
    """Databases created before a nullable column was added get it (``participant_second.facing``, issue 26)."""
    have = {c["name"] for c in sa.inspect(conn).get_columns("participant_second")}
    if "facing" not in have:
        conn.exec_driver_sql("ALTER TABLE participant_second ADD COLUMN facing BOOLEAN")


def _is_busy(e: BaseException) -> bool:
    text = str(getattr(e, "orig", e)).lower()
    return "locked" in text or "busy" in text


def _session(row) -> ClassSession:
    return ClassSession(id=int(row["id"]), join_code=row["join_code"], title=row["title"] or "",
                        created_at=float(row["created_at"]), join_expires_at=float(row["join_expires_at"]),
                        ended_at=None if row["ended_at"] is None else float(row["ended_at"]))


SCHEMA_LOCK_KEY = 0x4645525F434C53  # PostgreSQL advisory lock held while creating the tables ("FER_CLS")


def _create_tables(conn) -> None:
    """Create missing tables; on PostgreSQL under an advisory lock, so that app instances starting together on an
    empty database do not race (the second CREATE TYPE/TABLE would fail)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
    metadata.create_all(conn)


def _participant(row) -> Participant:
    return Participant(id=int(row["id"]), session_id=int(row["session_id"]), display_name=row["display_name"],
                       anonymous=bool(row["anonymous"]), joined_at=float(row["joined_at"]),
                       left_at=None if row["left_at"] is None else float(row["left_at"]), status=row["status"],
                       last_t=None if row["last_t"] is None else int(row["last_t"]))


def _second_values(participant_id: int, r: SecondRow) -> dict:
    if r.present and r.engagement is not None and not 0.0 <= r.engagement <= 1.0:
        raise ValueError(f"A present second needs an engagement in [0, 1] or None. Received: {r}")
    return {"participant_id": participant_id, "t": int(r.t), "present": bool(r.present),
            "emotion": r.emotion if r.present else None,
            "engagement": float(r.engagement) if r.present and r.engagement is not None else None,
            "facing": bool(r.facing) if r.present and r.facing is not None else None}
