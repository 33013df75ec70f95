"""ostium on the real thing, driven only through the Octavia v2 REST API (httpx).

One `ostium serve` (SQLite, local mTLS agent, haproxy in namespaces) is shared by the
module; it declares only its own networks: the VIP network `ostt-vip0` 198.19.10.0/24
(the host is 198.19.10.1 and reaches every VIP through it) and the member network
`ostt-back0` 198.19.11.0/24 where three backends `ostt-a1..3` (198.19.11.11-13:8080)
run in their own namespaces. Every test makes its own load balancer(s) and cascade
deletes them; the module teardown deletes whatever is left, stops ostium and fails if
any namespace, veth, bridge, process or agent state file is left behind. The worker
crash test runs its own `ostium api` + `ostium worker` on 198.19.12.0/23.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import (
    Backends,
    Lbaas,
    Load,
    Net,
    Ostium,
    answered_only_by,
    client_namespace,
    get,
    names,
    processes,
    serves,
    sh,
    wait_for,
)
from e2e_support import server_sessions

from ostium.agent.naming import Names

VIP = Net("ostt-vip", "198.19.10.0/24", "ostt-vip0", "ostt-vip-subnet")
BACK = Net("ostt-back", "198.19.11.0/24", "ostt-back0", "ostt-back-subnet")
VIP_W = Net("ostt-vipw", "198.19.12.0/24", "ostt-vip1", "ostt-vipw-subnet")
BACK_W = Net("ostt-backw", "198.19.13.0/24", "ostt-back1", "ostt-backw-subnet")


def _bridge_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


@pytest.fixture(scope="module")
def backends() -> Iterator[Backends]:
    with Backends(BACK, prefix="ostt-a", count=3) as b:
        yield b


@pytest.fixture(scope="module")
def ostium(backends: Backends) -> Iterator[Ostium]:
    o = Ostium([VIP, BACK], name_prefix="ostt")
    left: list[str] = []
    try:
        o.start("serve")
        yield o
    finally:
        left = o.shutdown()
        o.remove_workdir()
    if _bridge_exists(VIP.bridge):
        left.append(f"bridge {VIP.bridge} (ostium should remove it when idle)")
        sh("ip", "link", "del", VIP.bridge)
    assert left == [], f"ostium left things behind: {left}"


@pytest.fixture(scope="module")
def api(ostium: Ostium) -> Lbaas:
    return ostium.api


@pytest.fixture(scope="module")
def subnet(api: Lbaas) -> str:
    return api.subnet_id(VIP.subnet_name)


LbFactory = Callable[..., dict[str, Any]]


@pytest.fixture
def make_lb(api: Lbaas, subnet: str) -> Iterator[LbFactory]:
    """Create load balancers (graph bodies allowed), cascade deleted after the test."""
    made: list[str] = []

    def make(**body: Any) -> dict[str, Any]:
        lb = api.create_lb(subnet, wait=False, **body)
        made.append(lb["id"])
        api.wait_active(lb["id"])
        return lb

    yield make
    for lb_id in made:
        api.delete_lb(lb_id)


def member(backends: Backends, i: int, **kw: Any) -> dict[str, Any]:
    return {"address": backends.address(i), "protocol_port": 8080, **kw}


def http_lb(
    backends: Backends,
    *members: int,
    algorithm: str = "ROUND_ROBIN",
    pool: dict[str, Any] | None = None,
    **listener: Any,
) -> dict[str, Any]:
    """Graph body: one HTTP listener on port 80 with one pool of the given backends."""
    p = {
        "name": "p",
        "protocol": "HTTP",
        "lb_algorithm": algorithm,
        "members": [member(backends, i) for i in members],
        **(pool or {}),
    }
    li = {"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "p"}, **listener}
    return {"listeners": [li], "pools": [p]}


def pool_of(api: Lbaas, lb: dict[str, Any]) -> dict[str, Any]:
    r = api.http.get("/v2/lbaas/pools", params={"loadbalancer_id": lb["id"]})
    (p,) = r.json()["pools"]
    return dict(p)


def members_of(api: Lbaas, pool_id: str) -> dict[str, str]:
    """member address -> member id"""
    r = api.http.get(f"/v2/lbaas/pools/{pool_id}/members")
    return {m["address"]: m["id"] for m in r.json()["members"]}


def amphora_of(api: Lbaas, lb_id: str) -> dict[str, Any]:
    (amp,) = api.amphorae(lb_id)
    return amp


# ------------------------------------------------------------------ balancing


def test_step_by_step_round_robin_and_amphora_record(
    api: Lbaas, subnet: str, backends: Backends, ostium: Ostium, make_lb: LbFactory
) -> None:
    lb = make_lb(name="rr")
    li = api.create(
        "/v2/lbaas/listeners",
        "listener",
        lb["id"],
        loadbalancer_id=lb["id"],
        protocol="HTTP",
        protocol_port=80,
    )
    pool = api.create(
        "/v2/lbaas/pools",
        "pool",
        lb["id"],
        listener_id=li["id"],
        protocol="HTTP",
        lb_algorithm="ROUND_ROBIN",
    )
    for i in (1, 2):
        api.create(
            f"/v2/lbaas/pools/{pool['id']}/members", "member", lb["id"], **member(backends, i)
        )
    counts = collections.Counter(names(lb["vip_address"], 100))
    assert set(counts) == {backends.name(1), backends.name(2)}
    assert all(40 <= c <= 60 for c in counts.values()), counts

    assert lb["vip_address"].startswith("198.19.10.")
    amp = amphora_of(api, lb["id"])
    assert amp["role"] == "STANDALONE"
    assert amp["status"] in ("ALLOCATED", "READY")
    assert amp["lb_network_ip"] == "127.0.0.1"
    assert amp["ha_ip"] == lb["vip_address"]
    assert str(uuid.UUID(amp["compute_id"])) == amp["compute_id"]
    assert uuid.UUID(amp["vrrp_port_id"]) and amp["ha_port_id"] == lb["vip_port_id"]
    assert ostium.namespace(amp) == Names("ostt", amp["id"]).namespace
    assert ostium.namespace(amp) in ostium.namespaces()
    expires = dt.datetime.fromisoformat(amp["cert_expiration"])
    assert expires > dt.datetime.now() + dt.timedelta(days=30)
    status = api.http.get(f"/v2/lbaas/loadbalancers/{lb['id']}/status").json()
    tree = status["statuses"]["loadbalancer"]
    assert tree["provisioning_status"] == "ACTIVE" and tree["operating_status"] == "ONLINE"
    (sli,) = tree["listeners"]
    assert {m["provisioning_status"] for m in sli["pools"][0]["members"]} == {"ACTIVE"}


def test_least_connections_then_source_ip(
    api: Lbaas, backends: Backends, ostium: Ostium, make_lb: LbFactory
) -> None:
    lb = make_lb(name="lc", **http_lb(backends, 1, 2, algorithm="LEAST_CONNECTIONS"))
    vip = lb["vip_address"]
    amp = amphora_of(api, lb["id"])
    # Hold one connection open on one member: every new request goes to the other one.
    slow: list[str] = []
    t = threading.Thread(target=lambda: slow.append(get(vip, "/slow?s=4", timeout=10)[1]))
    t.start()
    # The running haproxy counts the slow request on one server (a fixed sleep was not
    # always enough on a loaded CI machine).
    sock = ostium.state_dir / "agent" / "amphorae" / ostium.namespace(amp) / "stats.sock"
    during: set[str] = set()
    for _ in range(8):
        # Before each request: the slow one on one server, none on the other. Without
        # this wait a request can come while haproxy still counts the one before it
        # (the other server at 1 too), and a tie may go to either server.
        wait_for(lambda: sorted(server_sessions(sock)) == [0, 1], 3, 0.02, "the slow request")
        during.update(names(vip, 1))
    t.join()
    assert len(slow) == 1 and len(during) == 1 and slow[0] not in during
    assert set(names(vip, 6)) == {backends.name(1), backends.name(2)}  # idle again: both

    pool = pool_of(api, lb)
    api.update(f"/v2/lbaas/pools/{pool['id']}", "pool", lb["id"], lb_algorithm="SOURCE_IP")
    assert (
        api.http.get(f"/v2/lbaas/pools/{pool['id']}").json()["pool"]["lb_algorithm"] == "SOURCE_IP"
    )
    assert len(set(names(vip, 20))) == 1  # one client address -> one member


def test_session_persistence_http_cookie_and_source_ip(
    api: Lbaas, backends: Backends, make_lb: LbFactory
) -> None:
    lb = make_lb(
        name="sp", **http_lb(backends, 1, 2, pool={"session_persistence": {"type": "HTTP_COOKIE"}})
    )
    vip = lb["vip_address"]
    _, first, headers = get(vip)
    cookie = headers["set-cookie"].split(";")[0]
    assert set(names(vip, 10, headers={"Cookie": cookie})) == {first}
    assert len(set(names(vip, 10))) == 2  # without the cookie: balanced again

    pool = pool_of(api, lb)
    api.update(
        f"/v2/lbaas/pools/{pool['id']}", "pool", lb["id"], session_persistence={"type": "SOURCE_IP"}
    )
    assert len(set(names(vip, 20))) == 1


def test_backup_member_only_when_primaries_down(
    api: Lbaas, backends: Backends, make_lb: LbFactory
) -> None:
    hm = {
        "type": "HTTP",
        "delay": 1,
        "timeout": 1,
        "max_retries": 1,
        "max_retries_down": 1,
        "url_path": "/",
    }
    body = http_lb(backends, 1, 2, pool={"healthmonitor": hm})
    body["pools"][0]["members"].append(member(backends, 3, backup=True))
    lb = make_lb(name="backup", **body)
    vip = lb["vip_address"]
    primaries = {backends.name(1), backends.name(2)}
    assert set(names(vip, 20)) == primaries
    try:
        backends.stop(1)
        backends.stop(2)
        wait_for(lambda: answered_only_by(vip, {backends.name(3)}), 10, what="backup taking over")
        assert set(names(vip, 10)) == {backends.name(3)}
    finally:
        backends.start(1)
        backends.start(2)
    wait_for(lambda: answered_only_by(vip, primaries, 6), 10, what="primaries back")
    assert backends.name(3) not in names(vip, 20)


def test_weight_zero_drains_and_admin_down_stops_traffic(
    api: Lbaas, backends: Backends, make_lb: LbFactory
) -> None:
    lb = make_lb(name="drain", **http_lb(backends, 1, 2))
    vip = lb["vip_address"]
    pool = pool_of(api, lb)
    ids = members_of(api, pool["id"])
    one, two = backends.name(1), backends.name(2)
    m2 = f"/v2/lbaas/pools/{pool['id']}/members/{ids[backends.address(2)]}"
    m1 = f"/v2/lbaas/pools/{pool['id']}/members/{ids[backends.address(1)]}"
    assert set(names(vip, 10)) == {one, two}

    assert api.update(m2, "member", lb["id"], weight=0)["weight"] == 0
    assert set(names(vip, 20)) == {one}
    api.update(m2, "member", lb["id"], weight=1)
    assert set(names(vip, 10)) == {one, two}

    assert api.update(m1, "member", lb["id"], admin_state_up=False)["admin_state_up"] is False
    assert set(names(vip, 20)) == {two}
    member_view = api.http.get(m1).json()["member"]
    assert member_view["operating_status"] == "OFFLINE"
    api.update(m1, "member", lb["id"], admin_state_up=True)
    assert set(names(vip, 10)) == {one, two}


# ------------------------------------------------------------------ L7


def test_l7_policies(api: Lbaas, backends: Backends, make_lb: LbFactory) -> None:
    body = http_lb(backends, 1)
    body["pools"] += [
        {
            "name": "api",
            "protocol": "HTTP",
            "lb_algorithm": "ROUND_ROBIN",
            "members": [member(backends, 2)],
        },
        {
            "name": "gold",
            "protocol": "HTTP",
            "lb_algorithm": "ROUND_ROBIN",
            "members": [member(backends, 3)],
        },
    ]
    lb = make_lb(name="l7", **body)
    vip = lb["vip_address"]
    pools = {
        p["name"]: p["id"]
        for p in api.http.get("/v2/lbaas/pools", params={"loadbalancer_id": lb["id"]}).json()[
            "pools"
        ]
    }
    (li,) = api.http.get("/v2/lbaas/listeners", params={"loadbalancer_id": lb["id"]}).json()[
        "listeners"
    ]

    def policy(rule: dict[str, Any], **fields: Any) -> dict[str, Any]:
        pol = api.create(
            "/v2/lbaas/l7policies", "l7policy", lb["id"], listener_id=li["id"], **fields
        )
        api.create(f"/v2/lbaas/l7policies/{pol['id']}/rules", "rule", lb["id"], **rule)
        return pol

    policy({"type": "PATH", "compare_type": "STARTS_WITH", "value": "/admin"}, action="REJECT")
    policy(
        {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"},
        action="REDIRECT_TO_POOL",
        redirect_pool_id=pools["api"],
    )
    policy(
        {"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X-Tier", "value": "gold"},
        action="REDIRECT_TO_POOL",
        redirect_pool_id=pools["gold"],
    )
    redirect = policy(
        {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/old"},
        action="REDIRECT_TO_URL",
        redirect_url="https://example.test/new",
        redirect_http_code=308,
    )

    one, two, three = (backends.name(i) for i in (1, 2, 3))
    assert get(vip, "/admin/users")[0] == 403
    assert set(names(vip, 4, "/api/v1")) == {two}
    assert set(names(vip, 4, "/apiary")) == {two}  # STARTS_WITH, not a path segment
    assert set(names(vip, 4, headers={"X-Tier": "gold"})) == {three}
    assert set(names(vip, 4, headers={"X-Tier": "silver"})) == {one}
    status, _, headers = get(vip, "/old")
    assert status == 308 and headers["location"] == "https://example.test/new"
    assert set(names(vip, 4, "/other")) == {one}

    api.update(
        f"/v2/lbaas/l7policies/{redirect['id']}",
        "l7policy",
        lb["id"],
        redirect_http_code=301,
        redirect_url="https://example.test/moved",
    )
    status, _, headers = get(vip, "/old")
    assert status == 301 and headers["location"] == "https://example.test/moved"


# ------------------------------------------------------------------ allowed_cidrs


def test_allowed_cidrs(api: Lbaas, backends: Backends, make_lb: LbFactory) -> None:
    body = http_lb(backends, 1, allowed_cidrs=["198.19.10.1/32"])
    body["listeners"].append(
        {"protocol": "HTTP", "protocol_port": 8081, "default_pool": {"name": "p"}}
    )
    lb = make_lb(name="acl", **body)
    vip = lb["vip_address"]

    with client_namespace(VIP.bridge, "198.19.10.253") as ns:

        def from_client(port: int = 80) -> bool:
            proc = sh("ip", "netns", "exec", ns, "curl", "-s", "-m", "1", f"http://{vip}:{port}/")
            return proc.returncode == 0 and proc.stdout.strip() == backends.name(1)

        assert from_client(8081)  # the client reaches the amphora: only port 80 is filtered
        assert not from_client()
        assert set(names(vip, 4)) == {backends.name(1)}  # the host is inside the CIDR

        (li,) = [
            x
            for x in api.http.get(
                "/v2/lbaas/listeners", params={"loadbalancer_id": lb["id"]}
            ).json()["listeners"]
            if x["protocol_port"] == 80
        ]
        api.update(
            f"/v2/lbaas/listeners/{li['id']}",
            "listener",
            lb["id"],
            allowed_cidrs=["198.19.10.1/32", "198.19.10.252/30"],
        )
        assert from_client()
        assert set(names(vip, 2)) == {backends.name(1)}


# ------------------------------------------------------------------ zero failures


def test_member_adds_and_removes_under_load_zero_failures(
    api: Lbaas, backends: Backends, make_lb: LbFactory
) -> None:
    lb = make_lb(name="churn", **http_lb(backends, 1, 2))
    vip = lb["vip_address"]
    pool = pool_of(api, lb)
    path = f"/v2/lbaas/pools/{pool['id']}/members"
    timings: list[float] = []
    with Load(vip, threads=4) as load:
        time.sleep(0.3)
        for _ in range(20):
            t0 = time.monotonic()
            m3 = api.create(path, "member", lb["id"], **member(backends, 3))
            timings.append(time.monotonic() - t0)
            time.sleep(0.1)
            t0 = time.monotonic()
            api.remove(f"{path}/{m3['id']}", lb["id"])
            timings.append(time.monotonic() - t0)
        time.sleep(0.3)
    print(
        f"\nrequests ok={load.ok} failed={len(load.failures)} seen={dict(load.seen)} "
        f"change p50={sorted(timings)[len(timings) // 2] * 1000:.0f} ms"
    )
    assert load.failures == []
    assert load.ok > 200
    assert load.seen[backends.name(3)] > 0  # the added member did take traffic
    assert set(members_of(api, pool["id"])) == {backends.address(1), backends.address(2)}


# ------------------------------------------------------------------ unsupported features


def _agent_spec(ostium: Ostium, namespace: str) -> dict[str, Any]:
    path = ostium.state_dir / "agent" / "amphorae" / namespace / "spec.json"
    return dict(json.loads(path.read_text()))


def test_unsupported_features_are_400_and_never_reach_the_data_plane(
    api: Lbaas, subnet: str, backends: Backends, ostium: Ostium, make_lb: LbFactory
) -> None:
    lb = make_lb(name="unsupported", **http_lb(backends, 1))
    ns = ostium.namespace(amphora_of(api, lb["id"]))
    spec_before = _agent_spec(ostium, ns)
    cfg = ostium.state_dir / "agent" / "amphorae" / ns / "haproxy.cfg"
    cfg_before = cfg.read_text()
    n_lbs = len(api.all_lbs())

    def refused(path: str, body: dict[str, Any], *words: str) -> None:
        r = api.http.post(path, json=body)
        assert r.status_code == 400, r.text
        text = r.json().get("faultstring") or r.text
        for word in words:
            assert word in text, (word, text)

    refused(  # UDP is served (nftables), but never with header insertion
        "/v2/lbaas/listeners",
        {
            "listener": {
                "loadbalancer_id": lb["id"],
                "protocol": "UDP",
                "protocol_port": 53,
                "insert_headers": {"X-Forwarded-For": "true"},
            }
        },
        "UDP",
    )
    refused(
        "/v2/lbaas/listeners",
        {
            "listener": {
                "loadbalancer_id": lb["id"],
                "protocol": "TERMINATED_HTTPS",
                "protocol_port": 443,
                "default_tls_container_ref": "https://barbican.test/v1/containers/x",
            }
        },
        "Could not retrieve certificate",
    )
    refused(
        "/v2/lbaas/pools",
        {
            "pool": {
                "loadbalancer_id": lb["id"],
                "protocol": "UDP",
                "lb_algorithm": "ROUND_ROBIN",
                "session_persistence": {"type": "APP_COOKIE", "cookie_name": "c"},
            }
        },
        "UDP",
    )
    refused(
        "/v2/lbaas/loadbalancers",
        {
            "loadbalancer": {
                "vip_subnet_id": subnet,
                "listeners": [
                    {
                        "protocol": "UDP",
                        "protocol_port": 53,
                        "insert_headers": {"X-Forwarded-For": "true"},
                    }
                ],
            }
        },
        "UDP",
    )

    after = api.wait_active(lb["id"])
    assert after["provisioning_status"] == "ACTIVE"
    listeners = api.http.get("/v2/lbaas/listeners", params={"loadbalancer_id": lb["id"]})
    assert [li["protocol"] for li in listeners.json()["listeners"]] == ["HTTP"]
    assert len(api.all_lbs()) == n_lbs  # the refused graph create made nothing
    assert _agent_spec(ostium, ns)["generation"] == spec_before["generation"]
    assert cfg.read_text() == cfg_before
    assert "udp" not in cfg_before.lower()
    binds = [line for line in cfg_before.splitlines() if line.strip().startswith("bind ")]
    assert binds and not any(" ssl" in line for line in binds)
    assert get(lb["vip_address"])[1] == backends.name(1)


# ------------------------------------------------------------------ failover and delete


def test_failover_rebuilds_the_amphora_with_the_same_vip(
    api: Lbaas, backends: Backends, ostium: Ostium, make_lb: LbFactory
) -> None:
    lb = make_lb(name="failover", **http_lb(backends, 1, 2))
    vip = lb["vip_address"]
    old = amphora_of(api, lb["id"])
    assert set(names(vip, 4)) == {backends.name(1), backends.name(2)}

    r = api.http.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover")
    assert r.status_code == 202, r.text
    after = api.wait_active(lb["id"])
    new = amphora_of(api, lb["id"])
    assert new["id"] != old["id"]
    assert new["compute_id"] != old["compute_id"]
    assert new["role"] == "STANDALONE" and new["ha_ip"] == vip
    assert after["vip_address"] == vip
    namespaces = ostium.namespaces()
    assert ostium.namespace(new) in namespaces and ostium.namespace(old) not in namespaces
    assert not (ostium.state_dir / "agent" / "amphorae" / ostium.namespace(old)).exists()
    # Like Octavia, the old amphora stays readable (DELETED) until housekeeping.
    gone = api.http.get(f"/v2/octavia/amphorae/{old['id']}")
    assert gone.status_code == 200 and gone.json()["amphora"]["status"] == "DELETED"
    assert set(names(vip, 10)) == {backends.name(1), backends.name(2)}


def test_cascade_delete_leaves_nothing(
    api: Lbaas, backends: Backends, ostium: Ostium, subnet: str
) -> None:
    lb = api.create_lb(
        subnet,
        name="cascade",
        **http_lb(
            backends,
            1,
            2,
            allowed_cidrs=["198.19.10.0/24"],
            pool={"healthmonitor": {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1}},
        ),
    )
    try:
        vip = lb["vip_address"]
        amp = amphora_of(api, lb["id"])
        ns = ostium.namespace(amp)
        n = Names("ostt", amp["id"])
        amp_dir = ostium.state_dir / "agent" / "amphorae" / ns
        assert set(names(vip, 4)) == {backends.name(1), backends.name(2)}
        links = sh("ip", "-o", "link", "show").stdout
        veths = [n.vip_host_veth, n.member_host_veth(api.subnet_id(BACK.subnet_name))]
        assert all(v in links for v in veths), veths
        assert amp_dir.is_dir() and processes(str(amp_dir))
        assert ns in ostium.namespaces()
    finally:
        api.delete_lb(lb["id"])
    assert api.lb(lb["id"]) is None
    assert api.amphorae(lb["id"]) == []
    assert ns not in sh("ip", "netns", "list").stdout
    links = sh("ip", "-o", "link", "show").stdout
    assert [v for v in veths if v in links] == []
    assert processes(str(amp_dir)) == []
    assert processes(f"ip netns exec {ns}") == []
    assert not amp_dir.exists()
    assert not serves(vip)


# ------------------------------------------------------------------ worker crash


@pytest.mark.parametrize("moment", ["lease-taken", "namespace-made"])
def test_worker_killed_mid_create_is_finished_by_another(moment: str) -> None:
    """`ostium api` + `ostium worker`; SIGKILL the worker as soon as it holds the lease
    (nothing built yet) or as soon as the amphora namespace appears (half built)."""
    back = Backends(BACK_W, prefix="ostt-w", count=1)
    o = Ostium([VIP_W, BACK_W], name_prefix="osttw", lease_seconds=3)
    left: list[str] = []
    try:
        o.start("api")
        api = o.api
        subnet = api.subnet_id(VIP_W.subnet_name)
        body = {
            "name": "crash",
            "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "p"}}],
            "pools": [
                {
                    "name": "p",
                    "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN",
                    "members": [{"address": back.address(1), "protocol_port": 8080}],
                }
            ],
        }
        first = o.start("worker", key="worker1")
        time.sleep(1.0)  # let the worker (and its agent) come up before the create
        lb = api.create_lb(subnet, wait=False, **body)
        owner = wait_for(lambda: o.lease_owner(lb["id"]), 10, 0.002, what="lease taken")
        if moment == "namespace-made":
            wait_for(o.namespaces, 10, 0.002, what="amphora namespace made")
        first.send_signal(signal.SIGKILL)
        first.wait()
        o.procs.pop("worker1")
        killed_at = time.monotonic()
        assert str(first.pid) in owner
        mid = api.lb(lb["id"])
        assert mid is not None and mid["provisioning_status"] == "PENDING_CREATE"

        # The killed worker's agent (its child) follows it: nothing holds the port or
        # the state dir when the next worker starts its own agent.
        wait_for(
            lambda: not processes(f"--state-dir {o.state_dir}/agent"),
            10,
            what="the killed worker's agent exiting",
        )
        print(f"\nagent gone after {time.monotonic() - killed_at:.1f}s")
        o.start("worker", key="worker2")
        done = api.wait_active(lb["id"], timeout=30)
        took = time.monotonic() - killed_at
        assert took >= 2.0, f"finished {took:.1f}s after the kill: before the lease expired?"
        assert [x["provisioning_status"] for x in api.all_lbs()] == ["ACTIVE"]
        statuses = api.http.get(f"/v2/lbaas/loadbalancers/{lb['id']}/status").json()
        tree = statuses["statuses"]["loadbalancer"]
        for li in tree["listeners"]:
            assert li["provisioning_status"] == "ACTIVE"
            for p in li["pools"]:
                assert p["provisioning_status"] == "ACTIVE"
                assert {mb["provisioning_status"] for mb in p["members"]} == {"ACTIVE"}
        (amp,) = api.amphorae(lb["id"])
        assert o.namespaces() == [o.namespace(amp)]  # exactly one: nothing leaked
        assert [p.name for p in o.amphora_dirs()] == [o.namespace(amp)]
        assert names(done["vip_address"], 4) == [back.name(1)] * 4

        api.delete_lb(lb["id"])
        assert o.namespaces() == [] and o.amphora_dirs() == []
    finally:
        left = o.shutdown()
        o.remove_workdir()
        back.destroy()
    for bridge in (VIP_W.bridge, BACK_W.bridge):
        if _bridge_exists(bridge):
            left.append(f"bridge {bridge}")
            sh("ip", "link", "del", bridge)
    assert left == [], f"left behind: {left}"
