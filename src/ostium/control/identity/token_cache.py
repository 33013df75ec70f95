"""A bounded, expiring memory of validated tokens, keyed by a hash of the token.

`ExternalKeystone` asks Keystone once per token and `token_cache_time` seconds; this
remembers the answer (an identity, or "not valid") meanwhile. The token itself is never
kept: only its SHA-256, so a dump of the process holds nothing a caller could replay.
At most `max_entries` answers are kept, the least recently used dropped first, so a
flood of made-up tokens costs a bounded amount of memory. Thread-safe (the API
validates from worker threads); the clock is injected.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


def token_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class TokenCache(Generic[V]):
    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> tuple[bool, V | None]:
        """(True, answer) while a fresh answer is kept, else (False, None)."""
        key = token_key(token)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False, None
            expires, value = entry
            if expires <= self._clock():
                del self._entries[key]
                return False, None
            self._entries.move_to_end(key)
            return True, value

    def put(self, token: str, value: V, ttl: float) -> None:
        if ttl <= 0:
            return
        key = token_key(token)
        with self._lock:
            self._entries[key] = (self._clock() + ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
