"""Behaviours where Octavia's own test suite and clients saw ostium differ from Octavia
(issue 9, track A), each as a client observes it, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from ostium.control.db import models as m
from ostium.control.db.migrate import upgrade
from ostium.drivers.compute.base import compute_uuid
from tests.api.conftest import Api
from tests.api.test_health import make_stack


def _parse(stamp: str | None) -> dt.datetime:
    assert stamp is not None
    return dt.datetime.fromisoformat(stamp)


def _graph(api: Api) -> dict[str, str]:
    """A load balancer with one object of each kind under it, all ACTIVE."""
    s = api.stack()
    lb, li, pool = s["lb"]["id"], s["listener"]["id"], s["pool"]["id"]
    member = api.child(
        f"/v2/lbaas/pools/{pool}/members", "member", {"address": "198.18.1.10", "protocol_port": 80}
    )
    hm = api.child(
        "/v2/lbaas/healthmonitors",
        "healthmonitor",
        {"pool_id": pool, "type": "TCP", "delay": 1, "timeout": 1, "max_retries": 1},
    )
    pol = api.child("/v2/lbaas/l7policies", "l7policy", {"listener_id": li, "action": "REJECT"})
    rule = api.child(
        f"/v2/lbaas/l7policies/{pol['id']}/rules",
        "rule",
        {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/x"},
    )
    return {
        f"/v2/lbaas/loadbalancers/{lb}": "loadbalancer",
        f"/v2/lbaas/listeners/{li}": "listener",
        f"/v2/lbaas/pools/{pool}": "pool",
        f"/v2/lbaas/pools/{pool}/members/{member['id']}": "member",
        f"/v2/lbaas/healthmonitors/{hm['id']}": "healthmonitor",
        f"/v2/lbaas/l7policies/{pol['id']}": "l7policy",
        f"/v2/lbaas/l7policies/{pol['id']}/rules/{rule['id']}": "rule",
    }


# ------------------------------------------------------------------ 1. updated_at


def test_updated_at_is_a_timestamp_once_objects_are_active(api: Api) -> None:
    r = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {"vip_subnet_id": api.subnet_id}})
    created = r.json()["loadbalancer"]
    assert created["provisioning_status"] == "PENDING_CREATE"
    assert created["updated_at"] is None  # as Octavia: never changed yet
    api.settle()
    for path, root in _graph(api).items():
        obj = api.get(path).json()[root]
        assert obj["provisioning_status"] == "ACTIVE", path
        assert _parse(obj["updated_at"]) >= _parse(obj["created_at"]), path


def test_health_manager_stamps_the_operating_statuses_it_changes(api: Api) -> None:
    stack = make_stack(api, members=1)
    stack.clock.now = m.utcnow() + dt.timedelta(days=1)
    stack.send(stack.heartbeat({0: "DOWN"}, backend="DOWN"))
    member = api.get(f"/v2/lbaas/pools/{stack.pool}/members/{stack.members[0]}").json()["member"]
    assert member["operating_status"] == "ERROR"
    assert _parse(member["updated_at"]) == stack.clock.now.replace(microsecond=0)
    pool = api.get(f"/v2/lbaas/pools/{stack.pool}").json()["pool"]
    assert pool["operating_status"] == "ERROR"
    assert _parse(pool["updated_at"]) == stack.clock.now.replace(microsecond=0)


# ------------------------------------------------------------------ 2. unserved pools


def test_a_pool_no_listener_serves_is_offline(api: Api) -> None:
    lb = api.lb()
    pool = api.child(
        "/v2/lbaas/pools",
        "pool",
        {"loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"},
    )

    def status() -> str:
        return str(api.get(f"/v2/lbaas/pools/{pool['id']}").json()["pool"]["operating_status"])

    assert status() == "OFFLINE"
    li = api.child(
        "/v2/lbaas/listeners",
        "listener",
        {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80},
    )
    assert status() == "OFFLINE"
    # Served through an enabled REDIRECT_TO_POOL policy with a rule: ONLINE.
    pol = api.child(
        "/v2/lbaas/l7policies",
        "l7policy",
        {"listener_id": li["id"], "action": "REDIRECT_TO_POOL", "redirect_pool_id": pool["id"]},
    )
    assert status() == "OFFLINE"  # a policy without rules never matches
    api.child(
        f"/v2/lbaas/l7policies/{pol['id']}/rules",
        "rule",
        {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/"},
    )
    assert status() == "ONLINE"
    api.delete(f"/v2/lbaas/l7policies/{pol['id']}")
    api.settle()
    assert status() == "OFFLINE"
    # As the listener's default pool: ONLINE.
    r = api.put(f"/v2/lbaas/listeners/{li['id']}", {"listener": {"default_pool_id": pool["id"]}})
    assert r.status_code == 200, r.text
    api.settle()
    assert status() == "ONLINE"


# ------------------------------------------------------------------ 3. catalogue order


def test_catalogues_list_by_id_and_zones_by_name(api: Api) -> None:
    fps = [
        api.child(
            "/v2/lbaas/flavorprofiles",
            "flavorprofile",
            {"name": f"fp{i}", "provider_name": "amphora", "flavor_data": "{}"},
        )["id"]
        for i in range(6)
    ]
    flavors = [
        api.child("/v2/lbaas/flavors", "flavor", {"name": f"f{i}", "flavor_profile_id": fps[0]})[
            "id"
        ]
        for i in range(6)
    ]
    azps = [
        api.child(
            "/v2/lbaas/availabilityzoneprofiles",
            "availability_zone_profile",
            {"name": f"azp{i}", "provider_name": "amphora", "availability_zone_data": "{}"},
        )["id"]
        for i in range(6)
    ]
    names = ["zeta", "alpha", "mu", "beta"]
    for name in names:
        api.child(
            "/v2/lbaas/availabilityzones",
            "availability_zone",
            {"name": name, "availability_zone_profile_id": azps[0]},
        )

    def listed(path: str, key: str, attr: str = "id") -> list[str]:
        return [x[attr] for x in api.get(path).json()[key]]

    assert listed("/v2/lbaas/flavorprofiles", "flavorprofiles") == sorted(fps)
    assert listed("/v2/lbaas/flavors", "flavors") == sorted(flavors)
    assert listed("/v2/lbaas/availabilityzoneprofiles", "availability_zone_profiles") == sorted(
        azps
    )
    assert listed("/v2/lbaas/availabilityzones", "availability_zones", "name") == sorted(names)
    # Pages follow the same order.
    page = api.get("/v2/lbaas/flavors?limit=2").json()
    assert [f["id"] for f in page["flavors"]] == sorted(flavors)[:2]


# ------------------------------------------------------------------ 4. catalogue deletes


def test_catalogues_can_be_deleted_once_their_load_balancers_are_gone(api: Api) -> None:
    fp = api.child(
        "/v2/lbaas/flavorprofiles",
        "flavorprofile",
        {"name": "fp", "provider_name": "amphora", "flavor_data": "{}"},
    )
    fl = api.child("/v2/lbaas/flavors", "flavor", {"name": "f", "flavor_profile_id": fp["id"]})
    azp = api.child(
        "/v2/lbaas/availabilityzoneprofiles",
        "availability_zone_profile",
        {"name": "azp", "provider_name": "amphora", "availability_zone_data": "{}"},
    )
    api.child(
        "/v2/lbaas/availabilityzones",
        "availability_zone",
        {"name": "az", "availability_zone_profile_id": azp["id"]},
    )
    lbs = [api.lb(flavor_id=fl["id"], availability_zone="az") for _ in range(2)]
    assert api.delete(f"/v2/lbaas/flavors/{fl['id']}").status_code == 409
    assert api.delete("/v2/lbaas/availabilityzones/az").status_code == 409
    for lb in lbs:
        assert api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 204
    api.settle()
    with api.db.read() as s:  # the rows housekeeping purges later are still there
        deleted = s.execute(text("SELECT count(*) FROM load_balancer")).scalar()
        stamps = sorted(s.execute(text("SELECT updated_at FROM load_balancer")).scalars())
    assert deleted == 2
    assert api.delete(f"/v2/lbaas/flavors/{fl['id']}").status_code == 204
    assert api.delete(f"/v2/lbaas/flavorprofiles/{fp['id']}").status_code == 204
    assert api.delete("/v2/lbaas/availabilityzones/az").status_code == 204
    assert api.delete(f"/v2/lbaas/availabilityzoneprofiles/{azp['id']}").status_code == 204
    with api.db.read() as s:  # letting go restarted no housekeeping clock
        rows = s.execute(text("SELECT flavor_id, availability_zone, updated_at FROM load_balancer"))
        after = sorted(rows.all(), key=lambda r: r[2])
    assert [(r[0], r[1]) for r in after] == [(None, None), (None, None)]
    assert [r[2] for r in after] == stamps


# ------------------------------------------------------------------ 5. quota reset twice


def test_a_quota_reset_can_be_repeated(api: Api) -> None:
    r = api.put("/v2/lbaas/quotas/p1", {"quota": {"load_balancer": 3}})
    assert r.status_code == 202
    assert api.delete("/v2/lbaas/quotas/p1").status_code == 202
    assert api.delete("/v2/lbaas/quotas/p1").status_code == 202
    assert api.get("/v2/lbaas/quotas/p1").json()["quota"]["loadbalancer"] == -1
    r = api.delete("/v2/lbaas/quotas/nobody")
    assert r.status_code == 404 and r.json()["faultstring"] == "Quotas nobody not found."


# ------------------------------------------------------------------ 6-7. amphorae


def test_amphora_ids_are_uuids_and_a_failed_over_one_stays_readable(api: Api) -> None:
    lb = api.lb()
    (amp,) = api.get(f"/v2/octavia/amphorae?loadbalancer_id={lb['id']}").json()["amphorae"]
    for field in ("id", "compute_id", "ha_port_id", "vrrp_port_id"):
        assert str(uuid.UUID(amp[field])) == amp[field], field
    assert amp["ha_port_id"] == lb["vip_port_id"]
    assert amp["compute_id"] == compute_uuid("noop", f"noop-{amp['id']}")
    assert amp == api.get(f"/v2/octavia/amphorae/{amp['id']}").json()["amphora"]
    found = api.get(f"/v2/octavia/amphorae?compute_id={amp['compute_id']}").json()["amphorae"]
    assert [a["id"] for a in found] == [amp["id"]]

    assert api.put(f"/v2/octavia/amphorae/{amp['id']}/failover").status_code == 202
    assert api.get(f"/v2/octavia/amphorae/{amp['id']}").json()["amphora"]["id"] == amp["id"]
    api.settle()
    old = api.get(f"/v2/octavia/amphorae/{amp['id']}")
    assert old.status_code == 200 and old.json()["amphora"]["status"] == "DELETED"
    (new,) = api.get(f"/v2/octavia/amphorae?loadbalancer_id={lb['id']}").json()["amphorae"]
    assert new["id"] != amp["id"] and new["vrrp_port_id"] != amp["vrrp_port_id"]
    all_ids = [a["id"] for a in api.get("/v2/octavia/amphorae").json()["amphorae"]]
    assert amp["id"] not in all_ids  # lists leave DELETED amphorae out
    for action in ("failover", "config"):
        assert api.put(f"/v2/octavia/amphorae/{amp['id']}/{action}").status_code == 404
    assert api.delete(f"/v2/octavia/amphorae/{amp['id']}").status_code == 404


def test_the_migration_turns_recorded_handles_into_compute_uuids(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    upgrade(url, "0003")
    engine = create_engine(url)
    with engine.begin() as conn:
        for amp_id, compute_id, host in (
            ("a1", "ostt0123456789ab", "https://10.0.0.1:9443"),
            ("a2", "noop-a2", "noop"),
            ("a3", str(uuid.UUID(int=7)), "h"),
            ("a4", None, None),
        ):
            conn.execute(
                text(
                    "INSERT INTO amphora (id, compute_id, host, status, cert_busy, "
                    "applied_generation, created_at) VALUES "
                    "(:id, :c, :h, 'ALLOCATED', false, 0, '2026-01-01 00:00:00')"
                ),
                {"id": amp_id, "c": compute_id, "h": host},
            )
    upgrade(url)
    with engine.connect() as conn:
        got = dict(conn.execute(text("SELECT id, compute_id FROM amphora")).all())
    engine.dispose()
    assert got == {
        "a1": compute_uuid("https://10.0.0.1:9443", "ostt0123456789ab"),
        "a2": compute_uuid("noop", "noop-a2"),
        "a3": str(uuid.UUID(int=7)),
        "a4": None,
    }


# ------------------------------------------------------------------ 8. capabilities


def test_capability_descriptions_are_octavias(api: Api) -> None:
    flavor = api.get("/v2/lbaas/providers/amphora/flavor_capabilities").json()
    assert flavor["flavor_capabilities"] == [
        {
            "name": "loadbalancer_topology",
            "description": "The load balancer topology. One of: SINGLE - One amphora per load "
            "balancer. ACTIVE_STANDBY - Two amphora per load balancer.",
        },
        {"name": "compute_flavor", "description": "The compute driver flavor ID."},
        {"name": "amp_image_tag", "description": "The amphora image tag."},
        {
            "name": "sriov_vip",
            "description": "When true, the VIP port will be created using an SR-IOV VF port.",
        },
        {
            "name": "allow_member_sriov",
            "description": "When true, users can request a member port be SR-IOV enabled at "
            "member creation time.",
        },
    ]
    az = api.get("/v2/lbaas/providers/amphora/availability_zone_capabilities").json()
    assert az["availability_zone_capabilities"] == [
        {"name": "compute_zone", "description": "The compute availability zone."},
        {"name": "volume_zone", "description": "The volume availability zone."},
        {
            "name": "management_network",
            "description": "The management network ID for the amphora.",
        },
        {
            "name": "valid_vip_networks",
            "description": "List of network IDs that are allowed for VIP use. This "
            "overrides/replaces the list of allowed networks configured in `octavia.conf`.",
        },
    ]


# ------------------------------------------------------------------ 9. HM body first


def test_an_invalid_monitor_body_is_400_before_the_pool_conflict(api: Api) -> None:
    pool = api.stack()["pool"]["id"]
    hm = {"pool_id": pool, "type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1}
    api.child("/v2/lbaas/healthmonitors", "healthmonitor", hm)
    r = api.post("/v2/lbaas/healthmonitors", {"healthmonitor": {**hm, "url_path": "no-slash"}})
    assert r.status_code == 400, r.text
    r = api.post("/v2/lbaas/healthmonitors", {"healthmonitor": {**hm, "type": "UDP-CONNECT"}})
    assert r.status_code == 400, r.text
    r = api.post("/v2/lbaas/healthmonitors", {"healthmonitor": hm})
    assert r.status_code == 409
    assert r.json()["faultstring"] == "This pool already has a health monitor"


# ------------------------------------------------------------------ 10. unknown routes


@pytest.mark.parametrize("accept", [None, "text/html", "application/xml;q=0.9"])
def test_unknown_routes_are_webob_404s_whatever_the_client_accepts(
    api: Api, accept: str | None
) -> None:
    headers = {"Accept": accept} if accept else {}
    for method, path in (
        ("GET", "/v2/lbaas/nothing"),
        ("POST", "/v2/lbaas/loadbalancers/x/nothing"),
        ("GET", "/nothing"),
    ):
        r = api.req(method, path, headers=headers)
        assert r.status_code == 404, (method, path)
        assert r.json() == {"code": 404, "title": "Not Found", "description": ""}
    r = api.req("PATCH", "/v2/lbaas/loadbalancers", headers=headers)
    assert r.status_code == 405 and r.json()["title"] == "Method Not Allowed"


# ------------------------------------------------------------------ 11. AZ profile data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"color": "red"}, "Additional properties are not allowed ('color' was unexpected)"),
        (
            {"compute_zone": "az", "b": 1, "a": 2},
            "Additional properties are not allowed ('a', 'b' were unexpected)",
        ),
        ({"compute_zone": 3}, "compute_zone 3 is not of type 'string'"),
        ({"valid_vip_networks": "net"}, "valid_vip_networks 'net' is not of type 'array'"),
    ],
)
def test_unknown_or_mistyped_zone_data_is_refused(
    api: Api, data: dict[str, Any], message: str
) -> None:
    body = {"name": "azp", "provider_name": "amphora", "availability_zone_data": json.dumps(data)}
    r = api.post("/v2/lbaas/availabilityzoneprofiles", {"availability_zone_profile": body})
    assert r.status_code == 501, r.text
    assert r.json()["faultstring"] == (
        f"Provider 'amphora' does not support a requested option: {message}"
    )
    ok = {**body, "availability_zone_data": json.dumps({"compute_zone": "az"})}
    azp = api.child("/v2/lbaas/availabilityzoneprofiles", "availability_zone_profile", ok)
    r = api.put(
        f"/v2/lbaas/availabilityzoneprofiles/{azp['id']}",
        {"availability_zone_profile": {"availability_zone_data": json.dumps(data)}},
    )
    assert r.status_code == 501


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"color": "red"}, "Additional properties are not allowed ('color' was unexpected)"),
        (
            {"loadbalancer_topology": "TRIPLE"},
            "loadbalancer_topology 'TRIPLE' is not one of ['ACTIVE_STANDBY', 'SINGLE']",
        ),
        ({"sriov_vip": "yes"}, "sriov_vip 'yes' is not of type 'boolean'"),
    ],
)
def test_flavor_data_is_refused_with_octavias_message(
    api: Api, data: dict[str, Any], message: str
) -> None:
    body = {"name": "fp", "provider_name": "amphora", "flavor_data": json.dumps(data)}
    r = api.post("/v2/lbaas/flavorprofiles", {"flavorprofile": body})
    assert r.status_code == 501, r.text
    assert r.json()["faultstring"] == (
        f"Provider 'amphora' does not support a requested option: {message}"
    )


# ------------------------------------------------------------------ 12. healthmonitor_id


def test_a_pool_without_a_monitor_has_no_healthmonitor_id(api: Api) -> None:
    s = api.stack()
    pool = s["pool"]
    assert "healthmonitor_id" not in pool
    assert "healthmonitor_id" not in api.get(f"/v2/lbaas/pools/{pool['id']}").json()["pool"]
    hm = api.child(
        "/v2/lbaas/healthmonitors",
        "healthmonitor",
        {"pool_id": pool["id"], "type": "TCP", "delay": 1, "timeout": 1, "max_retries": 1},
    )
    listed = api.get("/v2/lbaas/pools").json()["pools"]
    assert [p["healthmonitor_id"] for p in listed] == [hm["id"]]
