"""Per-step timing of one piece of work (a reconcile, an agent apply): where the time goes.

Role: a `Phases` recorder is made current for the duration of one piece of work
(`recording`); code anywhere below it marks its steps with `phase("name")`, which costs
one clock read and does nothing when no recorder is current. The agent returns its
steps to the worker in a `Server-Timing` header (`server_timing` / `parse_server_timing`),
so one reconcile's log line shows the whole path, controller and agent. Callers: the
worker loop, the agent's apply pipeline, the agent client. Pure: no I/O, no logging.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

_CURRENT: contextvars.ContextVar[Phases | None] = contextvars.ContextVar(
    "ostium_phases", default=None
)


class Phases:
    """Named durations in seconds, summed when a name repeats, in first-seen order."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.started = time.perf_counter()

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def total(self) -> float:
        return time.perf_counter() - self.started

    def describe(self) -> str:
        """`name=1.2ms ...` in milliseconds, for one log line."""
        return " ".join(f"{k}={v * 1000:.1f}ms" for k, v in self.seconds.items())


@contextmanager
def recording(phases: Phases | None = None) -> Iterator[Phases]:
    """Make `phases` (or a new recorder) current for the block."""
    rec = phases if phases is not None else Phases()
    token = _CURRENT.set(rec)
    try:
        yield rec
    finally:
        _CURRENT.reset(token)


def current() -> Phases | None:
    return _CURRENT.get()


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Time the block as step `name` of the current recorder (if any)."""
    rec = _CURRENT.get()
    if rec is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        rec.add(name, time.perf_counter() - started)


def server_timing(phases: Phases) -> str:
    """The steps as an HTTP `Server-Timing` header value (durations in ms)."""
    return ", ".join(f"{k};dur={v * 1000:.2f}" for k, v in phases.seconds.items())


def parse_server_timing(value: str, prefix: str = "") -> dict[str, float]:
    """Seconds per step from a `Server-Timing` value; malformed entries are skipped."""
    out: dict[str, float] = {}
    for entry in value.split(","):
        name, _, params = entry.strip().partition(";")
        for param in params.split(";"):
            key, _, dur = param.strip().partition("=")
            if key == "dur" and name:
                with suppress(ValueError):
                    out[prefix + name] = float(dur) / 1000
    return out
