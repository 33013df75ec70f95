"""Provider drivers and what their flavors and availability zones may set."""

from __future__ import annotations

from ostium.control.identity.context import RequestContext
from ostium.control.identity.policy import authorize
from ostium.control.services.listing import select_fields
from ostium.model.errors import BadRequest

PROVIDERS = {
    "amphora": "ostium amphora driver: HAProxy in Linux network namespaces.",
    "octavia": "Deprecated alias of the amphora driver.",
}


FLAVOR_CAPABILITIES = [
    (
        "loadbalancer_topology",
        "The load balancer topology. One of: SINGLE - One amphora per "
        "load balancer. ACTIVE_STANDBY - Two amphora per load balancer (not yet supported).",
    ),
    ("compute_flavor", "The compute driver flavor ID (ignored by the netns driver)."),
    ("amp_image_tag", "The amphora image tag (ignored by the netns driver)."),
    (
        "sriov_vip",
        "When true, the VIP port will be created using an SR-IOV VF port (not supported).",
    ),
    ("allow_member_sriov", "When true, users can request SR-IOV member ports (not supported)."),
]


AZ_CAPABILITIES = [
    ("compute_zone", "The compute availability zone."),
    ("volume_zone", "The volume availability zone."),
    ("management_network", "The management network ID for the amphora."),
    ("valid_vip_networks", "List of network IDs that are allowed for VIP use."),
]


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
    out = [{"name": n, "description": d} for n, d in source]
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
