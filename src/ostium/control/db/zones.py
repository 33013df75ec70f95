"""Availability zones as host groups: which compute zone a load balancer asks for, and
which hosts are in a zone.

An availability zone's profile may name a `compute_zone` (Octavia's
`availability_zone_data` key for the amphora driver); hosts belong to a zone by their
`host` row (`ostium host add NAME --zone Z`). Hosts without a row (the agent of
`ostium serve`, `remote_agents`) are in the zone `[controller_worker] local_zone` says:
none by default (they take only load balancers without a compute zone), `*` for every
zone, or one name. Called by the load balancer service (a 400 when a zone has no host
at all) and by the worker's `host_choice` (only live hosts of the zone are eligible).
Reads only.
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from ostium.control.db import models as m

ANY_ZONE = "*"


def compute_zone(session: Session, availability_zone: str | None) -> str | None:
    """The compute zone of an availability zone (None: no zone, or its profile names
    none)."""
    if not availability_zone:
        return None
    az = session.get(m.AvailabilityZone, availability_zone)
    if az is None:
        return None
    profile = session.get(m.AvailabilityZoneProfile, az.availability_zone_profile_id)
    if profile is None:
        return None
    try:
        data = json.loads(profile.availability_zone_data or "{}")
    except ValueError:
        return None
    zone = data.get("compute_zone") if isinstance(data, dict) else None
    return zone if isinstance(zone, str) and zone else None


def local_in_zone(local_zone: str, zone: str) -> bool:
    """Whether a host without a row (the local agent) is in `zone`."""
    return local_zone == ANY_ZONE or (bool(local_zone) and local_zone == zone)


def in_zone(row: m.Host | None, local_zone: str, zone: str) -> bool:
    return local_in_zone(local_zone, zone) if row is None else row.zone == zone


def zone_has_hosts(session: Session, zone: str, local_zone: str) -> bool:
    """Whether any host (in any state) is declared in `zone`, the local one included."""
    if local_in_zone(local_zone, zone):
        return True
    found = session.scalar(select(m.Host.id).where(m.Host.zone == zone).limit(1))
    return found is not None
