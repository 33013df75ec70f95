"""openstacksdk's load_balancer (and network lookup) proxies against `ostium serve`.

Connection as a user without Keystone would write it: `auth_type="none"` plus endpoint
overrides for the two services used (load-balancer; network for the subnet lookup). The
steps run in file order and share state.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from typing import Any

import openstack
import openstack.connection
import pytest
from openstack import exceptions as sdk_exc

from tests.clients.conftest import Ostium

# openstacksdk 4.x emits its own "removed in SDK 5/6" PendingDeprecationWarnings from
# inside the library on ordinary calls (InfluxDB notice on every connect although none
# is configured, `_compute_attributes` on every create): not about ostium.
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:openstack.*")


def connect(**kwargs: Any) -> openstack.connection.Connection:
    # Ignore any clouds.yaml / OS_* of the machine running the tests.
    return openstack.connect(load_yaml_config=False, load_envvars=False, **kwargs)


@pytest.fixture(scope="module")
def server(ostium_server: Callable[[str], Ostium]) -> Ostium:
    return ostium_server("noauth")


@pytest.fixture(scope="module")
def conn(server: Ostium) -> Iterator[openstack.connection.Connection]:
    c = connect(
        auth_type="none",
        load_balancer_endpoint_override=server.url,
        network_endpoint_override=server.url,
    )
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def st() -> dict[str, Any]:
    return {}


def wait(conn: openstack.connection.Connection, lb_id: str) -> Any:
    # `interval` is annotated int but the SDK sleeps float(interval).
    return conn.load_balancer.wait_for_load_balancer(lb_id, interval=0.1, wait=30)  # type: ignore[arg-type]


def test_network_lookup(conn: openstack.connection.Connection, st: dict[str, Any]) -> None:
    subnet = conn.network.find_subnet("vip-subnet")
    assert subnet is not None
    assert subnet.name == "vip-subnet"
    assert subnet.cidr == "198.18.0.0/17"
    network = conn.network.find_network("vip-net")
    assert network is not None and subnet.network_id == network.id
    assert conn.network.get_subnet(subnet.id).id == subnet.id
    st["subnet"] = subnet.id
    st["network"] = network.id


def test_create_load_balancer(conn: openstack.connection.Connection, st: dict[str, Any]) -> None:
    lbp = conn.load_balancer
    lb = lbp.create_load_balancer(name="sdk-lb", description="d", vip_subnet_id=st["subnet"])
    assert lb.provisioning_status == "PENDING_CREATE"
    assert lb.name == "sdk-lb" and lb.vip_subnet_id == st["subnet"]
    lb = wait(conn, lb.id)
    assert lb.provisioning_status == "ACTIVE"
    assert lb.operating_status == "ONLINE"
    assert lb.vip_network_id == st["network"]
    assert ipaddress.ip_address(lb.vip_address) in ipaddress.ip_network("198.18.0.0/17")
    assert lb.project_id == "admin"
    assert lb.is_admin_state_up is True
    st["lb"] = lb.id


def test_create_children(conn: openstack.connection.Connection, st: dict[str, Any]) -> None:
    lbp = conn.load_balancer
    ls = lbp.create_listener(
        name="l1", protocol="HTTP", protocol_port=80, load_balancer_id=st["lb"]
    )
    assert ls.provisioning_status == "PENDING_CREATE"
    wait(conn, st["lb"])
    st["listener"] = ls.id

    pool = lbp.create_pool(
        name="p1", protocol="HTTP", lb_algorithm="ROUND_ROBIN", listener_id=ls.id
    )
    wait(conn, st["lb"])
    st["pool"] = pool.id

    member = lbp.create_member(
        pool, address="198.18.0.20", protocol_port=8080, subnet_id=st["subnet"], weight=3
    )
    assert member.operating_status == "NO_MONITOR"
    wait(conn, st["lb"])
    st["member"] = member.id

    hm = lbp.create_health_monitor(
        pool_id=pool.id, type="HTTP", delay=5, timeout=3, max_retries=3, url_path="/healthz"
    )
    wait(conn, st["lb"])
    st["hm"] = hm.id

    pol = lbp.create_l7_policy(
        listener_id=ls.id, action="REDIRECT_TO_URL", redirect_url="http://example.com/"
    )
    wait(conn, st["lb"])
    st["policy"] = pol.id

    rule = lbp.create_l7_rule(pol, type="PATH", compare_type="STARTS_WITH", rule_value="/api")
    wait(conn, st["lb"])
    st["rule"] = rule.id


def test_get(conn: openstack.connection.Connection, st: dict[str, Any]) -> None:
    lbp = conn.load_balancer
    lb = lbp.get_load_balancer(st["lb"])
    assert lb.listeners == [{"id": st["listener"]}]
    assert lb.pools == [{"id": st["pool"]}]
    ls = lbp.get_listener(st["listener"])
    assert ls.provisioning_status == "ACTIVE"
    assert ls.default_pool_id == st["pool"]
    assert ls.load_balancers == [{"id": st["lb"]}]
    assert ls.protocol_port == 80
    pool = lbp.get_pool(st["pool"])
    assert pool.provisioning_status == "ACTIVE"
    assert pool.health_monitor_id == st["hm"]
    assert pool.members == [{"id": st["member"]}]
    member = lbp.get_member(st["member"], st["pool"])
    assert member.provisioning_status == "ACTIVE"
    assert (member.address, member.protocol_port, member.weight) == ("198.18.0.20", 8080, 3)
    assert member.subnet_id == st["subnet"]
    hm = lbp.get_health_monitor(st["hm"])
    assert hm.provisioning_status == "ACTIVE"
    assert hm.url_path == "/healthz" and hm.expected_codes == "200"
    assert hm.pools == [{"id": st["pool"]}]
    pol = lbp.get_l7_policy(st["policy"])
    assert pol.provisioning_status == "ACTIVE"
    assert pol.redirect_url == "http://example.com/"
    assert pol.rules == [{"id": st["rule"]}]
    rule = lbp.get_l7_rule(st["rule"], st["policy"])
    assert rule.provisioning_status == "ACTIVE"
    assert (rule.type, rule.compare_type, rule.rule_value) == ("PATH", "STARTS_WITH", "/api")

    stats = lbp.get_load_balancer_statistics(st["lb"])
    assert stats.total_connections == 0 and stats.bytes_in == 0
    assert lbp.get_listener_statistics(st["listener"]).active_connections == 0


def test_list_and_find(conn: openstack.connection.Connection, st: dict[str, Any]) -> None:
    lbp = conn.load_balancer
    assert [x.id for x in lbp.load_balancers(name="sdk-lb")] == [st["lb"]]
    assert [x.id for x in lbp.load_balancers(name="other")] == []
    assert [
        x.id for x in lbp.load_balancers(vip_subnet_id=st["subnet"], provisioning_status="ACTIVE")
    ] == [st["lb"]]
    assert [x.id for x in lbp.listeners(load_balancer_id=st["lb"])] == [st["listener"]]
    assert [x.id for x in lbp.listeners(protocol_port=80)] == [st["listener"]]
    assert [x.id for x in lbp.pools(loadbalancer_id=st["lb"])] == [st["pool"]]
    assert [x.id for x in lbp.members(st["pool"])] == [st["member"]]
    assert [x.id for x in lbp.members(st["pool"], address="198.18.0.20")] == [st["member"]]
    assert [x.id for x in lbp.health_monitors(pool_id=st["pool"])] == [st["hm"]]
    assert [x.id for x in lbp.l7_policies(listener_id=st["listener"])] == [st["policy"]]
    assert [x.id for x in lbp.l7_rules(st["policy"])] == [st["rule"]]
    found = (lbp.find_load_balancer("sdk-lb"), lbp.find_listener("l1"), lbp.find_pool("p1"))
    assert [f.id if f else None for f in found] == [st["lb"], st["listener"], st["pool"]]
    assert lbp.find_load_balancer("nope", ignore_missing=True) is None


def test_update(conn: openstack.connection.Connection, st: dict[str, Any]) -> None:
    lbp = conn.load_balancer
    lb = lbp.update_load_balancer(st["lb"], description="new")
    assert lb.provisioning_status == "PENDING_UPDATE"
    assert wait(conn, st["lb"]).description == "new"
    lbp.update_listener(st["listener"], connection_limit=10)
    wait(conn, st["lb"])
    assert lbp.get_listener(st["listener"]).connection_limit == 10
    lbp.update_pool(st["pool"], lb_algorithm="LEAST_CONNECTIONS")
    wait(conn, st["lb"])
    assert lbp.get_pool(st["pool"]).lb_algorithm == "LEAST_CONNECTIONS"
    lbp.update_member(st["member"], st["pool"], weight=7)
    wait(conn, st["lb"])
    assert lbp.get_member(st["member"], st["pool"]).weight == 7
    lbp.update_health_monitor(st["hm"], delay=9)
    wait(conn, st["lb"])
    assert lbp.get_health_monitor(st["hm"]).delay == 9
    lbp.update_l7_policy(st["policy"], name="pn")
    wait(conn, st["lb"])
    assert lbp.get_l7_policy(st["policy"]).name == "pn"
    lbp.update_l7_rule(st["rule"], st["policy"], rule_value="/v2")
    wait(conn, st["lb"])
    assert lbp.get_l7_rule(st["rule"], st["policy"]).rule_value == "/v2"


def test_quota(conn: openstack.connection.Connection) -> None:
    lbp = conn.load_balancer
    q = lbp.update_quota("project-q", load_balancers=5, listeners=6)
    assert (q.load_balancers, q.listeners, q.pools) == (5, 6, -1)
    q = lbp.get_quota("project-q")
    assert (q.load_balancers, q.listeners, q.members) == (5, 6, -1)
    assert [(x.project_id, x.load_balancers) for x in lbp.quotas()] == [("project-q", 5)]
    assert lbp.get_quota_default().load_balancers == -1
    lbp.delete_quota("project-q")
    assert lbp.get_quota("project-q").load_balancers == -1
    assert list(lbp.quotas()) == []


def test_providers_and_amphorae(conn: openstack.connection.Connection, st: dict[str, Any]) -> None:
    lbp = conn.load_balancer
    assert "amphora" in {p.name for p in lbp.providers()}
    caps = {c.name for c in lbp.provider_flavor_capabilities("amphora")}
    assert "loadbalancer_topology" in caps
    [amp] = list(lbp.amphorae())
    assert amp.loadbalancer_id == st["lb"]
    assert lbp.get_amphora(amp.id).status == "ALLOCATED"


def test_errors(conn: openstack.connection.Connection, st: dict[str, Any]) -> None:
    lbp = conn.load_balancer
    with pytest.raises(sdk_exc.ConflictException, match="already using"):
        lbp.create_listener(protocol="HTTP", protocol_port=80, load_balancer_id=st["lb"])
    with pytest.raises(sdk_exc.BadRequestException, match="children"):
        lbp.delete_load_balancer(st["lb"])
    with pytest.raises(sdk_exc.NotFoundException):
        lbp.get_load_balancer("00000000-0000-0000-0000-00000000beef")


def test_cascade_delete(conn: openstack.connection.Connection, st: dict[str, Any]) -> None:
    lbp = conn.load_balancer
    lb = lbp.get_load_balancer(st["lb"])
    lbp.delete_load_balancer(lb, cascade=True)
    lbp.wait_for_delete(lb, interval=0.1, wait=30)
    with pytest.raises(sdk_exc.NotFoundException):
        lbp.get_load_balancer(st["lb"])
    assert list(lbp.load_balancers()) == []
    assert list(lbp.listeners()) == []
    assert list(lbp.pools()) == []
    assert list(lbp.amphorae()) == []


def test_token_mode(ostium_server: Callable[[str], Ostium]) -> None:
    """admin_token auth: project scoping and RBAC surface as SDK exceptions."""
    server = ostium_server("token")
    server.make_tokens(("P", "member"), ("P2", "member"), ("P", "reader"))
    subnet = server.get("/v2.0/subnets?name=vip-subnet").json()["subnets"][0]["id"]

    def as_(project: str, role: str) -> openstack.connection.Connection:
        return connect(
            auth_type="admin_token",
            auth={"token": server.token(project, role), "endpoint": server.url},
        )

    owner, other, reader = as_("P", "member"), as_("P2", "member"), as_("P", "reader")
    try:
        lb = owner.load_balancer.create_load_balancer(name="tok-lb", vip_subnet_id=subnet)
        assert lb.project_id == "P"
        wait(owner, lb.id)
        found = owner.network.find_subnet("vip-subnet")
        assert found is not None and found.id == subnet
        with pytest.raises(sdk_exc.ForbiddenException, match="Policy does not allow"):
            other.load_balancer.get_load_balancer(lb.id)
        assert list(other.load_balancer.load_balancers()) == []
        assert [x.id for x in reader.load_balancer.load_balancers()] == [lb.id]
        with pytest.raises(sdk_exc.ForbiddenException):
            reader.load_balancer.create_load_balancer(name="no", vip_subnet_id=subnet)
        with pytest.raises(sdk_exc.ForbiddenException):
            reader.load_balancer.update_load_balancer(lb.id, description="no")
        owner.load_balancer.delete_load_balancer(lb.id, cascade=True)
        owner.load_balancer.wait_for_delete(lb, interval=0.1, wait=30)
        assert list(owner.load_balancer.load_balancers()) == []
    finally:
        for c in (owner, other, reader):
            c.close()
