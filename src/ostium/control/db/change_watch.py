"""A marker of the database's committed state: it differs after any commit, by any
process, so the API can keep an answer while the marker stays the same
(`api/read_cache.py`).

SQLite: `PRAGMA data_version` on a connection of our own, which never writes. SQLite
changes that number whenever another connection (of this process or another one)
committed since the last time this connection asked; checkpoints change it too, which
costs a cache miss and nothing else. ~10 µs, no lock taken.

PostgreSQL: `pg_current_snapshot()` (`xmin:xmax:in-progress ids`). Two snapshots with
the same text see exactly the same committed transactions, hence the same rows; a
commit after a snapshot was taken moves `xmax` past it or takes its id out of the
in-progress list, so the next snapshot differs. No trigger, no counter row that every
writer would have to update (one hot row would serialise all writers). Transaction ids
are shared by all databases of the server, so writes elsewhere on the server cost
misses, never a stale answer. One connection of its own per event loop, asynchronous;
requests arriving while a query is out share the next one (a query that starts after
they arrived, so a write the caller saw committed is always in it).

The promise for callers: read the marker, then read the database; the rows read are at
least as new as the marker. Two requests that got the same marker may share an answer.
`marker()` returns None when the watch cannot answer (no file, database unreachable):
the caller must then not share answers. Must not decide anything about requests.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sqlite3
import threading
import time
from typing import Any, Protocol

from sqlalchemy.engine import make_url

from ostium.control.db.engine import Database

log = logging.getLogger("ostium.db")

RETRY_AFTER = 1.0
"""Seconds without a connection after one failed, so an unreachable database costs
each request nothing more than the failure it meets anyway."""


_INHERITED: list[Any] = []
"""Connections a forked process inherited: kept, never closed (that would end the
parent's session), never used."""


class ChangeWatch(Protocol):
    async def marker(self) -> str | None: ...

    def close(self) -> None: ...


class SqliteWatch:
    """`PRAGMA data_version` on one read-only connection per process."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._epoch = 0
        self._failed_at = 0.0

    async def marker(self) -> str | None:
        return self.now()

    def now(self) -> str | None:
        with self._lock:
            try:
                conn = self._connection()
                if conn is None:
                    return None
                (version,) = conn.execute("PRAGMA data_version").fetchone()
            except sqlite3.Error as exc:
                log.warning("change watch on %s: %s", self.path, exc)
                self._drop()
                return None
            # A new connection counts from its own start: the epoch keeps markers of
            # two connections apart.
            return f"{self._epoch}:{version}"

    def _connection(self) -> sqlite3.Connection | None:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        if self._conn is not None:  # a forked child never uses, nor closes, its parent's
            _INHERITED.append(self._conn)
        self._conn = None
        if time.monotonic() - self._failed_at < RETRY_AFTER:
            return None
        try:
            # Never written through (a read-only open would fail before the server made
            # the WAL's shared-memory file).
            self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=5)
        except sqlite3.Error as exc:
            log.warning("change watch on %s: %s", self.path, exc)
            self._failed_at = time.monotonic()
            return None
        self._pid = os.getpid()
        self._epoch += 1
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None
        self._failed_at = time.monotonic()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None


class PostgresWatch:
    """`pg_current_snapshot()` over one asynchronous connection per event loop."""

    def __init__(self, url: str) -> None:
        # psycopg speaks libpq URLs: drop SQLAlchemy's "+driver".
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._conn: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self._next: asyncio.Future[str | None] | None = None
        self._running = False
        self._task: asyncio.Task[None] | None = None
        self._failed_at = 0.0

    async def marker(self) -> str | None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._pid != os.getpid():
            self._forget()
            self._loop, self._pid = loop, os.getpid()
        if self._next is None:
            self._next = loop.create_future()
            if not self._running:
                self._running = True
                self._task = loop.create_task(self._rounds())
        return await asyncio.shield(self._next)

    async def _rounds(self) -> None:
        """Answer the waiting requests with one query each round, until none waits."""
        try:
            while self._next is not None:
                waiting, self._next = self._next, None
                result: str | None = None
                try:
                    result = await self._query()
                finally:
                    waiting.set_result(result)
        finally:
            self._running = False

    async def _query(self) -> str | None:
        try:
            if self._conn is None:
                if time.monotonic() - self._failed_at < RETRY_AFTER:
                    return None
                self._conn = await _connection_class().connect(
                    self.dsn, autocommit=True, connect_timeout=5
                )
            cur = await self._conn.execute("SELECT pg_current_snapshot()::text")
            row = await cur.fetchone()
            return str(row[0]) if row else None
        except Exception as exc:  # no marker: the caller answers uncached
            log.warning("change watch: %s: %s", type(exc).__name__, exc)
            self._forget()
            self._failed_at = time.monotonic()
            return None

    def _forget(self) -> None:
        """Drop the connection without awaiting anything: it may belong to another
        loop (a test client's) or to the parent of a forked process."""
        conn, self._conn = self._conn, None
        self._next, self._running = None, False
        if conn is None:
            return
        if self._pid == os.getpid():
            conn.pgconn.finish()
        else:  # a forked child's copy: closing it would end the parent's session
            _INHERITED.append(conn)

    def close(self) -> None:
        self._forget()


@functools.cache
def _connection_class() -> Any:
    """psycopg's asynchronous connection, closed when dropped: the watch lives as long
    as its app and has no place to await a close (test clients drop their loops)."""
    import psycopg

    class WatchConnection(psycopg.AsyncConnection[Any]):
        def __del__(self, *args: Any) -> None:
            if not self.closed:
                self.pgconn.finish()

    return WatchConnection


def watch_for(db: Database) -> ChangeWatch | None:
    """The watch for `db`; None for a database only one connection sees (`:memory:`)."""
    url = make_url(db.url)
    if db.is_sqlite:
        path = url.database or ""
        if not path or path == ":memory:" or path.startswith("file:"):
            return None
        return SqliteWatch(path)
    if url.get_backend_name() == "postgresql":
        return PostgresWatch(db.url)
    return None
