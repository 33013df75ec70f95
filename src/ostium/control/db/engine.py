"""Engines and sessions for SQLite (default) and PostgreSQL.

SQLite runs in WAL mode with foreign keys on. Write transactions start with
`BEGIN IMMEDIATE` so concurrent writers queue on the busy timeout instead of failing
when a read lock cannot be upgraded; reads use plain `BEGIN` and never block on
writers. PostgreSQL uses one engine for both (READ COMMITTED; row locks do the rest).

`lost_race` says whether a failed write transaction lost a race with another writer
(deadlock, serialization failure, a database still locked after the busy timeout, a row
deleted under an update) and rolled back entirely, so running the same request again is
safe and answers what the client would have got had it come a moment later. The API
retries such requests a bounded number of times (`api/app.py`); nothing here retries.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError

# PostgreSQL's deadlock_detected and serialization_failure.
_RACE_SQLSTATES = frozenset({"40P01", "40001"})
# SQLITE_BUSY and SQLITE_LOCKED (primary codes; extended codes keep them in the low byte).
_SQLITE_BUSY = frozenset({5, 6})


def lost_race(exc: BaseException) -> bool:
    """True if `exc` is a write that lost a race and was rolled back as a whole."""
    if isinstance(exc, (StaleDataError, ObjectDeletedError)):
        return True
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        if getattr(exc.orig, "sqlstate", None) in _RACE_SQLSTATES:
            return True
        code = getattr(exc.orig, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _SQLITE_BUSY
    return False


@dataclass
class Database:
    url: str
    write_engine: Engine
    read_engine: Engine

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @property
    def dialect(self) -> str:
        return self.write_engine.dialect.name

    def __post_init__(self) -> None:
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)
        self._read = sessionmaker(self.read_engine, expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: commit on success, roll back on any exception."""
        with self._write() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()


POOL_SIZE = 20
"""Connections each engine keeps open: the API's handler threads
(`api_processes.API_THREADS`) plus the worker's and health manager's, so a busy API
never opens and closes connections per request (an overflow connection is closed
when it is returned)."""


def _sqlite_engine(url: str, begin: str) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=POOL_SIZE,
        max_overflow=16,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


def open_database(url: str) -> Database:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return Database(url, _sqlite_engine(url, "BEGIN IMMEDIATE"), _sqlite_engine(url, "BEGIN"))
    engine = create_engine(url, pool_size=POOL_SIZE, max_overflow=20, pool_pre_ping=True)
    return Database(url, engine, engine)
