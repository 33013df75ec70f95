"""Pick up a rotated server certificate without restarting the agent.

Role: housekeeping replaces the agent's certificate and key files before they expire
(atomic renames). `CertReloader` notices the new files and loads them into the live
`ssl.SSLContext` the agent's HTTPS server uses: connections made from then on present
the new certificate, open ones are untouched, and haproxy never notices (it does not
depend on the agent at all). Caller: `main`. A pair that fails to load (say the key
was written before the certificate) is retried on the next check.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from pathlib import Path

LOG = logging.getLogger(__name__)


def _stamp(*paths: Path) -> tuple[float, ...]:
    out: list[float] = []
    for path in paths:
        try:
            out.append(path.stat().st_mtime)
        except OSError:
            out.append(0.0)
    return tuple(out)


class CertReloader:
    def __init__(
        self, context: ssl.SSLContext, cert: Path, key: Path, interval: float = 5.0
    ) -> None:
        self.context = context
        self.cert = cert
        self.key = key
        self.interval = interval
        self.loaded = _stamp(cert, key)
        self.reloads = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> bool:
        """Load the files if they changed since the last load; True if reloaded."""
        stamp = _stamp(self.cert, self.key)
        if stamp == self.loaded:
            return False
        try:
            self.context.load_cert_chain(str(self.cert), str(self.key))
        except (OSError, ssl.SSLError) as exc:
            LOG.warning("server certificate %s not reloaded yet: %s", self.cert, exc)
            return False
        self.loaded = stamp
        self.reloads += 1
        LOG.warning("server certificate reloaded from %s", self.cert)
        return True

    def start(self, wait: Callable[[float], bool] | None = None) -> None:
        sleep = wait or self._stop.wait

        def loop() -> None:
            while not sleep(self.interval):
                self.check()

        self._thread = threading.Thread(target=loop, name="cert-reloader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
