"""Request bodies for quotas, flavors, flavor profiles, availability zones and profiles."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .common import Bool, Int, Str255, Uuid, Wire

QuotaLimit = Annotated[Int, Field(ge=-1, le=2000000000)]


class QuotaUpdate(Wire):
    loadbalancer: QuotaLimit | None = None
    load_balancer: QuotaLimit | None = None
    listener: QuotaLimit | None = None
    member: QuotaLimit | None = None
    pool: QuotaLimit | None = None
    healthmonitor: QuotaLimit | None = None
    health_monitor: QuotaLimit | None = None
    l7policy: QuotaLimit | None = None
    l7rule: QuotaLimit | None = None


class FlavorCreate(Wire):
    name: Str255
    description: Str255 | None = None
    enabled: Bool = True
    flavor_profile_id: Uuid


class FlavorUpdate(Wire):
    name: Str255 | None = None
    description: Str255 | None = None
    enabled: Bool | None = None


class FlavorProfileCreate(Wire):
    name: Str255
    provider_name: Str255
    flavor_data: Annotated[str, Field(max_length=4096)]


class FlavorProfileUpdate(Wire):
    name: Str255 | None = None
    provider_name: Str255 | None = None
    flavor_data: Annotated[str, Field(max_length=4096)] | None = None


class AvailabilityZoneCreate(Wire):
    name: Str255
    description: Str255 | None = None
    enabled: Bool = True
    availability_zone_profile_id: Uuid


class AvailabilityZoneUpdate(Wire):
    description: Str255 | None = None
    enabled: Bool | None = None


class AvailabilityZoneProfileCreate(Wire):
    name: Str255
    provider_name: Str255
    availability_zone_data: Annotated[str, Field(max_length=4096)]


class AvailabilityZoneProfileUpdate(Wire):
    name: Str255 | None = None
    provider_name: Str255 | None = None
    availability_zone_data: Annotated[str, Field(max_length=4096)] | None = None


# ---- hosts (ostium's own admin API: agents on many machines) ----------------------------

HostName = Annotated[Str255, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]


class HostCreate(Wire):
    name: HostName
    zone: Str255 | None = None
    capacity: Annotated[Int, Field(ge=1, le=100000)] = 1000
    networks: list[Str255] | None = None


class HostUpdate(Wire):
    state: Str255


class HostEnroll(Wire):
    """What an agent sends with its one-time token to join (`ostium agent --join`)."""

    token: Annotated[str, Field(min_length=1, max_length=255)]
    csr: Annotated[str, Field(min_length=1, max_length=16384)]
    agent_url: Str255
    names: Annotated[list[Str255], Field(max_length=16)] = []
    addresses: Annotated[list[Str255], Field(max_length=16)] = []
    networks: list[Str255] | None = None
    capacity: Annotated[Int, Field(ge=1, le=100000)] | None = None
