"""Per-object series in `/metrics`, read with prometheus_client's own parser: traffic per
load balancer and listener, statuses per load balancer, listener, pool and member, the
members' health check verdicts; deleted objects disappear from the next scrape."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import Api
from tests.api.test_health import make_stack


def _scrape(api: Api) -> dict[str, list[Any]]:
    r = api.get("/metrics")
    assert r.status_code == 200
    out: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def _value(samples: dict[str, list[Any]], name: str, **labels: str) -> float:
    found = [s.value for s in samples.get(name, []) if labels.items() <= s.labels.items()]
    assert len(found) == 1, (name, labels, samples.get(name))
    return float(found[0])


def test_traffic_and_health_per_object(api: Api) -> None:
    stack = make_stack(api)
    r = api.put(f"/v2/lbaas/loadbalancers/{stack.lb}", {"loadbalancer": {"name": 'we"b\\front'}})
    assert r.status_code == 200, r.text
    api.settle()
    stack.send(
        stack.heartbeat(
            {0: "UP", 1: "DOWN"},
            total_connections=10,
            bytes_in=1000,
            bytes_out=5000,
            active_connections=3,
            request_errors=2,
        )
    )
    m = _scrape(api)
    lb = {"loadbalancer_id": stack.lb}
    assert _value(m, "ostium_loadbalancer_connections_total", **lb) == 10
    assert _value(m, "ostium_loadbalancer_bytes_in_total", **lb) == 1000
    assert _value(m, "ostium_loadbalancer_bytes_out_total", **lb) == 5000
    assert _value(m, "ostium_loadbalancer_active_connections", **lb) == 3
    assert _value(m, "ostium_loadbalancer_request_errors_total", **lb) == 2
    li = {"listener_id": stack.listener, "loadbalancer_id": stack.lb}
    assert _value(m, "ostium_listener_connections_total", **li) == 10
    assert _value(m, "ostium_loadbalancer_operating_status", **lb, status="DEGRADED") == 1
    (name,) = {s.labels["loadbalancer_name"] for s in m["ostium_loadbalancer_operating_status"]}
    assert name == 'we"b\\front'  # escaped in the text, read back whole
    assert _value(m, "ostium_pool_operating_status", pool_id=stack.pool, status="DEGRADED") == 1
    up, down = stack.members
    assert _value(m, "ostium_member_health_up", member_id=up) == 1
    assert _value(m, "ostium_member_health_up", member_id=down) == 0
    assert _value(m, "ostium_member_operating_status", member_id=down, status="ERROR") == 1

    # a deleted member, then a deleted load balancer, leave no series behind
    api.delete(f"/v2/lbaas/pools/{stack.pool}/members/{down}")
    api.settle()
    m = _scrape(api)
    assert not [s for s in m["ostium_member_health_up"] if s.labels["member_id"] == down]
    assert api.delete(f"/v2/lbaas/loadbalancers/{stack.lb}?cascade=true").status_code == 204
    api.settle()
    m = _scrape(api)
    left = [
        s for series in m.values() for s in series if s.labels.get("loadbalancer_id") == stack.lb
    ]
    assert left == []
