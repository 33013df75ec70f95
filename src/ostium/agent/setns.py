"""Entering an amphora's network namespace from a thread (`setns` moves only the
calling thread; the rest of the process stays in the host's namespace).

Callers: the LVS health checks (`nftables.checking`, worker threads that live in the
namespace) and the access-log sockets (`access_logs`, a thread that makes one socket
there and ends).
"""

from __future__ import annotations

import ctypes
import os

CLONE_NEWNET = 0x40000000


def enter_namespace(namespace: str) -> None:
    """Move the calling thread into network namespace `namespace` (ip netns name)."""
    fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {namespace}: {os.strerror(err)}")
    finally:
        os.close(fd)


def namespace_inode(namespace: str) -> int | None:
    """The identity of the namespace `ip netns` names `namespace` now; None if absent."""
    try:
        return os.stat(f"/run/netns/{namespace}").st_ino
    except OSError:
        return None
