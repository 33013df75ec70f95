"""Several hosts behind one compute driver: one `NetnsDriver` (one agent) per host.

Role: what lets the worker place the two amphorae of an ACTIVE_STANDBY pair on
different hosts. `hosts()` lists the agents' URLs; `build_on`, `apply_on` and
`destroy_on` go to the host the worker recorded for the amphora (`amphora.host`); the
plain `build`/`apply`/`destroy` of the compute protocol find the amphora's agent by
asking each one (`GET /amphorae/{id}`, remembered afterwards), so the SINGLE path and
housekeeping work unchanged. Built by `control/netns_setup` from `[haproxy_amphora]
remote_agents`; never imports the control plane.
"""

from __future__ import annotations

from ostium.drivers.compute.base import AmphoraInfo
from ostium.drivers.compute.netns import NetnsDriver
from ostium.model.spec import AmphoraPlug, AmphoraSpec


class MultiHostDriver:
    name = "netns"

    def __init__(self, drivers: list[NetnsDriver]) -> None:
        if not drivers:
            raise ValueError("MultiHostDriver needs at least one host")
        self.by_host = {d.host: d for d in drivers}
        self.first = drivers[0]
        self._where: dict[str, NetnsDriver] = {}

    def hosts(self) -> list[str]:
        return list(self.by_host)

    def _on(self, host: str | None) -> NetnsDriver | None:
        return self.by_host.get(host) if host is not None else None

    def _find(self, amphora_id: str) -> NetnsDriver:
        known = self._where.get(amphora_id)
        if known is not None:
            return known
        for driver in self.by_host.values():
            if driver.client.get_amphora(amphora_id) is not None:
                self._where[amphora_id] = driver
                return driver
        return self.first

    def build_on(self, plug: AmphoraPlug, host: str | None) -> AmphoraInfo:
        driver = self._on(host) or self.first
        info = driver.build(plug)
        self._where[plug.amphora_id] = driver
        return info

    def build(self, plug: AmphoraPlug) -> AmphoraInfo:
        return self.build_on(plug, None)

    def apply_on(self, spec: AmphoraSpec, host: str | None) -> int:
        driver = self._on(host) or self._find(spec.amphora_id)
        return driver.apply(spec)

    def apply(self, spec: AmphoraSpec) -> int:
        return self.apply_on(spec, None)

    def destroy_on(self, amphora_id: str, host: str | None) -> None:
        driver = self._on(host) or self._find(amphora_id)
        driver.destroy(amphora_id)
        self._where.pop(amphora_id, None)

    def destroy(self, amphora_id: str) -> None:
        self.destroy_on(amphora_id, None)
