"""The log lines a person reads: one INFO line per create, update and delete naming the
object by name and short id, one per reconcile with its duration and outcome, health
changes by name; never a request's secret."""

from __future__ import annotations

import logging

import pytest

from tests.api.conftest import Api


def _lines(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == logger and r.levelno == logging.INFO
    ]


def test_changes_and_reconciles_are_logged_by_name(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    lb = api.lb(name="shop")
    short = lb["id"][:8]
    assert f"created load balancer shop ({short}): PENDING_CREATE" in _lines(
        caplog, "ostium.changes"
    )
    reconciles = _lines(caplog, "ostium.worker")
    assert any(
        line.startswith(f"load balancer shop ({short}): reconcile done in ")
        and " ms, now ACTIVE: " in line
        for line in reconciles
    ), reconciles

    li = api.child(
        "/v2/lbaas/listeners",
        "listener",
        {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80, "name": "web"},
    )
    assert (
        f"created listener web ({li['id'][:8]}) on load balancer {short}: PENDING_CREATE"
        in _lines(caplog, "ostium.changes")
    )
    api.put(f"/v2/lbaas/listeners/{li['id']}", {"listener": {"name": "www"}})
    assert (
        f"updated listener www ({li['id'][:8]}) on load balancer {short}: PENDING_UPDATE"
        in _lines(caplog, "ostium.changes")
    )
    api.settle()
    assert api.delete(f"/v2/lbaas/listeners/{li['id']}").status_code == 204
    assert (
        f"deleting listener www ({li['id'][:8]}) on load balancer {short}: deletion requested"
        in _lines(caplog, "ostium.changes")
    )

    # a refused request is its 4xx, not a change line
    before = len(_lines(caplog, "ostium.changes"))
    api.post(
        "/v2/lbaas/listeners",
        {"listener": {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 0}},
    )
    assert len(_lines(caplog, "ostium.changes")) == before


def test_health_changes_name_the_object(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    from tests.api.test_health import make_stack

    stack = make_stack(api)
    api.put(f"/v2/lbaas/pools/{stack.pool}/members/{stack.members[1]}", {"member": {"name": "db2"}})
    api.settle()
    caplog.set_level(logging.INFO)
    stack.send(stack.heartbeat({0: "UP", 1: "DOWN"}))
    lines = _lines(caplog, "ostium.health")
    member = [line for line in lines if line.startswith("health: member now ")]
    assert f"db2 ({stack.members[1][:8]}) ERROR" in member[0], lines
    assert any(line.startswith("health: load balancer now lb (") for line in lines), lines
