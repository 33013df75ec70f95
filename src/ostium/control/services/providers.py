"""Provider drivers and what their flavors and availability zones may set."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from ostium.control.identity.context import RequestContext
from ostium.control.identity.policy import authorize
from ostium.control.services.listing import select_fields
from ostium.model.enums import Topology
from ostium.model.errors import BadRequest, NotImplementedByProvider

PROVIDERS = {
    "amphora": "ostium amphora driver: HAProxy in Linux network namespaces.",
    "octavia": "Deprecated alias of the amphora driver.",
}


@dataclass(frozen=True)
class Capability:
    """One key a flavor or availability zone profile may set: its JSON type and
    Octavia's own description (clients compare the text)."""

    name: str
    json_type: str
    description: str
    choices: tuple[str, ...] = ()


# The amphora driver's keys and descriptions, word for word as Octavia publishes them
# (its flavor and availability zone JSON schemas), in Octavia's order.
FLAVOR_CAPABILITIES = (
    Capability(
        "loadbalancer_topology",
        "string",
        "The load balancer topology. One of: SINGLE - One amphora per load balancer. "
        "ACTIVE_STANDBY - Two amphora per load balancer.",
        choices=(Topology.ACTIVE_STANDBY, Topology.SINGLE),
    ),
    Capability("compute_flavor", "string", "The compute driver flavor ID."),
    Capability("amp_image_tag", "string", "The amphora image tag."),
    Capability(
        "sriov_vip",
        "boolean",
        "When true, the VIP port will be created using an SR-IOV VF port.",
    ),
    Capability(
        "allow_member_sriov",
        "boolean",
        "When true, users can request a member port be SR-IOV enabled at member creation time.",
    ),
)


AZ_CAPABILITIES = (
    Capability("compute_zone", "string", "The compute availability zone."),
    Capability("volume_zone", "string", "The volume availability zone."),
    Capability("management_network", "string", "The management network ID for the amphora."),
    Capability(
        "valid_vip_networks",
        "array",
        "List of network IDs that are allowed for VIP use. This overrides/replaces the "
        "list of allowed networks configured in `octavia.conf`.",
    ),
)

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "array": (list,),
}


def check_profile_data(data: dict[str, Any], capabilities: tuple[Capability, ...]) -> None:
    """Refuse what the amphora driver does not support, as Octavia does: it validates
    profile data against a JSON schema without additional properties and answers 501
    `Provider 'amphora' does not support a requested option: <the schema's message>`
    (unknown keys first, then each key's type and choices)."""
    known = {c.name: c for c in capabilities}
    extras = sorted(k for k in data if k not in known)
    if extras:
        verb = "was" if len(extras) == 1 else "were"
        _unsupported(
            f"Additional properties are not allowed ({', '.join(map(repr, extras))} {verb} "
            "unexpected)"
        )
    for cap in capabilities:
        if cap.name not in data:
            continue
        value = data[cap.name]
        wanted = _JSON_TYPES[cap.json_type]
        # JSON booleans are not numbers, and Python's bool is an int: compare exactly.
        if type(value) not in wanted:
            _unsupported(f"{cap.name} {value!r} is not of type {cap.json_type!r}")
        if cap.choices and value not in cap.choices:
            _unsupported(f"{cap.name} {value!r} is not one of {[str(c) for c in cap.choices]!r}")


def _unsupported(message: str) -> NoReturn:
    raise NotImplementedByProvider(
        f"Provider 'amphora' does not support a requested option: {message}"
    )


def providers(ctx: RequestContext) -> list[dict[str, str]]:
    authorize(ctx, "read", ctx.project_id)
    return [{"name": n, "description": d} for n, d in PROVIDERS.items()]


def capabilities(
    ctx: RequestContext, provider: str, kind: str, items: list[tuple[str, str]]
) -> list[dict[str, str]]:
    authorize(ctx, "admin")
    if provider not in PROVIDERS:
        raise BadRequest(f"Provider '{provider}' is not enabled.")
    source = FLAVOR_CAPABILITIES if kind == "flavor" else AZ_CAPABILITIES
    out = [{"name": c.name, "description": c.description} for c in source]
    fields: list[str] = []
    for k, v in items:
        if k == "fields":
            fields.extend(x for x in v.split(",") if x)
        elif k in ("name", "description"):
            out = [c for c in out if c[k] == v]
        else:
            raise BadRequest("One or more arguments are either duplicate or invalid")
    return [select_fields(c, fields) for c in out]


def check_provider(name: str) -> None:
    if name not in PROVIDERS:
        raise BadRequest(f"Provider '{name}' is not enabled.")
