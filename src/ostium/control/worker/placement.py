"""Where a new amphora of an ACTIVE_STANDBY pair goes (anti-affinity), as a pure function.

Role: the placement rule `pairing` applies with the hosts the compute driver lists
(`ComputeDriver.hosts`) and the amphorae each host holds. A new amphora goes to a host
that holds no other amphora of its pair, the least loaded first; with a single host the
pair shares it, unless the policy (`[controller_worker] anti_affinity`) is `required`,
which refuses. No database, no driver.
"""

from __future__ import annotations

from collections.abc import Sequence

from ostium.model.errors import PermanentError

REQUIRED = "required"


def place(
    hosts: Sequence[str], peer_hosts: Sequence[str | None], load: dict[str, int], policy: str
) -> str | None:
    """The host for a new amphora of a pair whose other amphorae sit on `peer_hosts`.

    `hosts` lists the registered hosts (empty: the driver does not say; one host is
    assumed); `load` counts amphorae per host. Raises `PermanentError` when `policy` is
    `required` and no host is free of the pair.
    """
    if not hosts:
        if policy == REQUIRED:
            raise PermanentError(
                "anti-affinity is required but the compute driver registers no hosts to tell apart"
            )
        return None
    taken = {h for h in peer_hosts if h is not None}
    free = [h for h in hosts if h not in taken]
    if free:
        return min(free, key=lambda h: (load.get(h, 0), hosts.index(h)))
    if policy == REQUIRED:
        raise PermanentError(
            f"anti-affinity is required but no host is free of this pair: "
            f"{len(hosts)} host(s) registered ({', '.join(hosts)}), the other amphora is "
            f"on {', '.join(sorted(taken))}"
        )
    return min(hosts, key=lambda h: (load.get(h, 0), hosts.index(h)))
