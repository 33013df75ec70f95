"""Wake-ups between processes through PostgreSQL: NOTIFY after a change, LISTEN in the
worker.

Role: `ostium api` and `ostium worker` as separate processes share only the database.
Without a signal the worker finds a change at its next poll (`poll_interval`, 0.2 s);
with one it starts at once. `notifier` gives the API a `wake()` that sends `NOTIFY
ostium_work` (one round trip, after the change committed); `Listener` is a thread of the
worker that turns each notification into `WorkerLoop.wake`. Polling stays as the safety
net: a lost notification (a reconnect, a listener not yet up) costs one poll interval,
never a change. SQLite has no such channel (there `serve` wakes in process).

Callers: `cli` (api, worker). Must not decide anything about the work itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import make_url

from ostium.control.db.engine import Database

log = logging.getLogger("ostium.db")

CHANNEL = "ostium_work"


def notifier(db: Database) -> Callable[[], None]:
    """A `wake()` for the API: NOTIFY on PostgreSQL, nothing on SQLite."""
    if db.is_sqlite:
        return lambda: None

    def wake() -> None:
        try:
            with db.write_engine.connect() as conn:
                conn.execute(text(f"NOTIFY {CHANNEL}"))
                conn.commit()
        except Exception as exc:  # the worker still polls: a lost wake-up costs little
            log.warning("NOTIFY %s failed: %s", CHANNEL, exc)

    return wake


class Listener:
    """LISTEN on PostgreSQL and call `wake` for every notification, reconnecting after
    errors, until `stop`."""

    def __init__(self, url: str, wake: Callable[[], None]) -> None:
        # psycopg speaks libpq URLs: drop SQLAlchemy's "+driver".
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.wake = wake
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="ostium-listen", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg

        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.wake()  # whatever was committed before LISTEN took effect
                    while not self.stopping.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self.wake()
            except Exception as exc:
                log.warning("LISTEN %s: %s; reconnecting", CHANNEL, type(exc).__name__)
                self.stopping.wait(1.0)
