"""Payload encryption at rest: Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`.

The key is `[certificates] secret_key` from the config when given (a urlsafe base64
Fernet key), else `<state_dir>/secrets.key`, created on first use with mode 0600.
Every API process and worker of one deployment must share the key (the state
directory, or the config).
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from ostium.model.errors import PermanentError

KEY_FILE = "secrets.key"


class SecretKeyError(PermanentError):
    """The stored payload cannot be decrypted with this deployment's key."""


def key_path(state_dir: Path) -> Path:
    return state_dir / KEY_FILE


def load_key(state_dir: Path, configured: str = "") -> Fernet:
    if configured:
        return Fernet(configured.encode())
    path = key_path(state_dir)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under a name of its own, then linked into place: a reader in
        # another thread or process never meets an empty or half-written key.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(Fernet.generate_key())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another thread or process of this deployment made it first: use theirs
        finally:
            tmp.unlink()
    return Fernet(path.read_bytes().strip())


def encrypt(fernet: Fernet, payload: bytes) -> str:
    return fernet.encrypt(payload).decode("ascii")


def decrypt(fernet: Fernet, token: str) -> bytes:
    try:
        return fernet.decrypt(token.encode("ascii"))
    except InvalidToken:
        raise SecretKeyError(
            "a stored secret cannot be decrypted: the secret key changed"
        ) from None


@functools.lru_cache(maxsize=8)
def fernet_for(state_dir: Path, configured: str = "") -> Fernet:
    """The deployment's Fernet, read once per process."""
    return load_key(state_dir, configured)
