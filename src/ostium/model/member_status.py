"""The member operating-status rule, in one function (pure, no I/O).

Role: what a member's `operating_status` is. The API calls it when a member is created,
the worker after every change it applies, the health manager for every heartbeat; none
of them decides a member's status on its own.
"""

from __future__ import annotations

from typing import Final

from ostium.model.enums import OperatingStatus
from ostium.model.heartbeat import HaproxyWord

NOT_IN_REPORT: Final = ""
"""`reported` for a member whose pool a heartbeat reported without it."""


def from_haproxy(word: str) -> OperatingStatus | None:
    """The status for one haproxy server status word (None: a word we do not know)."""
    word = word.strip()
    if word.startswith(HaproxyWord.UP):
        return OperatingStatus.ONLINE
    if word.startswith(HaproxyWord.DOWN):
        return OperatingStatus.ERROR
    if word.startswith((HaproxyWord.DRAIN, HaproxyWord.NOLB)):
        return OperatingStatus.DRAINING
    if word.startswith(HaproxyWord.MAINT):
        return OperatingStatus.OFFLINE
    if word.lower() == HaproxyWord.NO_CHECK:
        return OperatingStatus.NO_MONITOR
    return None


def member_operating_status(
    current: OperatingStatus | str | None,
    *,
    admin_state_up: bool,
    monitored: bool,
    reported: str | None = None,
) -> OperatingStatus:
    """The operating status a member should show.

    `current` is what it shows now (None for a member being created); `monitored`
    whether its pool has a health monitor; `reported` what a heartbeat says of it:
    None when no heartbeat speaks of it (create, or the worker settling a change),
    `NOT_IN_REPORT` when its pool was reported without it, else haproxy's status word.
    """
    now = None if current is None else OperatingStatus(current)
    if reported is not None:
        if reported == NOT_IN_REPORT:
            return now if now is OperatingStatus.NO_MONITOR else OperatingStatus.OFFLINE
        return from_haproxy(reported) or now or OperatingStatus.OFFLINE
    if now is None:
        # Not checked yet: OFFLINE until a monitor says otherwise.
        return OperatingStatus.OFFLINE if monitored else OperatingStatus.NO_MONITOR
    if not admin_state_up:
        return OperatingStatus.OFFLINE
    if not monitored:
        return OperatingStatus.NO_MONITOR
    if now is OperatingStatus.NO_MONITOR:
        return OperatingStatus.OFFLINE
    return now
