"""What /proc says about one process: whether it lives, and its command line.

Role: the agent's checks of the haproxy and keepalived processes it started
(`haproxy_process`, `keepalived`). The heartbeat round and the supervisor's pass ask for
every amphora's processes every few seconds, so these are plain `open()` calls: pathlib
objects would cost more than the reads. Reads only; never raises for a process that is
gone.
"""

from __future__ import annotations


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat.rsplit(b")", 1)[1].split()[0] != b"Z"


def cmdline(pid: int) -> str:
    """Its arguments joined by spaces ("" once it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode()
    except OSError:
        return ""
