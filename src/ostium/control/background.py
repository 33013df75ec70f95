"""A loop in a daemon thread, for the control plane's periodic parts (the health
watchdog, housekeeping): start, stop (which wakes the loop and joins it), and a sleep
that tests can replace and that returns at once when stopping.

Subclasses implement `run()` and loop while `not self.stopping`. Nothing here touches
the database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Background:
    thread_name = "ostium-background"

    def __init__(self, sleep: Callable[[float], object] | None = None) -> None:
        self._stop = threading.Event()
        self.sleep = sleep or self._stop.wait
        self._thread: threading.Thread | None = None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def run(self) -> None:
        raise NotImplementedError
