"""What every service call gets: the database, the settings, a way to wake the worker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ostium.control.access_log_receiver import LogStore
from ostium.control.db.engine import Database
from ostium.control.settings import Settings


@dataclass
class ServiceContext:
    db: Database
    settings: Settings
    wake: Callable[[], None]
    access_logs: LogStore | None = None
    """The access log lines this process received (`ostium logs`); None: no receiver."""
