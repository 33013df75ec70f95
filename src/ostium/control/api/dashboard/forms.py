"""The dashboard's forms: which fields each one has, how a submitted form becomes the
same body the API would receive, and where an error message belongs.

Role: the HTML counterpart of `api/body.py`. A form's values are turned into the
resource's wire model through `body.validate`, so a value the API would refuse is
refused here with the very same Octavia message; `field_of` puts that message next to
the field it names. Nothing here touches the database or decides a rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ostium.control.schemas import resources as s
from ostium.model.enums import HealthMonitorType, LbAlgorithm, ListenerProtocol, PoolProtocol

BOOL = ("true", "false")


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"
    """text | int | select | bool; select and bool show a drop-down."""
    choices: tuple[str, ...] = ()
    source: str = ""
    """Choices known only at render time: `subnets`, `listeners` or `pools`."""
    required: bool = False
    hint: str = ""


@dataclass(frozen=True)
class Form:
    kind: str
    title: str
    root: str
    model: type[BaseModel]
    fields: tuple[Field, ...]
    param: str | None = None


NAME = Field("name", "Name", hint="optional")
DESCRIPTION = Field("description", "Description", hint="optional")
ADMIN = Field("admin_state_up", "Admin state up", "bool", BOOL)

CREATE: dict[str, Form] = {
    "loadbalancer": Form(
        "loadbalancer",
        "New load balancer",
        "loadbalancer",
        s.LoadBalancerCreate,
        (
            NAME,
            DESCRIPTION,
            Field("vip_subnet_id", "VIP subnet", "select", source="subnets", required=True),
            Field("vip_address", "VIP address", hint="optional: taken from the subnet"),
        ),
        "load_balancer",
    ),
    "listener": Form(
        "listener",
        "New listener",
        "listener",
        s.ListenerCreate,
        (
            NAME,
            Field("protocol", "Protocol", "select", tuple(ListenerProtocol), required=True),
            Field("protocol_port", "Port", "int", required=True, hint="1-65535"),
            Field("default_pool_id", "Default pool", "select", source="pools"),
            Field("connection_limit", "Connection limit", "int", hint="-1: unlimited"),
        ),
    ),
    "pool": Form(
        "pool",
        "New pool",
        "pool",
        s.PoolCreate,
        (
            NAME,
            Field("protocol", "Protocol", "select", tuple(PoolProtocol), required=True),
            Field("lb_algorithm", "Algorithm", "select", tuple(LbAlgorithm), required=True),
            Field("listener_id", "Default pool of listener", "select", source="listeners"),
        ),
    ),
    "member": Form(
        "member",
        "New member",
        "member",
        s.MemberCreate,
        (
            Field("pool_id", "Pool", "select", source="pools", required=True),
            NAME,
            Field("address", "Address", required=True, hint="IPv4 or IPv6"),
            Field("protocol_port", "Port", "int", required=True, hint="1-65535"),
            Field("weight", "Weight", "int", hint="0-256, default 1"),
        ),
    ),
    "healthmonitor": Form(
        "healthmonitor",
        "New health monitor",
        "healthmonitor",
        s.HealthMonitorCreate,
        (
            Field("pool_id", "Pool", "select", source="pools", required=True),
            NAME,
            Field("type", "Type", "select", tuple(HealthMonitorType), required=True),
            Field("delay", "Delay (s)", "int", required=True),
            Field("timeout", "Timeout (s)", "int", required=True),
            Field("max_retries", "Max retries", "int", required=True, hint="1-10"),
            Field("url_path", "URL path", hint="HTTP(S) only, e.g. /"),
        ),
    ),
}

UPDATE: dict[str, Form] = {
    "loadbalancer": Form(
        "loadbalancer",
        "Edit load balancer",
        "loadbalancer",
        s.LoadBalancerUpdate,
        (NAME, DESCRIPTION, ADMIN),
        "load_balancer",
    ),
    "listener": Form(
        "listener",
        "Edit listener",
        "listener",
        s.ListenerUpdate,
        (NAME, Field("connection_limit", "Connection limit", "int"), ADMIN),
    ),
    "pool": Form(
        "pool",
        "Edit pool",
        "pool",
        s.PoolUpdate,
        (NAME, Field("lb_algorithm", "Algorithm", "select", tuple(LbAlgorithm)), ADMIN),
    ),
    "member": Form(
        "member",
        "Edit member",
        "member",
        s.MemberUpdate,
        (NAME, Field("weight", "Weight", "int"), ADMIN),
    ),
    "healthmonitor": Form(
        "healthmonitor",
        "Edit health monitor",
        "healthmonitor",
        s.HealthMonitorUpdate,
        (
            NAME,
            Field("delay", "Delay (s)", "int"),
            Field("timeout", "Timeout (s)", "int"),
            Field("max_retries", "Max retries", "int"),
            ADMIN,
        ),
    ),
}

_INT = re.compile(r"-?\d{1,18}")


def body_of(form: Form, values: dict[str, str]) -> dict[str, Any]:
    """The JSON body the API would get: empty fields left out (the API's defaults
    apply), integers and booleans converted when they look like one; anything else
    is passed as typed, so the API's own validation words the refusal."""
    body: dict[str, Any] = {}
    for f in form.fields:
        raw = values.get(f.name, "").strip()
        if raw == "":
            continue
        if f.kind == "int" and _INT.fullmatch(raw):
            body[f.name] = int(raw)
        elif f.kind == "bool" and raw in BOOL:
            body[f.name] = raw == "true"
        else:
            body[f.name] = raw
    return body


_FIELD = re.compile(r"(?:field/attribute|argument \w+(?:\.\w+)?:) ([A-Za-z_]+)")


def field_of(message: str, form: Form) -> str | None:
    """The form field an API message is about, if it names one the form has."""
    names = {f.name for f in form.fields}
    match = _FIELD.search(message)
    if match and match.group(1) in names:
        return match.group(1)
    for name in sorted(names, key=len, reverse=True):
        if re.search(rf"\b{re.escape(name)}\b", message):
            return name
    return None
