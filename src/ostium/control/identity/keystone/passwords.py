"""Password hashing with argon2id (argon2-cffi): memory-hard, so guessing offline costs
memory, not only time. The cost is `[identity] password_hash_memory_kib` and
`password_hash_time_cost` (default 19 MiB and 2 passes, one lane: OWASP's minimum for
argon2id); a hash records its own parameters, so changing them never breaks the
passwords already stored.

`verify` also runs for a user that does not exist (against a hash of a random
password), so a caller cannot tell unknown users from wrong passwords by timing. At
most `MAX_CONCURRENT` hashes run at once in a process (the others wait their turn), so a
flood of logins costs bounded memory and leaves cores to the rest of ostium.
"""

from __future__ import annotations

import secrets
import threading
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ostium.control.settings_keystone import IdentitySettings
from ostium.model.tokens import new_secret

MAX_PASSWORD = 4096
"""Characters; longer passwords are refused before hashing (no hashing of megabytes)."""
MAX_CONCURRENT = 4
_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT)


@lru_cache(maxsize=4)
def _hasher(memory_kib: int, time_cost: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


def _for(settings: IdentitySettings) -> PasswordHasher:
    return _hasher(settings.password_hash_memory_kib, settings.password_hash_time_cost)


def hash_password(password: str, settings: IdentitySettings) -> str:
    with _SLOTS:
        return _for(settings).hash(password)


@lru_cache(maxsize=4)
def _decoy(memory_kib: int, time_cost: int) -> str:
    return _hasher(memory_kib, time_cost).hash(secrets.token_urlsafe(16))


def verify(stored: str | None, password: str, settings: IdentitySettings) -> bool:
    if len(password) > MAX_PASSWORD:
        return False
    if stored is None:
        stored = _decoy(settings.password_hash_memory_kib, settings.password_hash_time_cost)
        password = "\x00" + password  # never matches the decoy
    try:
        with _SLOTS:
            return _for(settings).verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_password() -> str:
    """A random password for a bootstrap admin (192 bits)."""
    return new_secret(24)
