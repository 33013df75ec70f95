"""Payload encryption at rest: Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`.

The key is `[certificates] secret_key` from the config when given (a urlsafe base64
Fernet key), else `<state_dir>/secrets.key`, created on first use with mode 0600.
Every API process and worker of one deployment must share the key (the state
directory, or the config).
"""

from __future__ import annotations

import functools
import os
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
        key = Fernet.generate_key()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process of this deployment made it first: use theirs
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(key)
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
