"""Write the agent's own files (state, candidate configs) and translate their failures.

Role: the one boundary between the agent and its state directory for writes: every
`OSError` (disk full, directory removed under us) becomes a `StateFileError`, an
`AgentFailure` the apply pipeline knows how to recover from (restore last-known-good).
Callers: `registry` (plug.json, spec.json), `applying` (haproxy.cfg candidates, the
last-known-good copy), `amphora_keepalived`. Reads stay with their callers, which each
decide what a missing file means.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ostium.agent.errors import StateFileError


def write(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as exc:
        raise StateFileError(f"cannot write {path}: {exc}") from exc


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file and a rename: readers see old or new, never half."""
    tmp = path.with_name(path.name + ".tmp")
    write(tmp, text)
    replace(tmp, path)


def replace(source: Path, target: Path) -> None:
    try:
        os.replace(source, target)
    except OSError as exc:
        raise StateFileError(f"cannot rename {source} to {target}: {exc}") from exc


def copy(source: Path, target: Path) -> None:
    try:
        shutil.copyfile(source, target)
    except OSError as exc:
        raise StateFileError(f"cannot copy {source} to {target}: {exc}") from exc
