"""The version documents and the service catalog of the built-in Keystone.

Identity is served on the API port under `/v3` (not on a port of its own): clients are
given an auth URL ending in `/v3`, which keystoneauth discovers with `GET /v3` and
gophercloud uses as is, without any discovery; `GET /` stays Octavia's version list,
which openstacksdk and cloud-provider-openstack read. One port keeps one bind, one TLS
set-up and one firewall rule for the whole of ostium.

Every service is at the API's base URL (unversioned, as the clients expect: they
append `/v2.0` or `/v1`), identity at `<base>/v3`; each in the public, internal and
admin interfaces of the one region. Ids are derived from the type and interface, so
they stay the same across restarts and api processes.
"""

from __future__ import annotations

import uuid
from typing import Any

from ostium.control.settings_keystone import IdentitySettings

VERSION_ID = "v3.14"
VERSION_UPDATED = "2020-04-07T00:00:00Z"
INTERFACES = ("public", "internal", "admin")
_IDS = uuid.UUID("4d9c1f0e-7a51-4c3b-9e0d-2b6f8a1c5e77")

SERVICES = (
    ("identity", "keystone"),
    ("load-balancer", "octavia"),
    ("network", "neutron"),
    ("key-manager", "barbican"),
)


def version(base: str) -> dict[str, Any]:
    return {
        "id": VERSION_ID,
        "status": "stable",
        "updated": VERSION_UPDATED,
        "links": [{"rel": "self", "href": f"{base}/v3/"}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
        ],
    }


def _id(*parts: str) -> str:
    return uuid.uuid5(_IDS, "/".join(parts)).hex


def catalog(base: str, settings: IdentitySettings) -> list[dict[str, Any]]:
    base = (settings.public_endpoint or base).rstrip("/")
    region = settings.region_name
    services = []
    for kind, name in SERVICES:
        if kind == "key-manager" and not settings.key_manager_in_catalog:
            continue
        url = {"identity": f"{base}/v3", "key-manager": f"{base}/key-manager"}.get(kind, base)
        services.append(
            {
                "id": _id(kind),
                "type": kind,
                "name": name,
                "endpoints": [
                    {
                        "id": _id(kind, interface),
                        "interface": interface,
                        "region_id": region,
                        "region": region,
                        "url": url,
                    }
                    for interface in INTERFACES
                ],
            }
        )
    return services
