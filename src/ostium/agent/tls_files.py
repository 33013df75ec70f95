"""TLS material on disk: the only place a private key lives outside the control plane.

Role: write the PEM files and crt-lists a spec names into `<amphora dir>/tls/` (mode
0700) as files of mode 0600, before haproxy checks the config; remove those no spec
needs after a successful swap. Files are named by the SHA-1 of their content (PEM files)
or of the list they hold (crt-lists), so a certificate change is a new name: the config
changes, haproxy reloads seamlessly, and the last-known-good config still finds its
files until the next successful apply prunes them. Callers: `applying`.
Never logs or returns material; error messages name files only.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ostium.agent.errors import InvalidSpec, StateFileError
from ostium.model.spec import AmphoraSpec, ListenerSpec

TLS_DIR = "tls"


def tls_dir(amphora_dir: Path) -> Path:
    return amphora_dir / TLS_DIR


def pem_path(directory: Path, file_id: str) -> Path:
    return directory / f"{file_id}.pem"


def crt_list(directory: Path, listener: ListenerSpec) -> tuple[Path, str]:
    """The crt-list file of a TLS listener and its content (default certificate first).
    A crt-list line is a bare path: a directory haproxy would split is refused."""
    assert listener.tls is not None
    if any(c.isspace() or c in "\"'#\\" for c in str(directory)):
        raise InvalidSpec(f"the amphora directory {str(directory)!r} cannot hold a crt-list")
    text = "".join(f"{pem_path(directory, c)}\n" for c in listener.tls.certificates)
    digest = hashlib.sha1(text.encode()).hexdigest()
    return directory / f"{listener.id}-{digest}.crtlist", text


def _write_private(path: Path, data: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        raise StateFileError(f"cannot write {path.name}: {exc.strerror}") from None


def wanted(directory: Path, spec: AmphoraSpec) -> dict[Path, str | None]:
    """Every file the spec needs -> its content (None: must already be on disk)."""
    files: dict[Path, str | None] = {}
    for f in spec.tls_files:
        files[pem_path(directory, f.id)] = None if f.pem is None else f.pem.get_secret_value()
    known = {f.id for f in spec.tls_files}
    for listener in spec.listeners:
        if listener.tls is None:
            continue
        t = listener.tls
        for fid in [*t.certificates, t.client_ca, t.client_crl]:
            if fid is not None and fid not in known:
                raise InvalidSpec(f"listener {listener.id}: TLS file {fid} is not in the spec")
        path, text = crt_list(directory, listener)
        files[path] = text
    for pool in spec.pools:
        if pool.tls is None:
            continue
        for fid in (pool.tls.certificate, pool.tls.ca, pool.tls.crl):
            if fid is not None and fid not in known:
                raise InvalidSpec(f"pool {pool.id}: TLS file {fid} is not in the spec")
    return files


def write(amphora_dir: Path, spec: AmphoraSpec) -> None:
    """Put every file the spec needs in place (0600), leaving the others alone."""
    directory = tls_dir(amphora_dir)
    files = wanted(directory, spec)
    if not files:
        return
    try:
        directory.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise StateFileError(f"cannot create {directory}: {exc.strerror}") from None
    for path, content in files.items():
        if content is None:
            if not path.exists():
                raise InvalidSpec(f"TLS file {path.name} has no content and is not on disk")
            continue
        if not path.exists():  # names are content hashes: an existing file is this one
            _write_private(path, content)


def prune(amphora_dir: Path, spec: AmphoraSpec) -> None:
    """Remove TLS files the applied spec no longer names."""
    directory = tls_dir(amphora_dir)
    if not directory.is_dir():
        return
    keep = set(wanted(directory, spec))
    for path in directory.iterdir():
        if path not in keep:
            path.unlink(missing_ok=True)
