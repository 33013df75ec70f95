"""The worker's tree load (`tree.load_tree`) gives the same objects, in the same order,
as the ORM relations do, and only the asked load balancer's: it fills the relations
itself from one query per table, so a wrong join or filter would show here."""

from __future__ import annotations

from typing import Any

from ostium.control.db import models as m
from ostium.control.worker.tree import load_tree
from tests.api.conftest import Api


def _graph(api: Api, name: str) -> str:
    def policy(pool: str, value: str, position: int) -> dict[str, Any]:
        rule = {"type": "PATH", "compare_type": "STARTS_WITH", "value": value}
        return {
            "action": "REDIRECT_TO_POOL",
            "redirect_pool": {"name": pool},
            "position": position,
            "rules": [rule, {**rule, "value": value + "/x"}],
        }

    members = [{"address": f"198.18.1.{i}", "protocol_port": 8080} for i in (12, 10, 11)]
    hm = {"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 2}
    rr = {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
    body = {
        "loadbalancer": {
            "vip_subnet_id": api.subnet_id,
            "name": name,
            "listeners": [
                {
                    "protocol": "HTTP",
                    "protocol_port": 80,
                    "default_pool": {"name": "p1"},
                    "l7policies": [policy("p2", "/b", 1), policy("p3", "/a", 2)],
                },
                {"protocol": "HTTP", "protocol_port": 81, "l7policies": [policy("p3", "/c", 1)]},
            ],
            "pools": [
                {
                    **rr,
                    "name": "p1",
                    "members": members,
                },
                {
                    **rr,
                    "name": "p2",
                    "healthmonitor": hm,
                },
                {
                    **rr,
                    "name": "p3",
                    "members": members,
                },
            ],
        }
    }
    r = api.post("/v2/lbaas/loadbalancers", body)
    assert r.status_code == 201, r.text
    return str(r.json()["loadbalancer"]["id"])


def _shape(lb: m.LoadBalancer) -> Any:
    return (
        lb.id,
        [
            (li.id, [(p.id, p.position, [r.id for r in p.rules]) for p in li.l7policies])
            for li in lb.listeners
        ],
        [
            (p.id, [mb.id for mb in p.members], p.health_monitor and p.health_monitor.id)
            for p in lb.pools
        ],
    )


def test_the_tree_load_matches_the_relations_and_holds_one_load_balancer(api: Api) -> None:
    first, second = _graph(api, "one"), _graph(api, "two")
    api.settle()
    for lb_id in (first, second):
        with api.db.read() as session:
            loaded = _shape(load_tree(session, lb_id))
        with api.db.read() as session:
            lazy = session.get(m.LoadBalancer, lb_id)
            assert lazy is not None
            expected = _shape(lazy)
        assert loaded == expected
        listeners, pools = loaded[1], loaded[2]
        assert len(listeners) == 2 and [len(p) for _, p in listeners] == [2, 1]
        assert all(len(rules) == 2 for _, pols in listeners for _, _, rules in pols)
        assert [len(members) for _, members, _ in pools] == [3, 0, 3]
        assert [hm is not None for _, _, hm in pools] == [False, True, False]
