"""Property-based fuzzing of every POST/PUT body of the API (hypothesis), through the
in-process ASGI app on SQLite and on PostgreSQL: whatever the body, the answer is never
a 500 (501 is Octavia's answer for a provider option, so it is allowed), and every 4xx
and 5xx carries Octavia's fault body.

Bodies start from a valid one (with the ids of real objects) and get up to three fields
replaced by hostile values: huge and negative integers, floats, NaN and infinities,
control characters, long strings, nested lists and objects, nulls, wrong types, unknown
keys. Bounded: a fixed number of examples per endpoint, derandomized, so a run is
reproducible and takes seconds.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from ostium.control.schemas import admin as a
from ostium.control.schemas import resources as s
from tests.api.conftest import Api

EXAMPLES = 20
"""Examples per endpoint and database: ~30 endpoints, so ~400 requests per database."""

_SPECIAL_INTS = [0, -1, 1, 65535, 65536, 2**31 - 1, 2**31, -(2**31) - 1, 2**63, -(2**63) - 1]
_SPECIAL_STRINGS = [
    "",
    "\x00",
    "a\nb",
    "\r\n",
    "x" * 300,
    "é" * 100,
    "9" * 40,
    "true",
    "null",
    "HTTP",
    "ROUND_ROBIN",
    "/path",
    "http://example.com/x",
    "10.0.0.1",
    "::1",
    "0.0.0.0/0",
    str(uuid.uuid4()),
    "${jndi}",
    "' OR 1=1 --",
    "%00",
    "\ud7ff",
    "\ud800",  # a lone surrogate: valid JSON, not encodable as UTF-8
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(_SPECIAL_INTS),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(_SPECIAL_STRINGS),
    st.text(max_size=20),
)
NESTED = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
VALUES = st.one_of(SCALARS, NESTED)


SWEEP: list[Any] = [2**31, -(2**31) - 1, 2**63, 1e308, float("nan"), "\x00", "x" * 300]
"""Tried in every field of every body, on top of the random examples."""


def _send(api: Api, method: str, path: str, body: Any) -> None:
    raw = json.dumps(body)  # NaN and Infinity as Python's json writes them
    r = api.req(method, path, raw, headers={"Content-Type": "application/json"})
    assert r.status_code != 500, (method, path, raw, r.text)
    if r.status_code >= 400:
        fault = r.json()
        assert set(fault) == {"faultcode", "faultstring", "debuginfo"}, (raw, fault)
        assert isinstance(fault["faultstring"], str) and fault["faultstring"]
    elif r.status_code < 300:
        api.settle()  # unlock the load balancer for the next request


def _fields(model: type[BaseModel]) -> list[str]:
    return [*model.model_fields, "bogus_attribute"]


def _fuzz(
    api: Api, method: str, path: str, root: str, model: type[BaseModel], base: dict[str, Any]
) -> None:
    for field in model.model_fields:
        for value in SWEEP:
            _send(api, method, path, {root: {**base, field: value}})
    overrides = st.dictionaries(st.sampled_from(_fields(model)), VALUES, max_size=3)
    body = st.one_of(
        overrides.map(lambda o: {root: {**base, **o}}),
        VALUES,  # not even the root key
    )

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(body=body)
    def check(body: Any) -> None:
        _send(api, method, path, body)

    check()


def test_no_body_makes_the_api_answer_500(api: Api) -> None:
    stack = api.stack()
    lb, li, pool = stack["lb"], stack["listener"], stack["pool"]
    member = api.child(
        f"/v2/lbaas/pools/{pool['id']}/members",
        "member",
        {"address": "198.18.1.10", "protocol_port": 80},
    )
    hm = api.child(
        "/v2/lbaas/healthmonitors",
        "healthmonitor",
        {"pool_id": pool["id"], "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3},
    )
    pol = api.child(
        "/v2/lbaas/l7policies", "l7policy", {"listener_id": li["id"], "action": "REJECT"}
    )
    rule = api.child(
        f"/v2/lbaas/l7policies/{pol['id']}/rules",
        "rule",
        {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/a"},
    )
    fp_body = {
        "name": "fp",
        "provider_name": "amphora",
        "flavor_data": '{"loadbalancer_topology": "SINGLE"}',
    }
    fp = api.child("/v2/lbaas/flavorprofiles", "flavorprofile", fp_body)
    flavor = api.child("/v2/lbaas/flavors", "flavor", {"name": "f", "flavor_profile_id": fp["id"]})
    azp_body = {"name": "azp", "provider_name": "amphora", "availability_zone_data": "{}"}
    azp = api.child("/v2/lbaas/availabilityzoneprofiles", "availability_zone_profile", azp_body)
    az = api.child(
        "/v2/lbaas/availabilityzones",
        "availability_zone",
        {"name": "az", "availability_zone_profile_id": azp["id"]},
    )
    member_body = {"address": "198.18.1.11", "protocol_port": 8080}
    listener_body = {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 8080}
    pool_body = {"loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
    hm_body = {"pool_id": pool["id"], "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 3}
    policy_body = {"listener_id": li["id"], "action": "REJECT"}
    rule_body = {"type": "HOST_NAME", "compare_type": "EQUAL_TO", "value": "example.com"}
    lbs = "/v2/lbaas/loadbalancers"
    targets: list[tuple[str, str, str, type[BaseModel], dict[str, Any]]] = [
        ("POST", lbs, "loadbalancer", s.LoadBalancerCreate, {"vip_subnet_id": api.subnet_id}),
        ("PUT", f"{lbs}/{lb['id']}", "loadbalancer", s.LoadBalancerUpdate, {"name": "n"}),
        ("POST", "/v2/lbaas/listeners", "listener", s.ListenerCreate, listener_body),
        ("PUT", f"/v2/lbaas/listeners/{li['id']}", "listener", s.ListenerUpdate, {}),
        ("POST", "/v2/lbaas/pools", "pool", s.PoolCreate, pool_body),
        ("PUT", f"/v2/lbaas/pools/{pool['id']}", "pool", s.PoolUpdate, {}),
        ("POST", f"/v2/lbaas/pools/{pool['id']}/members", "member", s.MemberCreate, member_body),
        (
            "PUT",
            f"/v2/lbaas/pools/{pool['id']}/members/{member['id']}",
            "member",
            s.MemberUpdate,
            {"weight": 3},
        ),
        ("PUT", f"/v2/lbaas/pools/{pool['id']}/members", "members", s.MemberCreate, member_body),
        ("POST", "/v2/lbaas/healthmonitors", "healthmonitor", s.HealthMonitorCreate, hm_body),
        ("PUT", f"/v2/lbaas/healthmonitors/{hm['id']}", "healthmonitor", s.HealthMonitorUpdate, {}),
        ("POST", "/v2/lbaas/l7policies", "l7policy", s.L7PolicyCreate, policy_body),
        ("PUT", f"/v2/lbaas/l7policies/{pol['id']}", "l7policy", s.L7PolicyUpdate, {}),
        ("POST", f"/v2/lbaas/l7policies/{pol['id']}/rules", "rule", s.L7RuleCreate, rule_body),
        (
            "PUT",
            f"/v2/lbaas/l7policies/{pol['id']}/rules/{rule['id']}",
            "rule",
            s.L7RuleUpdate,
            {},
        ),
        ("PUT", "/v2/lbaas/quotas/p-fuzz", "quota", a.QuotaUpdate, {"listener": 5}),
        ("POST", "/v2/lbaas/flavorprofiles", "flavorprofile", a.FlavorProfileCreate, fp_body),
        ("PUT", f"/v2/lbaas/flavorprofiles/{fp['id']}", "flavorprofile", a.FlavorProfileUpdate, {}),
        (
            "POST",
            "/v2/lbaas/flavors",
            "flavor",
            a.FlavorCreate,
            {"name": "g", "flavor_profile_id": fp["id"]},
        ),
        ("PUT", f"/v2/lbaas/flavors/{flavor['id']}", "flavor", a.FlavorUpdate, {}),
        (
            "POST",
            "/v2/lbaas/availabilityzoneprofiles",
            "availability_zone_profile",
            a.AvailabilityZoneProfileCreate,
            azp_body,
        ),
        (
            "PUT",
            f"/v2/lbaas/availabilityzoneprofiles/{azp['id']}",
            "availability_zone_profile",
            a.AvailabilityZoneProfileUpdate,
            {},
        ),
        (
            "POST",
            "/v2/lbaas/availabilityzones",
            "availability_zone",
            a.AvailabilityZoneCreate,
            {"name": "az2", "availability_zone_profile_id": azp["id"]},
        ),
        (
            "PUT",
            f"/v2/lbaas/availabilityzones/{az['name']}",
            "availability_zone",
            a.AvailabilityZoneUpdate,
            {},
        ),
    ]
    for method, path, root, model, base in targets:
        if root == "members":  # the batch body is a list of members under "members"
            _fuzz_batch(api, path, base)
            continue
        _fuzz(api, method, path, root, model, base)


def _fuzz_batch(api: Api, path: str, member: dict[str, Any]) -> None:
    overrides = st.dictionaries(st.sampled_from(_fields(s.MemberCreate)), VALUES, max_size=3)
    members = st.lists(overrides.map(lambda o: {**member, **o}), max_size=3)

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None)
    @given(body=st.one_of(members.map(lambda ms: {"members": ms}), VALUES))
    def check(body: Any) -> None:
        _send(api, "PUT", path, body)

    for field in s.MemberCreate.model_fields:
        for value in SWEEP:
            _send(api, "PUT", path, {"members": [{**member, field: value}]})
    check()
