"""Remove what this agent's name prefix owns but no amphora of it needs.

Role: garbage collection on the host: namespaces of our shape that no registered
amphora has, and state directories (with any haproxy or keepalived still running from
them) of amphorae the registry does not know. Callers: `supervising` at start (orphan
namespaces only), `amphorae.sweep` (housekeeping asks through `POST /sweep`). Never
touches a registered amphora, nor anything whose name lacks our prefix.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from ostium.agent import haproxy_process, keepalived, netns
from ostium.agent.amphora import haproxy_paths
from ostium.agent.keepalived import KeepalivedPaths
from ostium.agent.registry import AmphoraRegistry

LOG = logging.getLogger(__name__)


def remove_orphan_namespaces(registry: AmphoraRegistry) -> list[str]:
    """Delete our namespaces that no registered amphora has; return their names."""
    namespaces = netns.list_namespaces()
    # Read after listing: an amphora is registered before its namespace is created,
    # so one being ensured right now is either known here or not listed above.
    known = registry.namespaces()
    removed: list[str] = []
    for ns in namespaces:
        if registry.owns(ns) and ns not in known:
            LOG.warning("removing orphan namespace %s", ns)
            haproxy_process.kill_namespace_processes(ns)
            netns.delete_namespace(ns)
            removed.append(ns)
    return removed


def sweep(registry: AmphoraRegistry) -> tuple[str, ...]:
    """Remove orphan namespaces, and state directories of unknown amphorae with their
    processes. Returns a description of each thing removed (housekeeping reports it)."""
    removed = [f"namespace {ns}" for ns in remove_orphan_namespaces(registry)]
    known = registry.namespaces()
    for directory in sorted(registry.root.iterdir()):
        if directory.name in known or not registry.owns(directory.name):
            continue
        kpaths = KeepalivedPaths.in_dir(directory)
        kept = keepalived.pids_for_config(kpaths)
        if kept:  # even with its files gone: what runs with that config path
            keepalived.stop(kpaths, found=kept)
            removed.append(f"keepalived {kpaths.config}")
        paths = haproxy_paths(directory)
        pids = haproxy_process.pids_for_config(paths.config)
        if pids:
            haproxy_process.stop(paths)
            removed.append(f"haproxy {paths.config} (pids {pids})")
        remove_directory(directory)
        removed.append(f"state directory {directory}")
    for item in removed:
        LOG.warning("sweep removed %s", item)
    return tuple(removed)


def remove_directory(directory: Path) -> None:
    """An amphora's state directory, whatever is left in it."""
    shutil.rmtree(directory, ignore_errors=True)
