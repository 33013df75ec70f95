"""The agent URLs of hosts that joined (`host` rows), for the compute driver.

Role: `HostDirectory()` answers the multi-host driver's "which agents are there now?"
from the database, read again at most every `ttl` seconds, so a host that joins while
the worker runs gets amphorae without a restart. Every joined host is listed, whatever
its state: a DRAINING or DOWN host's amphorae must still be reachable to be removed;
where new amphorae go is the worker's placement (`worker/host_choice`). Callers:
`netns_setup`. Opens its own database engine on first use.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from ostium.control.db import models as m
from ostium.control.settings import Settings
from ostium.model.enums import HostState

LOG = logging.getLogger("ostium.hosts")


class HostDirectory:
    def __init__(
        self, settings: Settings, ttl: float = 2.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.ttl = ttl
        self.clock = clock
        self._db: Any = None
        self._lock = threading.Lock()
        self._urls: list[str] = []
        self._read_at: float | None = None

    def __call__(self) -> list[str]:
        with self._lock:
            now = self.clock()
            if self._read_at is None or now - self._read_at >= self.ttl:
                try:
                    self._urls = self._read()
                except SQLAlchemyError as exc:  # keep the last list: the worker goes on
                    LOG.warning("hosts could not be read from the database: %s", exc)
                self._read_at = now
            return list(self._urls)

    def _read(self) -> list[str]:
        if self._db is None:
            from ostium.control.db.engine import open_database

            self._db = open_database(self.settings.database_url)
        with self._db.read() as session:
            rows = session.scalars(
                select(m.Host.agent_url).where(
                    m.Host.state != HostState.ENROLLING, m.Host.agent_url.is_not(None)
                )
            )
            return [str(u) for u in rows]

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()
