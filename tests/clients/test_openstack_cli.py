"""The real `openstack loadbalancer ...` CLI (python-octaviaclient) against `ostium serve`.

Part 1 walks every resource in noauth mode (`--os-auth-type none --os-endpoint URL`);
part 2 repeats the core walk in token mode (`--os-auth-type admin_token --os-token T
--os-endpoint URL`, which is all osc needs: no Keystone catalog, no discovery) and checks
RBAC as a user sees it. The steps of each part run in file order and share state.
Creates use `--wait` as a user would; after other writes the test polls the API itself
(osc's `--wait` sleeps 3 s per poll), and read-only checks are batched into one CLI
session where possible (the CLI takes a second or more to start).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.clients.conftest import Cli, Ostium

SUBNET_CIDR = ipaddress.ip_network("198.18.0.0/17")
J = ["-f", "json"]


@pytest.fixture(scope="module")
def server(ostium_server: Callable[[str], Ostium]) -> Ostium:
    return ostium_server("noauth")


@pytest.fixture(scope="module")
def cli(server: Ostium) -> Cli:
    return Cli(server.url)


@pytest.fixture(scope="module")
def walk(server: Ostium) -> dict[str, Any]:
    """State shared by the steps of the noauth walk (ids of what was created)."""
    subnets = server.get("/v2.0/subnets?name=vip-subnet").json()["subnets"]
    nets = server.get("/v2.0/networks?name=vip-net").json()["networks"]
    return {"subnet_id": subnets[0]["id"], "network_id": nets[0]["id"]}


# ---- part 1: noauth -------------------------------------------------------------------


def test_loadbalancer_create(cli: Cli, walk: dict[str, Any]) -> None:
    # With --wait osc polls until ACTIVE, then shows the load balancer again.
    lb = cli.json(
        "loadbalancer",
        "create",
        "--name",
        "lb1",
        "--vip-subnet-id",
        "vip-subnet",
        "--description",
        "first",
        "--wait",
    )
    assert lb["name"] == "lb1"
    assert lb["description"] == "first"
    assert lb["provisioning_status"] == "ACTIVE"
    assert lb["operating_status"] == "ONLINE"
    assert lb["vip_subnet_id"] == walk["subnet_id"]
    assert lb["vip_network_id"] == walk["network_id"]
    assert ipaddress.ip_address(lb["vip_address"]) in SUBNET_CIDR
    assert lb["project_id"] == "admin"
    assert lb["listeners"] == [] and lb["pools"] == []
    walk["lb"] = lb["id"]


def test_listener_create(cli: Cli, walk: dict[str, Any]) -> None:
    ls = cli.json(
        "loadbalancer",
        "listener",
        "create",
        "--protocol",
        "HTTP",
        "--protocol-port",
        "80",
        "--name",
        "l1",
        "lb1",
        "--wait",
    )
    assert ls["name"] == "l1"
    assert ls["protocol"] == "HTTP" and ls["protocol_port"] == 80
    assert ls["provisioning_status"] == "ACTIVE"
    assert ls["loadbalancers"] == [{"id": walk["lb"]}]
    assert ls["connection_limit"] == -1
    walk["listener"] = ls["id"]


def test_pool_create(cli: Cli, walk: dict[str, Any]) -> None:
    pool = cli.json(
        "loadbalancer",
        "pool",
        "create",
        "--listener",
        "l1",
        "--protocol",
        "HTTP",
        "--lb-algorithm",
        "ROUND_ROBIN",
        "--name",
        "p1",
        "--wait",
    )
    assert pool["name"] == "p1"
    assert pool["protocol"] == "HTTP" and pool["lb_algorithm"] == "ROUND_ROBIN"
    assert pool["provisioning_status"] == "ACTIVE"
    assert pool["listeners"] == [{"id": walk["listener"]}]
    assert pool["loadbalancers"] == [{"id": walk["lb"]}]
    assert pool["session_persistence"] is None
    walk["pool"] = pool["id"]


def test_member_create(cli: Cli, walk: dict[str, Any]) -> None:
    m1 = cli.json(
        "loadbalancer",
        "member",
        "create",
        "--address",
        "198.18.1.10",
        "--protocol-port",
        "8080",
        "p1",
        "--wait",
    )
    assert m1["address"] == "198.18.1.10" and m1["protocol_port"] == 8080
    assert m1["provisioning_status"] == "ACTIVE"
    assert m1["subnet_id"] is None
    assert m1["weight"] == 1 and m1["backup"] is False
    m2 = cli.json(
        "loadbalancer",
        "member",
        "create",
        "--address",
        "198.18.0.11",
        "--protocol-port",
        "8080",
        "--subnet-id",
        "vip-subnet",
        "--name",
        "m2",
        "p1",
        "--wait",
    )
    assert m2["subnet_id"] == walk["subnet_id"]
    assert m2["name"] == "m2"
    assert m2["provisioning_status"] == "ACTIVE"
    walk["members"] = [m1["id"], m2["id"]]


def test_healthmonitor_create(cli: Cli, walk: dict[str, Any]) -> None:
    hm = cli.json(
        "loadbalancer",
        "healthmonitor",
        "create",
        "--delay",
        "5",
        "--timeout",
        "3",
        "--max-retries",
        "3",
        "--type",
        "HTTP",
        "p1",
        "--wait",
    )
    assert hm["type"] == "HTTP"
    assert (hm["delay"], hm["timeout"], hm["max_retries"]) == (5, 3, 3)
    assert hm["url_path"] == "/" and hm["http_method"] == "GET"
    assert hm["expected_codes"] == "200"
    assert hm["provisioning_status"] == "ACTIVE"
    assert hm["pools"] == [{"id": walk["pool"]}]
    walk["hm"] = hm["id"]


def test_l7policy_create(cli: Cli, walk: dict[str, Any]) -> None:
    pol = cli.json(
        "loadbalancer",
        "l7policy",
        "create",
        "--action",
        "REDIRECT_TO_URL",
        "--redirect-url",
        "http://example.com/",
        "l1",
        "--wait",
    )
    assert pol["action"] == "REDIRECT_TO_URL"
    assert pol["redirect_url"] == "http://example.com/"
    assert pol["redirect_http_code"] == 302
    assert pol["listener_id"] == walk["listener"]
    assert pol["position"] == 1
    assert pol["provisioning_status"] == "ACTIVE"
    walk["policy"] = pol["id"]


def test_l7rule_create(cli: Cli, walk: dict[str, Any]) -> None:
    rule = cli.json(
        "loadbalancer",
        "l7rule",
        "create",
        "--type",
        "PATH",
        "--compare-type",
        "STARTS_WITH",
        "--value",
        "/api",
        walk["policy"],
        "--wait",
    )
    assert (rule["type"], rule["compare_type"], rule["value"]) == ("PATH", "STARTS_WITH", "/api")
    assert rule["invert"] is False
    assert rule["provisioning_status"] == "ACTIVE"
    walk["rule"] = rule["id"]


def test_graph_as_seen_by_show_status_and_stats(cli: Cli, walk: dict[str, Any]) -> None:
    lb, listener, pool, members, policy, rules, status, stats, lstats = cli.batch(
        ["loadbalancer", "show", "lb1", *J],
        ["loadbalancer", "listener", "show", "l1", *J],
        ["loadbalancer", "pool", "show", "p1", *J],
        ["loadbalancer", "member", "list", "p1", *J],
        ["loadbalancer", "l7policy", "show", walk["policy"], *J],
        ["loadbalancer", "l7rule", "list", walk["policy"], *J],
        ["loadbalancer", "status", "show", "lb1"],  # always JSON, has no -f option
        ["loadbalancer", "stats", "show", "lb1", *J],
        ["loadbalancer", "listener", "stats", "show", "l1", *J],
    )
    assert lb["listeners"] == [{"id": walk["listener"]}]
    assert lb["pools"] == [{"id": walk["pool"]}]
    assert lb["provisioning_status"] == "ACTIVE"
    assert listener["default_pool_id"] == walk["pool"]
    assert listener["l7policies"] == [{"id": walk["policy"]}]
    assert pool["healthmonitor_id"] == walk["hm"]
    assert sorted(m["id"] for m in pool["members"]) == sorted(walk["members"])
    assert sorted(m["id"] for m in members) == sorted(walk["members"])
    assert policy["rules"] == [{"id": walk["rule"]}]
    assert [r["id"] for r in rules] == [walk["rule"]]

    tree = status["loadbalancer"]
    assert tree["id"] == walk["lb"] and tree["name"] == "lb1"
    assert tree["provisioning_status"] == "ACTIVE"
    [tl] = tree["listeners"]
    assert tl["id"] == walk["listener"] and tl["name"] == "l1"
    [tp] = tl["pools"]
    assert tp["id"] == walk["pool"] and tp["name"] == "p1"
    assert tp["health_monitor"]["id"] == walk["hm"]
    assert tp["health_monitor"]["type"] == "HTTP"
    assert {m["id"]: m["address"] for m in tp["members"]} == dict(
        zip(walk["members"], ["198.18.1.10", "198.18.0.11"], strict=True)
    )

    counters = {
        "active_connections",
        "bytes_in",
        "bytes_out",
        "request_errors",
        "total_connections",
    }
    for s in (stats, lstats):
        assert set(s) == counters
        assert all(isinstance(v, int) for v in s.values())


def test_list_filters(cli: Cli, walk: dict[str, Any]) -> None:
    cases: list[tuple[list[str], str | None]] = [
        (["loadbalancer", "list", "--name", "lb1"], "lb"),
        (["loadbalancer", "list", "--name", "no-such-lb"], None),
        (
            [
                "loadbalancer",
                "list",
                "--provisioning-status",
                "ACTIVE",
                "--operating-status",
                "ONLINE",
            ],
            "lb",
        ),
        (["loadbalancer", "list", "--provisioning-status", "ERROR"], None),
        (
            [
                "loadbalancer",
                "list",
                "--vip-subnet-id",
                "vip-subnet",
                "--vip-network-id",
                "vip-net",
            ],
            "lb",
        ),
        (["loadbalancer", "list", "--project", "admin", "--provider", "amphora", "--enable"], "lb"),
        (["loadbalancer", "list", "--disable"], None),
        (["loadbalancer", "list", "--project", "someone-else"], None),
        (["loadbalancer", "listener", "list", "--loadbalancer", "lb1", "--name", "l1"], "listener"),
        (["loadbalancer", "listener", "list", "--disable"], None),
        (["loadbalancer", "pool", "list", "--loadbalancer", "lb1"], "pool"),
        (["loadbalancer", "healthmonitor", "list"], "hm"),
        (["loadbalancer", "l7policy", "list", "--listener", "l1"], "policy"),
        (["loadbalancer", "amphora", "list", "--loadbalancer", "lb1"], None),
    ]
    results = cli.batch(*[[*args, *J] for args, _ in cases])
    for (args, expect), rows in zip(cases, results, strict=True):
        if args[1] == "amphora":
            assert [r["loadbalancer_id"] for r in rows] == [walk["lb"]], args
            continue
        assert [r["id"] for r in rows] == ([walk[expect]] if expect else []), args


def test_loadbalancer_set_unset(cli: Cli, server: Ostium, walk: dict[str, Any]) -> None:
    cli.ok(
        "loadbalancer",
        "set",
        "--description",
        "second",
        "--name",
        "lb1-renamed",
        "--tag",
        "blue",
        "--tag",
        "green",
        "lb1",
        "--wait",
    )
    lb, tagged = cli.batch(
        ["loadbalancer", "show", "lb1-renamed", *J], ["loadbalancer", "list", "--tags", "blue", *J]
    )
    assert lb["id"] == walk["lb"]
    assert lb["description"] == "second"
    assert sorted(lb["tags"]) == ["blue", "green"]
    assert lb["provisioning_status"] == "ACTIVE"
    assert [r["id"] for r in tagged] == [walk["lb"]]

    cli.ok("loadbalancer", "set", "--name", "lb1", "lb1-renamed")
    server.wait_lb(walk["lb"])
    cli.ok("loadbalancer", "unset", "--description", "--tag", "blue", "lb1")
    server.wait_lb(walk["lb"])
    lb = cli.json("loadbalancer", "show", "lb1")
    assert lb["name"] == "lb1"
    assert lb["description"] == ""
    assert lb["tags"] == ["green"]


def test_listener_set_unset(cli: Cli, server: Ostium, walk: dict[str, Any]) -> None:
    cli.ok(
        "loadbalancer",
        "listener",
        "set",
        "--description",
        "front",
        "--connection-limit",
        "100",
        "--timeout-client-data",
        "1000",
        "--insert-headers",
        "X-Forwarded-For=true",
        "--allowed-cidr",
        "10.0.0.0/8",
        "l1",
    )
    server.wait_lb(walk["lb"])
    ls = cli.json("loadbalancer", "listener", "show", "l1")
    assert ls["description"] == "front"
    assert ls["connection_limit"] == 100
    assert ls["timeout_client_data"] == 1000
    assert ls["insert_headers"] == {"X-Forwarded-For": "true"}
    assert ls["allowed_cidrs"] == ["10.0.0.0/8"]
    assert ls["provisioning_status"] == "ACTIVE"

    cli.ok(
        "loadbalancer",
        "listener",
        "unset",
        "--description",
        "--connection-limit",
        "--timeout-client-data",
        "--insert-headers",
        "--allowed-cidrs",
        "l1",
    )
    server.wait_lb(walk["lb"])
    ls = cli.json("loadbalancer", "listener", "show", "l1")
    assert ls["description"] == ""
    assert ls["connection_limit"] == -1
    assert ls["timeout_client_data"] == 50000
    assert ls["insert_headers"] == {}
    assert ls["allowed_cidrs"] is None


def test_pool_set_unset(cli: Cli, server: Ostium, walk: dict[str, Any]) -> None:
    cli.ok(
        "loadbalancer",
        "pool",
        "set",
        "--description",
        "backends",
        "--lb-algorithm",
        "LEAST_CONNECTIONS",
        "--session-persistence",
        "type=APP_COOKIE,cookie_name=sid",
        "p1",
    )
    server.wait_lb(walk["lb"])
    pool = cli.json("loadbalancer", "pool", "show", "p1")
    assert pool["description"] == "backends"
    assert pool["lb_algorithm"] == "LEAST_CONNECTIONS"
    assert pool["session_persistence"]["type"] == "APP_COOKIE"
    assert pool["session_persistence"]["cookie_name"] == "sid"

    cli.ok("loadbalancer", "pool", "unset", "--description", "--session-persistence", "p1")
    server.wait_lb(walk["lb"])
    pool = cli.json("loadbalancer", "pool", "show", "p1")
    assert pool["description"] == ""
    assert pool["session_persistence"] is None
    assert pool["lb_algorithm"] == "LEAST_CONNECTIONS"


def test_member_set_unset(cli: Cli, server: Ostium, walk: dict[str, Any]) -> None:
    member = walk["members"][0]
    cli.ok(
        "loadbalancer",
        "member",
        "set",
        "--name",
        "m1",
        "--weight",
        "5",
        "--enable-backup",
        "--monitor-port",
        "9090",
        "--monitor-address",
        "198.18.1.11",
        "--disable",
        "p1",
        member,
    )
    server.wait_lb(walk["lb"])
    m = cli.json("loadbalancer", "member", "show", "p1", "m1")
    assert m["id"] == member
    assert m["weight"] == 5 and m["backup"] is True
    assert m["monitor_port"] == 9090 and m["monitor_address"] == "198.18.1.11"
    assert m["admin_state_up"] is False

    cli.ok(
        "loadbalancer",
        "member",
        "unset",
        "--name",
        "--weight",
        "--backup",
        "--monitor-port",
        "--monitor-address",
        "p1",
        member,
    )
    server.wait_lb(walk["lb"])
    m = cli.json("loadbalancer", "member", "show", "p1", member)
    assert m["name"] == ""
    assert m["weight"] == 1 and m["backup"] is False
    assert m["monitor_port"] is None and m["monitor_address"] is None


def test_healthmonitor_and_l7_set(cli: Cli, server: Ostium, walk: dict[str, Any]) -> None:
    cli.ok(
        "loadbalancer",
        "healthmonitor",
        "set",
        "--name",
        "hm1",
        "--delay",
        "10",
        "--http-version",
        "1.1",
        "--domain-name",
        "example.com",
        walk["hm"],
    )
    server.wait_lb(walk["lb"])
    cli.ok("loadbalancer", "l7rule", "set", "--invert", walk["policy"], walk["rule"])
    server.wait_lb(walk["lb"])
    hm, rule = cli.batch(
        ["loadbalancer", "healthmonitor", "show", "hm1", *J],
        ["loadbalancer", "l7rule", "show", walk["policy"], walk["rule"], *J],
    )
    assert hm["id"] == walk["hm"] and hm["delay"] == 10
    assert hm["http_version"] == 1.1 and hm["domain_name"] == "example.com"
    assert rule["invert"] is True


def test_quota(cli: Cli) -> None:
    # osc resolves the project through Keystone first; ostium's 403 there makes osc use
    # the given project id as is.
    quota = cli.json(
        "loadbalancer", "quota", "set", "--loadbalancer", "5", "--listener", "7", "project-q"
    )
    assert quota["load_balancer"] == 5 and quota["listener"] == 7
    shown, listed = cli.batch(
        ["loadbalancer", "quota", "show", "project-q", *J], ["loadbalancer", "quota", "list", *J]
    )
    assert shown["load_balancer"] == 5 and shown["listener"] == 7
    assert shown["pool"] == -1
    assert [(q["project_id"], q["load_balancer"]) for q in listed] == [("project-q", 5)]

    cli.ok("loadbalancer", "quota", "unset", "--listener", "project-q")
    assert cli.json("loadbalancer", "quota", "show", "project-q")["listener"] == -1
    cli.ok("loadbalancer", "quota", "reset", "project-q")
    listed, defaults = cli.batch(
        ["loadbalancer", "quota", "list", *J], ["loadbalancer", "quota", "defaults", "show", *J]
    )
    assert listed == []
    assert defaults["load_balancer"] == -1


def test_provider_and_amphora_list(cli: Cli, walk: dict[str, Any]) -> None:
    providers, amps = cli.batch(
        ["loadbalancer", "provider", "list", *J], ["loadbalancer", "amphora", "list", *J]
    )
    assert "amphora" in {p["name"] for p in providers}
    assert [a["loadbalancer_id"] for a in amps] == [walk["lb"]]
    assert amps[0]["status"] == "ALLOCATED"


def test_errors_are_readable(cli: Cli) -> None:
    res = cli.fails(
        "loadbalancer",
        "listener",
        "create",
        "--protocol",
        "HTTP",
        "--protocol-port",
        "80",
        "--name",
        "dup",
        "lb1",
    )
    assert "HTTP 409" in res.stderr and "already using" in res.stderr
    res = cli.fails("loadbalancer", "delete", "lb1")
    assert "HTTP 400" in res.stderr and "children" in res.stderr


def test_cascade_delete(cli: Cli, server: Ostium, walk: dict[str, Any]) -> None:
    cli.ok("loadbalancer", "delete", "--cascade", "--wait", "lb1")
    res = cli.fails("loadbalancer", "show", "lb1")
    assert "Unable to locate lb1" in res.stderr
    lbs, listeners, pools, amps = cli.batch(
        ["loadbalancer", "list", *J],
        ["loadbalancer", "listener", "list", *J],
        ["loadbalancer", "pool", "list", *J],
        ["loadbalancer", "amphora", "list", *J],
    )
    assert lbs == [] and listeners == [] and pools == [] and amps == []
    assert server.get(f"/v2/lbaas/loadbalancers/{walk['lb']}").status_code == 404


def test_dual_stack_create_with_an_additional_vip(cli: Cli, server: Ostium) -> None:
    # The default VIP network is dual-stack: its IPv6 subnet takes an additional VIP.
    lb = cli.json(
        "loadbalancer",
        "create",
        "--name",
        "ds",
        "--vip-subnet-id",
        "vip-subnet",
        "--additional-vip",
        "subnet-id=vip-subnet-v6",
    )
    server.wait_lb(lb["id"])
    (v6,) = server.get("/v2.0/subnets?name=vip-subnet-v6").json()["subnets"]
    shown = server.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()["loadbalancer"]
    (extra,) = shown["additional_vips"]
    assert extra["subnet_id"] == v6["id"]
    assert ipaddress.ip_address(extra["ip_address"]) in ipaddress.ip_network(v6["cidr"])
    assert extra["ip_address"] in str(lb["additional_vips"])  # osc shows it too
    assert server.delete(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 204
    for _ in range(300):  # gone before the next step lists load balancers
        if server.get(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 404:
            break
        time.sleep(0.1)


# ---- part 2: token mode ---------------------------------------------------------------


@pytest.fixture(scope="module")
def token_server(ostium_server: Callable[[str], Ostium]) -> Ostium:
    server = ostium_server("token")
    server.make_tokens(("P", "admin"), ("P2", "member"), ("P", "reader"))
    return server


def token_cli(server: Ostium, project: str, role: str) -> Cli:
    return Cli(server.url, "admin_token", server.token(project, role))


@pytest.fixture(scope="module")
def tok(token_server: Ostium) -> dict[str, Any]:
    """State of the token-mode walk."""
    return {}


def test_token_core_walk(token_server: Ostium, tok: dict[str, Any]) -> None:
    # `--wait` on the load balancer create and delete; the children's waits use the
    # API directly (the noauth walk already covers `--wait` on every create).
    cli = token_cli(token_server, "P", "admin")
    lb = cli.json(
        "loadbalancer", "create", "--name", "lb1", "--vip-subnet-id", "vip-subnet", "--wait"
    )
    assert lb["provisioning_status"] == "ACTIVE"
    assert lb["project_id"] == "P"
    tok["lb"] = lb["id"]
    ls = cli.json(
        "loadbalancer",
        "listener",
        "create",
        "--protocol",
        "HTTP",
        "--protocol-port",
        "80",
        "--name",
        "l1",
        "lb1",
    )
    assert ls["provisioning_status"] == "PENDING_CREATE" and ls["project_id"] == "P"
    token_server.wait_lb(lb["id"])
    pool = cli.json(
        "loadbalancer",
        "pool",
        "create",
        "--listener",
        "l1",
        "--protocol",
        "HTTP",
        "--lb-algorithm",
        "ROUND_ROBIN",
        "--name",
        "p1",
    )
    assert pool["project_id"] == "P"
    token_server.wait_lb(lb["id"])
    member = cli.json(
        "loadbalancer",
        "member",
        "create",
        "--address",
        "198.18.0.10",
        "--subnet-id",
        "vip-subnet",
        "--protocol-port",
        "8080",
        "p1",
    )
    assert member["project_id"] == "P"
    token_server.wait_lb(lb["id"])
    cli.ok("loadbalancer", "set", "--description", "tok", "lb1")
    token_server.wait_lb(lb["id"])
    quota = cli.json("loadbalancer", "quota", "set", "--loadbalancer", "5", "P")
    assert quota["load_balancer"] == 5
    status, listed, shown, shown_ls, q = cli.batch(
        ["loadbalancer", "status", "show", "lb1"],
        ["loadbalancer", "list", "--name", "lb1", *J],
        ["loadbalancer", "show", "lb1", *J],
        ["loadbalancer", "listener", "show", "l1", *J],
        ["loadbalancer", "quota", "show", "P", *J],
    )
    [tl] = status["loadbalancer"]["listeners"]
    assert tl["id"] == ls["id"] and tl["provisioning_status"] == "ACTIVE"
    assert tl["pools"][0]["id"] == pool["id"]
    assert [m["id"] for m in tl["pools"][0]["members"]] == [member["id"]]
    assert [r["id"] for r in listed] == [lb["id"]]
    assert shown["description"] == "tok" and shown["provisioning_status"] == "ACTIVE"
    assert shown_ls["default_pool_id"] == pool["id"]
    assert q["load_balancer"] == 5


def test_token_member_of_other_project_is_forbidden(
    token_server: Ostium, tok: dict[str, Any]
) -> None:
    cli = token_cli(token_server, "P2", "member")
    show, write, listing = cli.run_many(
        ["loadbalancer", "show", tok["lb"]],
        ["loadbalancer", "set", "--description", "mine", tok["lb"]],
        ["loadbalancer", "list", "--project", "P"],
    )
    assert show.returncode != 0, str(show)
    assert "HTTP 403" in show.stderr and "Policy does not allow" in show.stderr
    # osc resolves names and ids through the (project-scoped) list before a write, so
    # a write to another project's load balancer fails client-side, as with Octavia.
    assert write.returncode != 0, str(write)
    assert f"Unable to locate {tok['lb']}" in write.stderr
    assert listing.returncode != 0 and "HTTP 403" in listing.stderr, str(listing)
    # Their own view is their own project: P's load balancer is not listed, and they
    # can create in P2.
    lb = cli.json("loadbalancer", "create", "--name", "p2-lb", "--vip-subnet-id", "vip-subnet")
    assert lb["project_id"] == "P2"
    assert [r["id"] for r in cli.json("loadbalancer", "list")] == [lb["id"]]
    token_server.wait_lb(lb["id"], token_server.token("P2", "member"))


def test_token_reader_cannot_write(token_server: Ostium, tok: dict[str, Any]) -> None:
    cli = token_cli(token_server, "P", "reader")
    create, quota = cli.run_many(
        ["loadbalancer", "create", "--name", "nope", "--vip-subnet-id", "vip-subnet"],
        ["loadbalancer", "quota", "set", "--loadbalancer", "50", "P"],
    )
    assert create.returncode != 0, str(create)
    assert "HTTP 403" in create.stderr and "Policy does not allow" in create.stderr
    assert quota.returncode != 0 and "HTTP 403" in quota.stderr, str(quota)
    listed, shown = cli.batch(["loadbalancer", "list", *J], ["loadbalancer", "show", tok["lb"], *J])
    assert [r["id"] for r in listed] == [tok["lb"]]
    assert shown["name"] == "lb1"


def test_token_bad_token_is_unauthorized(token_server: Ostium) -> None:
    res = Cli(token_server.url, "admin_token", "not-a-token").fails("loadbalancer", "list")
    assert "HTTP 401" in res.stderr


def test_token_cascade_delete(token_server: Ostium, tok: dict[str, Any]) -> None:
    cli = token_cli(token_server, "P", "admin")
    cli.ok("loadbalancer", "delete", "--cascade", "--wait", "lb1")
    assert token_server.get(f"/v2/lbaas/loadbalancers/{tok['lb']}").status_code == 404
    # An admin lists every project: only P2's load balancer is left.
    assert [r["name"] for r in cli.json("loadbalancer", "list")] == ["p2-lb"]
