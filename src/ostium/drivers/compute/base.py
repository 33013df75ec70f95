"""The compute driver protocol: how the worker gets amphorae built, configured, removed.

Only the worker (and housekeeping) calls drivers. A driver raises TransientError for
failures worth retrying and PermanentError for the rest; it never imports the control
plane.

Placement (ACTIVE_STANDBY anti-affinity) is optional: a driver may offer `hosts()`, the
hosts it can build on, and `build_on(plug, host)`; the worker keeps the two amphorae of
a pair on different hosts when it can (see `control/worker/pair_plan.place`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from ostium.model.spec import AmphoraPlug, AmphoraSpec


@dataclass(frozen=True)
class AmphoraInfo:
    compute_id: str
    lb_network_ip: str | None
    host: str
    cert_expiration: dt.datetime | None


class ComputeDriver(Protocol):
    name: str

    def build(self, plug: AmphoraPlug) -> AmphoraInfo:
        """Create the amphora (idempotent: an existing one is adopted)."""
        ...

    def apply(self, spec: AmphoraSpec) -> int:
        """Converge the amphora to `spec`; returns the generation now applied."""
        ...

    def destroy(self, amphora_id: str) -> None:
        """Remove the amphora completely (idempotent: gone is fine)."""
        ...
