"""Password hashing with argon2id (argon2-cffi, RFC 9106 low-memory profile: 64 MiB,
3 passes, 4 lanes): memory-hard, so guessing offline costs memory, not only time.

`verify` also runs for a user that does not exist (against a fixed hash of a random
password), so a caller cannot tell unknown users from wrong passwords by timing.
"""

from __future__ import annotations

import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()
MAX_PASSWORD = 4096
"""Characters; longer passwords are refused before hashing (no hashing of megabytes)."""


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


@lru_cache(maxsize=1)
def _decoy() -> str:
    return _HASHER.hash(secrets.token_urlsafe(16))


def verify(stored: str | None, password: str) -> bool:
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return _HASHER.verify(stored or _decoy(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_password() -> str:
    """A random password for a bootstrap admin (192 bits)."""
    return secrets.token_urlsafe(24)
