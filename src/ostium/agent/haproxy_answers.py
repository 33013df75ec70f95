"""haproxy's answers on the runtime socket, parsed into results.

Role: say what one answer means for the command that got it: done, busy (try again in
a moment) or refused (the runtime path cannot do it: reload instead). Callers:
`runtime_update` when it sends a plan. Pure: the text comes from `haproxy_runtime`.

haproxy answers each command with one line of text, or nothing when all went well for
the commands that have nothing to say (`set server`, `enable health`). The success and
"busy" lines below are the exact texts of haproxy 2.6's CLI; anything else, including a
text we have never seen, is a refusal, so an unknown answer falls back to the safe path
(a reload) instead of being taken for success.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

ADD_SERVER_DONE = "New server registered."
DEL_SERVER_DONE = "Server deleted."
DEL_SERVER_BUSY = "Server still has connections attached to it, cannot remove it."


class Outcome(Enum):
    DONE = "done"
    BUSY = "busy"
    """Not now: the server still has connections (only `del server` says so)."""
    REFUSED = "refused"


@dataclass(frozen=True)
class RuntimeAnswer:
    command: str
    outcome: Outcome
    message: str
    """haproxy's text without surrounding blank lines ("" when it said nothing)."""

    @property
    def done(self) -> bool:
        return self.outcome is Outcome.DONE


def _verb(command: str) -> str:
    """`add server`, `del server`, `set server`, `enable health`, ..."""
    return " ".join(command.split()[:2])


def parse(command: str, text: str) -> RuntimeAnswer:
    message = text.strip()
    verb = _verb(command)
    if verb == "add server":
        # An accepted server may come with warnings first; the verdict is the last line.
        last = message.splitlines()[-1] if message else ""
        outcome = Outcome.DONE if last == ADD_SERVER_DONE else Outcome.REFUSED
    elif verb == "del server":
        if message == DEL_SERVER_DONE:
            outcome = Outcome.DONE
        elif message == DEL_SERVER_BUSY:
            outcome = Outcome.BUSY
        else:
            outcome = Outcome.REFUSED
    else:
        outcome = Outcome.DONE if not message else Outcome.REFUSED
    return RuntimeAnswer(command, outcome, message)
