"""Hosts through the API: add (a one-time token), join (`ostium agent --join`: a CSR
signed with the host's names and addresses), list, drain, remove; tokens and keys never
in a log or an answer they do not belong to."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import stat
import threading
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from ostium.agent import enrolling
from ostium.agent_client import AgentClient
from ostium.control.db import models as m
from ostium.control.housekeeping import Housekeeping
from ostium.drivers.compute.base import AmphoraHost, AmphoraInfo
from ostium.drivers.compute.noop import NoopDriver
from ostium.model.enums import HostState
from ostium.model.spec import AmphoraPlug
from tests.api.conftest import Api


def _add(api: Api, name: str = "rack1-a", **fields: object) -> tuple[dict[str, object], str]:
    r = api.post("/v2/ostium/hosts", {"host": {"name": name, **fields}})
    assert r.status_code == 201, r.text
    host = dict(r.json()["host"])
    return host, str(host.pop("enrollment_token"))


def _through_api(api: Api) -> httpx.MockTransport:
    """The agent's HTTP client, answered by the ASGI app under test."""

    def handle(request: httpx.Request) -> httpx.Response:
        r = api.client.request(
            request.method, request.url.path, content=request.content, headers=request.headers
        )
        return httpx.Response(r.status_code, content=r.content, headers=r.headers)

    return httpx.MockTransport(handle)


def _join(api: Api, token: str, state: Path, **kw: object) -> enrolling.Enrolled:
    return enrolling.join(
        "http://127.0.0.1:9876",
        token,
        state,
        "https://198.19.40.2:9443",
        ["rack1-a.example.net"],
        ["198.19.40.2", "2001:2:0:40::2"],
        transport=_through_api(api),
        **kw,  # type: ignore[arg-type]
    )


def test_a_host_joins_once_with_its_token(
    api: Api, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    host, token = _add(api, zone="az1", capacity=50)
    assert host["state"] == HostState.ENROLLING and host["zone"] == "az1"
    listed = api.get("/v2/ostium/hosts").json()["hosts"]
    assert [h["name"] for h in listed] == ["rack1-a"] and token not in str(listed)

    state = tmp_path / "agent"
    enrolled = _join(api, token, state, networks=["vip-net"])
    cert = x509.load_pem_x509_certificate(enrolled.cert.read_bytes())
    sans = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    assert "rack1-a.example.net" in sans.get_values_for_type(x509.DNSName)
    assert {str(a) for a in sans.get_values_for_type(x509.IPAddress)} == {
        "198.19.40.2",
        "2001:2:0:40::2",
    }
    ca = x509.load_pem_x509_certificate(enrolled.ca.read_bytes())
    cert.verify_directly_issued_by(ca)
    for secret in (enrolled.key, enrolled.heartbeat_key):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert enrolled.controller_ip_port_list == api.settings.health.targets()

    (joined,) = api.get("/v2/ostium/hosts").json()["hosts"]
    assert (joined["state"], joined["agent_url"], joined["networks"]) == (
        "ACTIVE",
        "https://198.19.40.2:9443",
        ["vip-net"],
    )
    # The token worked once; a wrong one is refused alike.
    for again in (token, "not-a-token"):
        with pytest.raises(enrolling.JoinRefused, match="token was refused"):
            _join(api, again, tmp_path / "other")
    logged = caplog.text + "".join(p.read_text() for p in state.rglob("*.json"))
    assert token not in logged
    assert enrolled.heartbeat_key.read_text() not in logged
    assert "joined" in caplog.text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("names", ["bad name;rm -rf"]),
        ("addresses", ["not-an-ip"]),
        ("agent_url", "http://198.19.40.2:9443"),
        ("csr", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----"),
    ],
)
def test_hostile_enrollment_is_400_and_the_token_stays_usable(
    api: Api, field: str, value: object
) -> None:
    _, token = _add(api)
    body: dict[str, object] = {
        "token": token,
        "csr": "x",
        "agent_url": "https://198.19.40.2:9443",
        field: value,
    }
    r = api.post("/v2/ostium/hosts/enroll", {"enrollment": body})
    assert r.status_code == 400, r.text
    assert token not in r.text
    (host,) = api.get("/v2/ostium/hosts").json()["hosts"]
    assert host["state"] == "ENROLLING"


