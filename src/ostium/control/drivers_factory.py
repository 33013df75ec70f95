"""Choose and build the compute driver named by the settings (`auto`, `noop`, `netns`).

Role: the one place that maps `[controller_worker] compute_driver` to a driver and its
cleanup. Callers: `cli` (serve, worker, housekeeping). Must not start anything for
`noop`; `netns` starts the local agent (`netns_setup`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from ostium.control.settings import Settings
from ostium.drivers.compute.base import ComputeDriver
from ostium.drivers.compute.noop import NoopDriver


def resolve_name(settings: Settings) -> str:
    name = settings.worker.compute_driver
    if name == "auto":
        netns_ok = sys.platform.startswith("linux") and os.geteuid() == 0
        return "netns" if netns_ok and _netns_available() else "noop"
    return name


def _netns_available() -> bool:
    try:
        import ostium.drivers.compute.netns  # noqa: F401
    except ImportError:
        return False
    return True


def make_compute_driver(settings: Settings) -> tuple[ComputeDriver, Callable[[], None]]:
    name = resolve_name(settings)
    if name == "noop":
        return NoopDriver(), lambda: None
    if name == "netns":
        from ostium.control.netns_setup import start_local_netns_driver

        return start_local_netns_driver(settings)
    raise ValueError(f"unknown compute driver {name!r} (auto, noop, netns)")
