"""UDP and SCTP through the API: what is accepted, what is refused and with which words
(spec 2.2, 2.3, 2.5, 2.15), and the spec the agent gets for them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ostium.control.db import models as m
from ostium.control.worker import spec_builder
from ostium.model.spec import AmphoraSpec
from tests.api.conftest import Api


def _udp(api: Api, proto: str = "UDP", port: int = 53, **pool: Any) -> dict[str, Any]:
    lb = api.lb()
    li = api.child(
        "/v2/lbaas/listeners",
        "listener",
        {"loadbalancer_id": lb["id"], "protocol": proto, "protocol_port": port},
    )
    body = {"listener_id": li["id"], "protocol": proto, "lb_algorithm": "ROUND_ROBIN", **pool}
    p = api.child("/v2/lbaas/pools", "pool", body)
    return {"lb": lb, "listener": li, "pool": p}


def _spec(api: Api, lb_id: str) -> AmphoraSpec:
    with api.db.read() as session:
        row = session.get(m.LoadBalancer, lb_id)
        assert row is not None
        return spec_builder.build(api.settings, row, row.amphorae[0].id, row.generation, {})


def _fault(r: Any) -> str:
    return str(r.json()["faultstring"])


@pytest.mark.parametrize("proto", ["UDP", "SCTP"])
def test_udp_and_sctp_listeners_pools_and_monitors_are_accepted(api: Api, proto: str) -> None:
    s = _udp(api, proto)
    assert s["listener"]["protocol"] == proto
    assert s["pool"]["protocol"] == proto
    hm_type = "UDP-CONNECT" if proto == "UDP" else "SCTP"
    hm = api.child(
        "/v2/lbaas/healthmonitors",
        "healthmonitor",
        {"pool_id": s["pool"]["id"], "type": hm_type, "delay": 3, "timeout": 1, "max_retries": 2},
    )
    assert hm["type"] == hm_type and hm["http_method"] is None
    mem = api.child(
        f"/v2/lbaas/pools/{s['pool']['id']}/members",
        "member",
        {"address": "198.18.5.7", "protocol_port": 5353, "weight": 3, "monitor_port": 5354},
    )
    assert mem["weight"] == 3
    assert api.lb_status(s["lb"]["id"]) == "ACTIVE"


def test_a_udp_listener_shares_a_port_number_with_a_tcp_one(api: Api) -> None:
    lb = api.lb()
    for proto in ("TCP", "UDP", "SCTP"):
        api.child(
            "/v2/lbaas/listeners",
            "listener",
            {"loadbalancer_id": lb["id"], "protocol": proto, "protocol_port": 80},
        )
    r = api.post(
        "/v2/lbaas/listeners",
        {"listener": {"loadbalancer_id": lb["id"], "protocol": "UDP", "protocol_port": 80}},
    )
    assert r.status_code == 409
    assert _fault(r) == (
        "Another Listener on this Load Balancer is already using protocol UDP and protocol_port 80"
    )


@pytest.mark.parametrize("alg", ["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"])
def test_udp_pools_take_every_amphora_algorithm(api: Api, alg: str) -> None:
    lb = api.lb()
    p = api.child(
        "/v2/lbaas/pools",
        "pool",
        {"loadbalancer_id": lb["id"], "protocol": "UDP", "lb_algorithm": alg},
    )
    assert p["lb_algorithm"] == alg


def test_source_ip_persistence_with_timeout_and_granularity(api: Api) -> None:
    sp = {
        "type": "SOURCE_IP",
        "persistence_timeout": 60,
        "persistence_granularity": "255.255.255.0",
    }
    s = _udp(api, session_persistence=sp)
    assert s["pool"]["session_persistence"] == {**sp, "cookie_name": None}
    spec = _spec(api, s["lb"]["id"])
    persistence = spec.pools[0].session_persistence
    assert persistence is not None and persistence.persistence_timeout == 60
    assert str(persistence.persistence_granularity) == "255.255.255.0"
    r = api.put(
        f"/v2/lbaas/pools/{s['pool']['id']}",
        {"pool": {"session_persistence": {"persistence_timeout": 30}}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["pool"]["session_persistence"]["type"] == "SOURCE_IP"


def test_what_udp_pools_refuse(api: Api) -> None:
    lb = api.lb()
    base = {"loadbalancer_id": lb["id"], "protocol": "UDP", "lb_algorithm": "ROUND_ROBIN"}
    cases = [
        (
            {"type": "HTTP_COOKIE"},
            "Validation failure: Session persistence of type HTTP_COOKIE is not supported "
            "for UDP/SCTP protocol pools.",
        ),
        (
            {"type": "APP_COOKIE", "cookie_name": "c"},
            "Validation failure: Cookie names are not supported for UDP/SCTP pools.",
        ),
        (
            {"type": "SOURCE_IP", "cookie_name": "c"},
            "Validation failure: session_persistence SOURCE_IP type for UDP and SCTP "
            "protocols only accepts: type, persistence_timeout, persistence_granularity.",
        ),
        ({"type": "SOURCE_IP", "persistence_granularity": "255.255.255.x"}, "IPv4 or IPv6"),
        ({"type": "SOURCE_IP", "persistence_timeout": -1}, "persistence_timeout"),
    ]
    for sp, message in cases:
        r = api.post("/v2/lbaas/pools", {"pool": {**base, "session_persistence": sp}})
        assert r.status_code == 400, (sp, r.text)
        assert message in _fault(r), (sp, r.text)
    r = api.post(
        "/v2/lbaas/pools",
        {
            "pool": {
                **base,
                "protocol": "TCP",
                "session_persistence": {"type": "SOURCE_IP", "persistence_timeout": 3},
            }
        },
    )
    assert r.status_code == 400
    assert "only for UDP/SCTP protocol pools" in _fault(r)
    assert api.lb_status(lb["id"]) == "ACTIVE"


def test_protocol_compatibility_between_listeners_and_pools(api: Api) -> None:
    s = _udp(api)
    lb = s["lb"]["id"]
    r = api.post(
        "/v2/lbaas/pools",
        {
            "pool": {
                "listener_id": s["listener"]["id"],
                "protocol": "TCP",
                "lb_algorithm": "ROUND_ROBIN",
            }
        },
    )
    assert r.status_code == 400
    assert _fault(r) == (
        "Validation failure: The pool protocol 'TCP' is invalid while the listener "
        "protocol is 'UDP'."
    )
    tcp = api.child(
        "/v2/lbaas/listeners",
        "listener",
        {"loadbalancer_id": lb, "protocol": "TCP", "protocol_port": 81},
    )
    r = api.put(
        f"/v2/lbaas/listeners/{tcp['id']}", {"listener": {"default_pool_id": s["pool"]["id"]}}
    )
    assert (
        r.status_code == 400
        and "'UDP' is invalid while the listener protocol is 'TCP'" in _fault(r)
    )


def test_udp_listeners_take_no_tls_and_no_headers(api: Api) -> None:
    lb = api.lb()
    base = {"loadbalancer_id": lb["id"], "protocol": "UDP", "protocol_port": 53}
    for extra in (
        {"insert_headers": {"X-Forwarded-For": "true"}},
        {"default_tls_container_ref": "http://barbican/v1/secrets/x"},
        {"tls_versions": ["TLSv1.2"]},
    ):
        r = api.post("/v2/lbaas/listeners", {"listener": {**base, **extra}})
        assert r.status_code == 400, (extra, r.text)
        assert _fault(r) == (
            "Validation failure: UDP protocol listener does not support TLS or header insertion."
        )
    li = api.child(
        "/v2/lbaas/listeners",
        "listener",
        {**base, "allowed_cidrs": ["198.18.9.0/24"], "connection_limit": 100},
    )
    assert li["allowed_cidrs"] == ["198.18.9.0/24"] and li["connection_limit"] == 100


def test_monitor_types_on_udp_and_sctp_pools(api: Api) -> None:
    udp = _udp(api)["pool"]["id"]
    base = {"pool_id": udp, "delay": 5, "timeout": 3, "max_retries": 3}
    for htype in ("HTTPS", "PING", "TLS-HELLO"):
        r = api.post("/v2/lbaas/healthmonitors", {"healthmonitor": {**base, "type": htype}})
        assert r.status_code == 400, htype
        assert _fault(r) == (
            "Validation failure: The associated pool protocol is UDP, so only a "
            "UDP-CONNECT/SCTP/TCP/HTTP health monitor is supported."
        )
    r = api.post(
        "/v2/lbaas/healthmonitors", {"healthmonitor": {**base, "type": "UDP-CONNECT", "delay": 2}}
    )
    assert r.status_code == 400
    assert _fault(r) == (
        "Validation failure: The request delay value 2 should be larger than 3 for "
        "UDP-CONNECT health monitor type."
    )
    for htype in ("TCP", "HTTP", "SCTP"):
        r = api.post("/v2/lbaas/healthmonitors", {"healthmonitor": {**base, "type": htype}})
        assert r.status_code == 201, (htype, r.text)
        api.settle()
        assert (
            api.delete(f"/v2/lbaas/healthmonitors/{r.json()['healthmonitor']['id']}").status_code
            == 204
        )
        api.settle()
    hm = api.child("/v2/lbaas/healthmonitors", "healthmonitor", {**base, "type": "UDP-CONNECT"})
    r = api.put(f"/v2/lbaas/healthmonitors/{hm['id']}", {"healthmonitor": {"delay": 1}})
    assert r.status_code == 400 and "should be larger than 3" in _fault(r)
    tcp_pool = api.stack()["pool"]["id"]
    r = api.post(
        "/v2/lbaas/healthmonitors",
        {"healthmonitor": {**base, "pool_id": tcp_pool, "type": "SCTP"}},
    )
    assert r.status_code == 400
    assert "The SCTP type is only supported for pools of type UDP/SCTP." in _fault(r)


def test_a_udp_load_balancer_in_one_call(api: Api) -> None:
    body = {
        "vip_subnet_id": api.subnet_id,
        "listeners": [
            {
                "protocol": "UDP",
                "protocol_port": 514,
                "default_pool": {
                    "name": "syslog",
                    "protocol": "UDP",
                    "lb_algorithm": "SOURCE_IP",
                    "session_persistence": {"type": "SOURCE_IP", "persistence_timeout": 10},
                    "healthmonitor": {
                        "type": "UDP-CONNECT",
                        "delay": 3,
                        "timeout": 1,
                        "max_retries": 1,
                    },
                    "members": [{"address": "198.18.5.9", "protocol_port": 514}],
                },
            }
        ],
    }
    r = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": body})
    assert r.status_code == 201, r.text
    api.settle()
    assert api.lb_status(r.json()["loadbalancer"]["id"]) == "ACTIVE"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    granularity=st.text(max_size=40),
    timeout=st.integers(min_value=-(2**40), max_value=2**40),
)
def test_hostile_persistence_values_are_a_clean_400_or_a_valid_spec(
    api: Api, granularity: str, timeout: int
) -> None:
    lb = api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"]
    lb_id = lb[0]["id"] if lb else api.lb()["id"]
    sp = {
        "type": "SOURCE_IP",
        "persistence_timeout": timeout,
        "persistence_granularity": granularity,
    }
    r = api.post(
        "/v2/lbaas/pools",
        {
            "pool": {
                "loadbalancer_id": lb_id,
                "protocol": "UDP",
                "lb_algorithm": "SOURCE_IP",
                "session_persistence": sp,
            }
        },
    )
    assert r.status_code in (201, 400), r.text
    if r.status_code == 201:
        api.settle()
        _spec(api, lb_id)  # the spec validates: an address and a bounded int
        assert api.lb_status(lb_id) == "ACTIVE"