def test_bad_hosts_and_names_are_refused(api: Api) -> None:
    assert api.post("/v2/ostium/hosts", {"host": {"name": "a b"}}).status_code == 400
    r = api.post("/v2/ostium/hosts", {"host": {"name": "h", "networks": ["nope"]}})
    assert r.status_code == 400 and "nope" in r.text
    _add(api, "h1")
    assert api.post("/v2/ostium/hosts", {"host": {"name": "h1"}}).status_code == 409
    assert api.put("/v2/ostium/hosts/h1", {"host": {"state": "DRAINING"}}).status_code == 409
    assert api.get("/v2/ostium/hosts/nope").status_code == 404


def test_join_url_must_be_https_unless_loopback() -> None:
    assert enrolling.check_join_url("https://ostium.example:9876/") == "https://ostium.example:9876"
    assert enrolling.check_join_url("http://127.0.0.1:9876") == "http://127.0.0.1:9876"
    with pytest.raises(enrolling.JoinRefused, match="https"):
        enrolling.check_join_url("http://198.19.0.1:9876")


def test_drain_fails_amphorae_over_and_remove_waits_for_it(api: Api, tmp_path: Path) -> None:
    _, token = _add(api)
    _join(api, token, tmp_path / "agent")
    lb = api.lb()
    with api.db.write() as s:
        (amp,) = s.query(m.Amphora).filter(m.Amphora.load_balancer_id == lb["id"]).all()
        amp.host = "https://198.19.40.2:9443"
    assert api.delete("/v2/ostium/hosts/rack1-a").status_code == 409
    r = api.put("/v2/ostium/hosts/rack1-a", {"host": {"state": "DRAINING"}})
    assert r.status_code == 200 and r.json()["host"]["state"] == "DRAINING"
    assert api.lb_status(lb["id"]) == "PENDING_UPDATE"  # the failover it asked for
    api.settle()
    assert api.lb_status(lb["id"]) == "ACTIVE"
    (host,) = api.get("/v2/ostium/hosts").json()["hosts"]
    assert host["amphorae"] == 0  # moved elsewhere (the noop driver's host)
    assert api.delete("/v2/ostium/hosts/rack1-a").status_code == 204
    assert api.get("/v2/ostium/hosts").json()["hosts"] == []


def test_the_circuit_breaker_counts_hosts(api: Api) -> None:
    """One dead host's amphorae are failed over; silence on two hosts at once (the health
    manager cut off, not dead hosts) stops every failover, whatever the amphora count."""
    from tests.api.test_health import _watchdog, make_stack, make_stack_on

    a = make_stack(api)
    b = make_stack_on(api, a.clock)
    for st in (a, b):
        st.send(st.heartbeat())
    with api.db.write() as s:
        for st, host in ((a, "https://198.19.40.2:9443"), (b, "https://198.19.40.3:9443")):
            row = s.get(m.Amphora, st.amphora)
            assert row is not None
            row.host = host
    a.clock.advance(10)
    dog = _watchdog(a, heartbeat_timeout=6.0, failover_threshold=0, failover_host_threshold=1)
    result = dog.scan()
    assert result.failed_over == [] and sorted(result.stopped) == sorted([a.amphora, b.amphora])
    for st in (a, b):  # both back: ALLOCATED again
        st.send(st.heartbeat())
    a.clock.advance(10)
    b.send(b.heartbeat())  # only a's host silent now: its amphora is failed over
    assert dog.scan().failed_over == [a.amphora]


def test_only_admins_add_hosts_and_the_token_alone_joins(token_api: Api, tmp_path: Path) -> None:
    from tests.api.conftest import make_token

    api = token_api
    assert api.post("/v2/ostium/hosts", {"host": {"name": "h9"}}).status_code == 401
    member = make_token(api.db, "p1", "member")
    r = api.post("/v2/ostium/hosts", {"host": {"name": "h9"}}, headers={"X-Auth-Token": member})
    assert r.status_code == 403
    admin = make_token(api.db, "p1", "admin")
    api.headers = {"X-Auth-Token": admin}
    _, token = _add(api, "h9")
    api.headers = {}  # the agent has no API token: its enrollment token is enough
    assert _join(api, token, tmp_path / "agent").cert.exists()


class _TwoHosts(NoopDriver):
    """Two hosts; the first one's agent hangs (until `answer` is set). Remembers what
    each host was asked to destroy."""

    def __init__(self) -> None:
        self.destroyed: list[tuple[str, str]] = []
        self.answer = threading.Event()
        self.where = threading.local()

    def hosts(self) -> list[str]:
        return ["https://198.19.40.2:9443", "https://198.19.40.3:9443"]

    def on(self, host: str | None) -> AmphoraHost:
        self.where.host = host or "?"
        return self

    def build(self, plug: AmphoraPlug) -> AmphoraInfo:
        return dataclasses.replace(super().build(plug), host=self.where.host)

    def destroy(self, amphora_id: str) -> None:
        host = self.where.host
        if host == self.hosts()[0]:
            self.answer.wait(30)
        self.destroyed.append((host, amphora_id))


