"""Decide whether a spec change can be applied through the runtime API, and how.

Role: compare the view dicts of the applied and the new spec (see `render.build_view`).
If they differ only in backend servers, return the runtime commands (add server, set
weight/state, del server) that make the running haproxy match the new config; otherwise
return None and the caller reloads. Pure; the caller (`manager`) sends the commands and
falls back to a reload on any failure. Commands contain only ids, numbers, addresses
and options produced by `render`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any


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
