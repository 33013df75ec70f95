"""Apply a spec change through haproxy's runtime API when only servers changed.

Role: `plan` compares the view dicts of the applied and the new spec (see
`render.build_view`). If they differ only in backend servers, it returns the runtime
commands (add server, set weight/state, del server) that make the running haproxy match
the new config; otherwise None and the caller reloads. `plan` is pure. `execute` sends a
plan over the stats socket and judges each answer with `haproxy_answers`; any refusal
raises `RuntimeCommandRefused` and the caller (`applying`) reloads instead. Commands
contain only ids, numbers, addresses and options produced by `render`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ostium.agent import haproxy_answers, haproxy_runtime
from ostium.agent.errors import RuntimeCommandRefused
from ostium.agent.haproxy_answers import Outcome, RuntimeAnswer

DEL_SERVER_RETRY = (0.002, 0.1)
"""Seconds between two `del server` tries while the server still has connections: the
first wait, doubled after each try up to the second. A server put in maintenance is
usually free within milliseconds (idle connections to it are closed; requests in flight
finish), and the change reports ACTIVE only after this step, so the first tries come
fast."""


def retry_waits() -> Iterator[float]:
    """The waits between `del server` tries (see `DEL_SERVER_RETRY`)."""
    wait, longest = DEL_SERVER_RETRY
    while True:
        yield wait
        wait = min(wait * 2, longest)


@dataclass
class RuntimePlan:
    add: list[str] = field(default_factory=list)
    """Commands for new servers and weight/state changes, in order."""
    remove: list[tuple[str, str]] = field(default_factory=list)
    """(backend, server) pairs to drain to maintenance and then delete."""

    @property
    def empty(self) -> bool:
        return not self.add and not self.remove


def _skeleton(view: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(view)
    out.pop("generation", None)
    for be in out["backends"]:
        be["servers"] = []
    return out


def plan(old: dict[str, Any], new: dict[str, Any]) -> RuntimePlan | None:
    if _skeleton(old) != _skeleton(new):
        return None
    result = RuntimePlan()
    old_backends = {be["name"]: be for be in old["backends"]}
    for be in new["backends"]:
        name = be["name"]
        before = {s["name"]: s for s in old_backends[name]["servers"]}
        after = {s["name"]: s for s in be["servers"]}
        for sid, srv in after.items():
            prev = before.get(sid)
            if prev is not None and prev["identity"] != srv["identity"]:
                return None  # address, port, backup, checks...: a reload is simpler
            if prev is None:
                result.add.append(
                    f"add server {name}/{sid} {srv['address']} {srv['runtime_options']}"
                )
                if srv["has_check"]:
                    result.add.append(f"enable health {name}/{sid}")
                if srv["enabled"]:
                    result.add.append(f"set server {name}/{sid} state ready")
                continue
            if prev["weight"] != srv["weight"]:
                result.add.append(f"set server {name}/{sid} weight {srv['weight']}")
            if prev["enabled"] != srv["enabled"]:
                state = "ready" if srv["enabled"] else "maint"
                result.add.append(f"set server {name}/{sid} state {state}")
        for sid in before:
            if sid not in after:
                result.remove.append((name, sid))
    return result


def _send(stats_socket: str, command: str) -> RuntimeAnswer:
    return haproxy_answers.parse(command, haproxy_runtime.send(stats_socket, command))


def _refused(answer: RuntimeAnswer) -> RuntimeCommandRefused:
    return RuntimeCommandRefused(
        f"haproxy refused runtime command {answer.command!r}",
        {"command": answer.command, "answer": answer.message, "outcome": answer.outcome.value},
    )


def execute(
    plan: RuntimePlan,
    stats_socket: str,
    del_server_wait: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> None:
    """Send `plan`; raise `RuntimeCommandRefused` at the first answer that is not a
    success (or when a removed server keeps connections beyond `del_server_wait`)."""
    for command in plan.add:
        answer = _send(stats_socket, command)
        if not answer.done:
            raise _refused(answer)
    for backend, server in plan.remove:
        answer = _send(stats_socket, f"set server {backend}/{server} state maint")
        if not answer.done:
            raise _refused(answer)
    deadline = clock() + del_server_wait
    for backend, server in plan.remove:
        waits = retry_waits()
        while True:
            answer = _send(stats_socket, f"del server {backend}/{server}")
            if answer.done:
                break
            if answer.outcome is not Outcome.BUSY or clock() > deadline:
                raise _refused(answer)
            sleep(next(waits))