def test_a_failover_never_waits_on_a_silent_host(api: Api) -> None:
    """The old amphora of a failover on a silent host (its agent hanging) is marked
    DELETED at once and its destroy is tried in the background: the failover ends while
    that call still hangs. On a host that answers it is destroyed first, as always."""
    driver = _TwoHosts()
    api.worker.reconciler.driver = driver
    dead, alive = driver.hosts()
    lbs = [api.lb(name=f"lb{i}") for i in range(3)]
    old: dict[str, str] = {}
    with api.db.write() as s:
        for lb, host, age in ((lbs[0], dead, 60), (lbs[1], dead, 60), (lbs[2], alive, 1)):
            (amp,) = s.query(m.Amphora).filter(m.Amphora.load_balancer_id == lb["id"]).all()
            amp.host = host
            amp.last_heartbeat = m.utcnow() - dt.timedelta(seconds=age)
            old[lb["id"]] = amp.id
    for lb in lbs:
        assert api.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover").status_code == 202
    api.settle()  # returns while the dead host's agent still hangs
    assert driver.destroyed == [(alive, old[lbs[2]["id"]])]
    with api.db.read() as s:
        for lb in lbs:
            amps = s.query(m.Amphora).filter(m.Amphora.load_balancer_id == lb["id"]).all()
            states = {a.id: (a.status, a.host) for a in amps}
            assert states.pop(old[lb["id"]])[0] == "DELETED"
            # the replacement: on the host that answers
            assert list(states.values()) == [("ALLOCATED", alive)]
    for lb in lbs:
        assert api.lb_status(lb["id"]) == "ACTIVE"
    # The dead host (two amphorae silent) holds nothing now, yet it is not the least
    # loaded: it stays out.
    lb = api.lb(name="after")
    with api.db.read() as s:
        (amp,) = s.query(m.Amphora).filter(m.Amphora.load_balancer_id == lb["id"]).all()
        assert amp.host == alive
    driver.answer.set()  # the host answers after all: the deferred destroy gets through
    deadline = time.monotonic() + 30
    gone = {(dead, old[lbs[0]["id"]]), (dead, old[lbs[1]["id"]])}
    while not gone <= set(driver.destroyed) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gone <= set(driver.destroyed)


def test_housekeeping_removes_orphans_on_every_host_that_answers(api: Api) -> None:
    """What a host still runs without a live row (its amphorae forgotten while it was
    silent) is deleted through its agent; a host that does not answer is skipped."""
    lb = api.lb()
    with api.db.read() as s:
        (amp,) = s.query(m.Amphora).filter(m.Amphora.load_balancer_id == lb["id"]).all()
    deleted: list[str] = []

    def agent(running: list[str]) -> AgentClient:
        def handle(request: httpx.Request) -> httpx.Response:
            if request.method == "GET" and request.url.path == "/amphorae":
                body = {"amphorae": [_state(a) for a in running]}
                return httpx.Response(200, json=body)
            if request.method == "DELETE":
                deleted.append(request.url.path.rsplit("/", 1)[-1])
                return httpx.Response(204)
            if request.url.path == "/sweep":
                return httpx.Response(200, json={"removed": []})
            return httpx.Response(404, json={"error": "not_found", "message": "?"})

        return AgentClient(
            httpx.Client(transport=httpx.MockTransport(handle), base_url="https://x")
        )

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route to host", request=request)

    silent = AgentClient(
        httpx.Client(transport=httpx.MockTransport(unreachable), base_url="https://y")
    )
    others = [silent, agent([amp.id, "0" * 8 + "-0000-4000-8000-" + "0" * 12])]
    hk = Housekeeping(api.db, api.settings, more_agents=lambda: others)
    report = hk.run_once(0.0)
    assert deleted == ["0" * 8 + "-0000-4000-8000-" + "0" * 12]  # the live one stays
    assert report.orphans == [f"amphora {deleted[0]}"]


def _state(amphora_id: str) -> dict[str, object]:
    return {"amphora_id": amphora_id, "namespace": f"ostt-{amphora_id[:8]}"}
