"""Learn the moment a process exits (Linux pidfds), without polling.

Role: the agent's fast path for process death. `ProcessWatcher.watch(pid, callback)`
opens a pidfd for `pid`; one thread polls all of them and calls `callback(pid)` (on that
thread, so it must be quick) when the process has exited. Callers: `supervising` and
`amphora_keepalived`, which watches each haproxy master and keepalived so that an
ACTIVE_STANDBY amphora whose haproxy dies is demoted at once and the dead process is
respawned without waiting for the next supervision pass. A pid already gone when watched
is reported at once.

Must not know about amphorae: callers map pids to what they mean.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from collections.abc import Callable

LOG = logging.getLogger(__name__)
Callback = Callable[[int], None]


class ProcessWatcher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fds: dict[int, tuple[int, Callback]] = {}  # pidfd -> (pid, callback)
        self._by_pid: dict[int, int] = {}  # pid -> pidfd
        self._wake_r, self._wake_w = os.pipe()
        self._stop = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="process-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop = True
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for fd in self._fds:
                os.close(fd)
            self._fds.clear()
            self._by_pid.clear()

    def watch(self, pid: int, callback: Callback) -> None:
        """Call `callback(pid)` once `pid` exits (replaces an earlier watch of `pid`)."""
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            callback(pid)
            return
        except OSError as exc:  # no pidfd support: the periodic supervision still works
            LOG.info("cannot watch pid %s: %s", pid, exc)
            return
        with self._lock:
            old = self._by_pid.pop(pid, None)
            if old is not None:
                self._fds.pop(old, None)
                os.close(old)
            self._fds[fd] = (pid, callback)
            self._by_pid[pid] = fd
        os.write(self._wake_w, b"x")

    def watching(self, pid: int) -> bool:
        with self._lock:
            return pid in self._by_pid

    def _run(self) -> None:
        while not self._stop:
            poller = select.poll()
            poller.register(self._wake_r, select.POLLIN)
            with self._lock:
                for fd in self._fds:
                    poller.register(fd, select.POLLIN)
            for fd, _event in poller.poll():
                if fd == self._wake_r:
                    os.read(self._wake_r, 4096)
                    continue
                with self._lock:
                    # `watch` may have closed this fd meanwhile and got the number back
                    # for another pid: fire only if this very fd says "exited" now.
                    entry = self._fds.get(fd) if _exited(fd) else None
                    if entry is not None:
                        del self._fds[fd]
                        self._by_pid.pop(entry[0], None)
                        os.close(fd)
                if entry is None:
                    continue
                try:
                    entry[1](entry[0])
                except Exception:  # the watcher must outlive any single callback
                    LOG.exception("process exit callback for pid %s failed", entry[0])


def _exited(pidfd: int) -> bool:
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(0))
