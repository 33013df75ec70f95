"""The data plane on the real thing: agent over mTLS, namespaces, nftables, haproxy."""

from __future__ import annotations

import collections
import http.client
import ssl
import threading
import time
from pathlib import Path

import httpx
import pytest
from api_support import wait_for
from e2e_support import Amphora, listener, member, pool, server_sessions, sh

from conftest import AgentRunner, Pki
from ostium.agent.haproxy_process import pids_for_config
from ostium.agent.naming import Names
from ostium.agent_client import AgentClient, AgentRefused, StaleSpec
from ostium.devtools.demo_backends import DemoNetwork
from ostium.drivers.certificates.local_ca import LocalCA


def _wait(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


# ------------------------------------------------------------------ transport security


def test_agent_requires_client_certificate(agent: AgentRunner, pki: Pki, tmp_path: Path) -> None:
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    with (
        httpx.Client(base_url=agent.url, verify=ctx, timeout=5) as anonymous,
        pytest.raises(httpx.HTTPError),
    ):
        anonymous.get("/health")
    other = LocalCA(tmp_path / "other-ca")
    other.issue_client_cert(tmp_path / "c.pem", tmp_path / "c.key")
    ctx2 = ssl.create_default_context(cafile=str(pki.ca))
    ctx2.load_cert_chain(tmp_path / "c.pem", tmp_path / "c.key")
    with (
        httpx.Client(base_url=agent.url, verify=ctx2, timeout=5) as foreign,
        pytest.raises(httpx.HTTPError),
    ):
        foreign.get("/health")


def test_health_with_client_certificate(client: AgentClient) -> None:
    assert client.health()["status"] == "ok"


# ------------------------------------------------------------------ lifecycle


def test_create_serve_round_robin_delete(
    client: AgentClient, agent: AgentRunner, backends: DemoNetwork
) -> None:
    amp = Amphora(client, backends, 9)
    started = time.monotonic()
    p = pool(member("b1"), member("b2"))
    amp.apply([listener(p["id"])], [p])
    status, _, _ = amp.get()
    first_request = time.monotonic() - started
    assert status == 200
    counts = collections.Counter(amp.names(20))
    assert counts == {"b1": 10, "b2": 10}
    print(f"\ncreate amphora + apply + first request: {first_request:.2f}s")
    state = client.get_amphora(amp.amphora_id)
    assert state is not None and state.haproxy_running and state.applied_generation == 1
    ns = state.namespace
    amp_dir = agent.state_dir / "amphorae" / ns
    assert amp_dir.is_dir()

    client.delete_amphora(amp.amphora_id)
    client.delete_amphora(amp.amphora_id)  # idempotent
    assert ns not in sh("ip", "netns", "list").stdout
    names = Names("ostt-", amp.amphora_id)
    links = sh("ip", "-o", "link").stdout
    assert names.vip_host_veth not in links
    assert names.member_host_veth("ostt-mem-subnet") not in links
    assert not amp_dir.exists()
    assert str(amp_dir) not in sh("pgrep", "-af", "haproxy").stdout
    assert client.get_amphora(amp.amphora_id) is None


def test_stale_generation_and_invalid_config(amphora: Amphora, agent: AgentRunner) -> None:
    p = pool(member("b1"))
    amphora.apply([listener(p["id"])], [p])
    amphora.generation = -1  # the next spec carries generation 0 < 1
    with pytest.raises(StaleSpec):
        amphora.apply([listener(p["id"])], [p])
    amphora.generation = 5
    bad_rule = {
        "id": "0c0c0c0c-0000-4000-8000-000000000001",
        "type": "PATH",
        "compare_type": "REGEX",
        "value": "(unclosed",
    }
    policy = {
        "id": "0c0c0c0c-0000-4000-8000-000000000002",
        "action": "REJECT",
        "position": 1,
        "rules": [bad_rule],
    }
    with pytest.raises(AgentRefused) as err:
        amphora.apply([listener(p["id"], l7policies=[policy])], [p])
    assert err.value.code == "invalid_config" and err.value.details
    state = amphora.client.get_amphora(amphora.amphora_id)
    assert state is not None and state.applied_generation == 1
    assert (agent.state_dir / "amphorae" / state.namespace / "haproxy.cfg.failed").exists()
    assert amphora.get()[1] == "b1"  # still serving the last good config


# ------------------------------------------------------------------ balancing


def test_least_connections_and_source_ip(amphora: Amphora, agent: AgentRunner) -> None:
    p = pool(member("b1"), member("b2"), algorithm="LEAST_CONNECTIONS")
    lst = listener(p["id"])
    amphora.apply([lst], [p])
    state = amphora.client.get_amphora(amphora.amphora_id)
    assert state is not None
    sock = agent.state_dir / "amphorae" / state.namespace / "stats.sock"
    slow: list[str] = []
    t = threading.Thread(target=lambda: slow.append(amphora.get("/slow?s=4")[1]))
    t.start()
    # The running haproxy counts the slow request on one server before the others go.
    wait_for(lambda: sorted(server_sessions(sock)) == [0, 1], 3, 0.02, "the slow request")
    others = set(amphora.names(6))
    t.join()
    # While one backend holds the slow request, every new one goes to the other.
    assert len(others) == 1 and len(slow) == 1 and slow[0] not in others

    p["lb_algorithm"] = "SOURCE_IP"
    amphora.apply([lst], [p])
    assert len(set(amphora.names(10))) == 1


def test_session_persistence(amphora: Amphora) -> None:
    p = pool(member("b1"), member("b2"), session_persistence={"type": "HTTP_COOKIE"})
    lst = listener(p["id"])
    amphora.apply([lst], [p])
    _, first, headers = amphora.get()
    cookie = headers["set-cookie"].split(";")[0]
    assert cookie.startswith("SRV=")
    assert set(amphora.names(6, headers={"Cookie": cookie})) == {first}

    p["session_persistence"] = {"type": "APP_COOKIE", "cookie_name": "JSESSIONID"}
    amphora.apply([lst], [p])
    _, name, _ = amphora.get("/setcookie")
    assert set(amphora.names(6, headers={"Cookie": f"JSESSIONID={name}"})) == {name}

    p["session_persistence"] = {"type": "SOURCE_IP"}
    amphora.apply([lst], [p])
    assert len(set(amphora.names(6))) == 1


def test_backup_and_drain(amphora: Amphora) -> None:
    primary, backup = member("b1"), member("b2", backup=True)
    p = pool(primary, backup)
    lst = listener(p["id"])
    amphora.apply([lst], [p])
    assert set(amphora.names(6)) == {"b1"}
    primary["admin_state_up"] = False
    amphora.apply([lst], [p])
    assert set(amphora.names(6)) == {"b2"}

    b1, b2 = member("b1"), member("b2")
    p2 = pool(b1, b2)
    lst2 = listener(p2["id"])
    amphora.apply([lst2], [p2])
    assert set(amphora.names(6)) == {"b1", "b2"}
    b2["weight"] = 0
    amphora.apply([lst2], [p2])
    assert set(amphora.names(8)) == {"b1"}


def test_health_monitor_marks_member_down(amphora: Amphora) -> None:
    hm = {
        "id": "0d0d0d0d-0000-4000-8000-000000000001",
        "type": "HTTP",
        "delay": 1,
        "timeout": 1,
        "max_retries": 1,
        "max_retries_down": 1,
        "url_path": "/status/200",
    }
    b1, ghost = member("b1"), member("b2", protocol_port=9999)  # nothing listens on 9999
    p = pool(b1, ghost, healthmonitor=hm)
    amphora.apply([listener(p["id"])], [p])
    time.sleep(2.5)
    assert set(amphora.names(6)) == {"b1"}


# ------------------------------------------------------------------ L7


def test_l7_policies(amphora: Amphora) -> None:
    main, other = pool(member("b1")), pool(member("b3"))

    def rule(type_: str, compare: str, value: str, **kw: object) -> dict[str, object]:
        import uuid

        return {
            "id": str(uuid.uuid4()),
            "type": type_,
            "compare_type": compare,
            "value": value,
            **kw,
        }

    policies = [
        {
            "id": "0e0e0e0e-0000-4000-8000-000000000001",
            "action": "REJECT",
            "position": 1,
            "rules": [rule("PATH", "STARTS_WITH", "/admin")],
        },
        {
            "id": "0e0e0e0e-0000-4000-8000-000000000002",
            "action": "REDIRECT_TO_URL",
            "position": 2,
            "redirect_url": 'https://example.test/%[src]"x',
            "redirect_http_code": 301,
            "rules": [rule("PATH", "EQUAL_TO", "/old")],
        },
        {
            "id": "0e0e0e0e-0000-4000-8000-000000000003",
            "action": "REDIRECT_PREFIX",
            "position": 3,
            "redirect_prefix": "https://new.example.test",
            "rules": [rule("HOST_NAME", "EQUAL_TO", "legacy.example.test")],
        },
        {
            "id": "0e0e0e0e-0000-4000-8000-000000000004",
            "action": "REDIRECT_TO_POOL",
            "position": 4,
            "redirect_pool_id": other["id"],
            "rules": [
                rule("HEADER", "EQUAL_TO", "three", key="X-Pool"),
                rule("COOKIE", "EQUAL_TO", "no", key="beta", invert=True),
            ],
        },
        {
            "id": "0e0e0e0e-0000-4000-8000-000000000005",
            "action": "REDIRECT_TO_POOL",
            "position": 5,
            "redirect_pool_id": other["id"],
            "rules": [rule("FILE_TYPE", "EQUAL_TO", ".png")],
        },
    ]
    amphora.apply([listener(main["id"], l7policies=policies)], [main, other])
    assert amphora.get("/admin/x")[0] == 403
    status, _, headers = amphora.get("/old")
    assert status == 301 and headers["location"] == 'https://example.test/%[src]"x'
    status, _, headers = amphora.get("/p?q=1", headers={"Host": "legacy.example.test"})
    assert status == 302 and headers["location"] == "https://new.example.test/p?q=1"
    assert amphora.get("/", headers={"X-Pool": "three"})[1] == "b3"
    assert amphora.get("/", headers={"X-Pool": "three", "Cookie": "beta=no"})[1] == "b1"
    assert amphora.get("/img/a.png")[1] == "b3"
    assert amphora.get("/")[1] == "b1"


def test_insert_headers(amphora: Amphora) -> None:
    import json

    p = pool(member("b1"))
    headers = {"X-Forwarded-For": "true", "X-Forwarded-Port": "true", "X-Forwarded-Proto": "true"}
    amphora.apply([listener(p["id"], insert_headers=headers)], [p])
    seen = {k.lower(): v for k, v in json.loads(amphora.get("/headers")[1]).items()}
    assert seen["x-forwarded-for"] == "198.18.0.1"
    assert seen["x-forwarded-port"] == "80"
    assert seen["x-forwarded-proto"] == "http"


# ------------------------------------------------------------------ allowed_cidrs


def test_allowed_cidrs(amphora: Amphora, client_namespace: str) -> None:
    p = pool(member("b1"))
    lst = listener(p["id"], allowed_cidrs=["198.18.0.1/32"])
    other = listener(p["id"], port=8081)
    amphora.apply([lst, other], [p])

    def from_client(port: int) -> bool:
        proc = sh(
            "ip",
            "netns",
            "exec",
            client_namespace,
            "curl",
            "-s",
            "-m",
            "1",
            f"http://{amphora.vip}:{port}/",
        )
        return proc.returncode == 0 and proc.stdout.strip() == "b1"

    assert amphora.get()[1] == "b1"
    assert not from_client(80)
    assert from_client(8081)  # only the listener's port is restricted
    lst["allowed_cidrs"] = ["198.18.0.1/32", "198.18.0.192/26"]
    amphora.apply([lst, other], [p])
    assert from_client(80)


# ------------------------------------------------------------------ zero downtime


class Load:
    """Threads sending requests (new connection each) to the VIP, counting failures."""

    def __init__(self, amphora: Amphora, threads: int = 4) -> None:
        self.amphora = amphora
        self.stop = threading.Event()
        self.ok = 0
        self.failures: list[str] = []
        self.seen: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                conn = http.client.HTTPConnection(self.amphora.vip, 80, timeout=5)
                conn.request("GET", "/")
                resp = conn.getresponse()
                body = resp.read().decode().strip()
                conn.close()
                with self.lock:
                    if resp.status == 200:
                        self.ok += 1
                        self.seen[body] += 1
                    else:
                        self.failures.append(f"status {resp.status}")
            except OSError as exc:
                with self.lock:
                    self.failures.append(repr(exc))

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


def test_member_changes_and_reloads_under_load(amphora: Amphora, agent: AgentRunner) -> None:
    b1, b2, b3 = member("b1"), member("b2"), member("b3")
    p = pool(b1, b2)
    lst = listener(p["id"])
    amphora.apply([lst], [p])
    pids = [_haproxy_pid(amphora)]
    timings: dict[str, float] = {}
    with Load(amphora) as load:
        time.sleep(0.5)
        steps = {
            "add member": lambda: p["members"].append(b3),
            "weight change": lambda: b1.update(weight=5),
            "drain": lambda: b2.update(weight=0),
            "remove member": lambda: p["members"].remove(b2),
            "reload (timeout change)": lambda: lst.update(timeout_client_data=40000),
            "reload (new listener)": lambda: None,
        }
        for name, change in steps.items():
            change()
            listeners = [lst] if name != "reload (new listener)" else [lst, listener(p["id"], 81)]
            t0 = time.monotonic()
            amphora.apply(listeners, [p])
            timings[name] = time.monotonic() - t0
            pids.append(_haproxy_pid(amphora))
            time.sleep(0.4)
        time.sleep(0.3)
    print(f"\nrequests ok={load.ok} failed={len(load.failures)} timings={timings}")
    assert load.failures == []
    assert load.ok > 100
    assert load.seen["b3"] > 0
    # Member changes went through the runtime API (the same haproxy process); only the two
    # structural changes reloaded, each into a new process (one haproxy per amphora).
    assert pids[0] == pids[1] == pids[2] == pids[3] == pids[4]
    assert len({pids[4], pids[5], pids[6]}) == 3
    # Once their connections are done the old processes are gone: one haproxy per
    # amphora (no master), whatever the number of reloads.
    state = amphora.client.get_amphora(amphora.amphora_id)
    assert state is not None
    config = agent.state_dir / "amphorae" / state.namespace / "haproxy.cfg"
    _wait(lambda: pids_for_config(config) == [pids[6]])


def _haproxy_pid(amphora: Amphora) -> int:
    state = amphora.client.get_amphora(amphora.amphora_id)
    assert state is not None and state.haproxy_pid
    return state.haproxy_pid


# ------------------------------------------------------------------ supervision


def test_an_agent_reloads_what_it_adopts_when_it_renders_it_differently(
    amphora: Amphora, agent: AgentRunner
) -> None:
    """An amphora configured by an older agent (here: its haproxy.cfg with an extra
    line) gets this agent's rendering at start, by a seamless reload; one whose file is
    what this agent renders is left alone (the adoption test above)."""
    p = pool(member("b1"), member("b2"))
    amphora.apply([listener(p["id"])], [p])
    before = _haproxy_pid(amphora)
    state = amphora.client.get_amphora(amphora.amphora_id)
    assert state is not None
    config = agent.state_dir / "amphorae" / state.namespace / "haproxy.cfg"
    rendered = config.read_text()

    agent.stop()
    config.write_text(rendered + "# written by an older agent\n")
    agent.start()

    _wait(lambda: config.read_text() == rendered)  # in the background, after the start
    _wait(lambda: _haproxy_pid(amphora) != before)
    after = _haproxy_pid(amphora)
    _wait(lambda: pids_for_config(config) == [after])  # the old process let go
    assert set(amphora.names(4)) == {"b1", "b2"}


def test_agent_restart_adopts_and_supervisor_respawns(amphora: Amphora, agent: AgentRunner) -> None:
    p = pool(member("b1"), member("b2"))
    lst = listener(p["id"])
    amphora.apply([lst], [p])
    before = amphora.client.get_amphora(amphora.amphora_id)
    assert before is not None and before.haproxy_pid

    agent.stop()
    assert set(amphora.names(4)) == {"b1", "b2"}  # haproxy serves while the agent is down
    agent.start()
    after = amphora.client.get_amphora(amphora.amphora_id)
    assert after is not None
    assert after.haproxy_pid == before.haproxy_pid and after.applied_generation == 1
    p["members"].pop()
    amphora.apply([lst], [p])
    assert set(amphora.names(4)) == {"b1"}

    sh("kill", "-9", str(before.haproxy_pid))
    sh("pkill", "-9", "-f", f"{agent.state_dir}/amphorae/{after.namespace}/haproxy.cfg")

    def respawned() -> bool:
        state = amphora.client.get_amphora(amphora.amphora_id)
        return state is not None and state.haproxy_running and state.respawns >= 1

    _wait(respawned)
    _wait(lambda: amphora.get()[1] == "b1")
