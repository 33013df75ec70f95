"""TLS on the real thing, through the API and real clients only: the secret store,
TERMINATED_HTTPS (SNI, versions, client certificates, CRL, ALPN h2, X-SSL-* headers),
SSL L7 rules, re-encryption to an HTTPS member that checks ostium's client certificate,
the PROMETHEUS listener, a certificate rotation under load, and where keys may live.

One `ostium serve` with its own networks (VIP 198.19.50.0/24 on `ostt-vip5`, members
198.19.51.0/24 on `ostt-back5`) and ONE load balancer created in a single graph call,
shared by the tests of this module (they run in file order): listener :443 (default
certificate from a PKCS12 secret + an SNI certificate container, h2), :8443 (MANDATORY
client certificates, CRL, X-SSL-* headers), :9443 (OPTIONAL, SSL rules pick the pool),
:80 HTTP to a pool that re-encrypts to an HTTPS member, :9100 PROMETHEUS.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from api_support import Backends, Net, Ostium, sh, wait_for
from prometheus_client.parser import text_string_to_metric_families
from tests import pki

VIP = Net("ostt-vip5", "198.19.50.0/24", "ostt-vip5", "ostt-vip5-subnet")
BACK = Net("ostt-back5", "198.19.51.0/24", "ostt-back5", "ostt-back5-subnet")
ONE, TWO, THREE = "one.example.test", "two.example.test", "three.example.test"
HTTPS_MEMBER_PORT = 8443


class World:
    """What the module's tests share: PKI files, refs, the load balancer."""

    def __init__(self, o: Ostium, backends: Backends) -> None:
        self.o, self.backends = o, backends
        self.dir = o.workdir / "pki"
        self.dir.mkdir()
        self.ca = pki.ca("server CA")
        self.client_ca = pki.ca("client CA")
        self.member_ca = pki.ca("member CA")
        self.one = pki.issue(self.ca, ONE, [ONE])
        self.two = pki.issue(self.ca, TWO, [TWO], kind="rsa")
        self.three = pki.issue(self.ca, THREE, [ONE, THREE])
        self.client = pki.issue(self.client_ca, "client one", client=True)
        self.revoked = pki.issue(self.client_ca, "client two", client=True)
        self.ostium_client = pki.issue(self.member_ca, "ostium", client=True)
        self.member = pki.issue(self.member_ca, "member", ["member.example.test"])
        self.files = {
            "ca": self.write("ca.pem", self.ca.cert_pem),
            "client": self.write("client.pem", self.client.cert_pem + self.client.key_pem),
            "revoked": self.write("revoked.pem", self.revoked.cert_pem + self.revoked.key_pem),
            "member": self.write("member.pem", self.member.cert_pem + self.member.key_pem),
            "member_ca": self.write("member_ca.pem", self.member_ca.cert_pem),
        }
        self.http = httpx.Client(base_url=o.url, timeout=30)
        self.lb: dict[str, Any] = {}
        self.listeners: dict[int, dict[str, Any]] = {}
        self.pools: dict[str, dict[str, Any]] = {}
        self.refs: dict[str, str] = {}

    def write(self, name: str, data: bytes) -> str:
        path = self.dir / name
        path.write_bytes(data)
        path.chmod(0o600)
        return str(path)

    def store(self, name: str, payload: bytes) -> str:
        body = {
            "name": name,
            "payload": base64.b64encode(payload).decode(),
            "payload_content_type": "application/octet-stream",
            "payload_content_encoding": "base64",
        }
        r = self.http.post("/v1/secrets", json=body)
        assert r.status_code == 201, r.text
        self.refs[name] = r.json()["secret_ref"]
        return self.refs[name]

    @property
    def vip(self) -> str:
        return str(self.lb["vip_address"])


def tls_request(
    vip: str,
    port: int,
    host: str,
    cafile: str,
    path: str = "/",
    cert: str | None = None,
    alpn: list[str] | None = None,
) -> tuple[int, str, str, str | None]:
    """One HTTPS request on a new connection: (status, body, server certificate CN, ALPN)."""
    ctx = ssl.create_default_context(cafile=cafile)
    if cert:
        ctx.load_cert_chain(cert)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    raw = socket.create_connection((vip, port), timeout=5)
    with raw, ctx.wrap_socket(raw, server_hostname=host) as tls:
        peer = tls.getpeercert() or {}
        cn = dict(x[0] for x in peer.get("subject", ()))["commonName"]
        chosen = tls.selected_alpn_protocol()
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
    return int(head.split()[1]), body.strip(), cn, chosen


def refused(*args: Any, **kw: Any) -> bool:
    try:
        status, _, _, _ = tls_request(*args, **kw)
    except (ssl.SSLError, OSError):
        return True
    return status != 200


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    backends = Backends(BACK, prefix="ostt-t", count=3)
    o = Ostium([VIP, BACK], name_prefix="ostt")
    left: list[str] = []
    member: subprocess.Popen[bytes] | None = None
    w: World | None = None
    try:
        o.start("serve")
        w = World(o, backends)
        member = _https_member(w)
        _build(w)
        yield w
    finally:
        if w is not None:
            w.http.close()
        if member is not None:
            member.kill()
            member.wait()
        left = o.shutdown()
        backends.destroy()
        o.remove_workdir()
        sh("ip", "link", "del", VIP.bridge)
    assert left == [], f"ostium left things behind: {left}"


def _https_member(w: World) -> subprocess.Popen[bytes]:
    """An HTTPS server next to backend 3 that requires a client certificate from the
    member CA (it answers its name, `ostt-t3s`)."""
    b = w.backends[3]
    argv = [
        "ip",
        "netns",
        "exec",
        b.namespace,
        sys.executable,
        "-m",
        "ostium.devtools.demo_backends",
        "serve",
        "--name",
        "ostt-t3s",
        "--bind",
        b.address,
        "--port",
        str(HTTPS_MEMBER_PORT),
        "--tls-cert",
        w.files["member"],
        "--tls-client-ca",
        w.files["member_ca"],
    ]
    return subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _build(w: World) -> None:
    p12 = w.store("one", w.one.p12([w.ca.cert]))
    cert = w.store("two-cert", w.two.cert_pem)
    key = w.store("two-key", w.two.key_pem)
    r = w.http.post(
        "/v1/containers",
        json={
            "name": "two",
            "type": "certificate",
            "secret_refs": [
                {"name": "certificate", "secret_ref": cert},
                {"name": "private_key", "secret_ref": key},
            ],
        },
    )
    assert r.status_code == 201, r.text
    two = w.refs["two"] = r.json()["container_ref"]
    client_ca = w.store("client-ca", w.client_ca.cert_pem)
    crl = w.store("crl", pki.crl(w.client_ca, [w.revoked.cert]))
    member_ca = w.store("member-ca", w.member_ca.cert_pem)
    w.store("wrong-ca", w.ca.cert_pem)
    ostium_client = w.store("ostium-client", w.ostium_client.p12())
    a = [{"address": w.backends.address(i), "protocol_port": 8080} for i in (1, 2)]
    pools = [
        {"name": "p1", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": [a[0]]},
        {"name": "p2", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": [a[1]]},
        {
            "name": "tls",
            "protocol": "HTTP",
            "lb_algorithm": "ROUND_ROBIN",
            "tls_enabled": True,
            "tls_container_ref": ostium_client,
            "ca_tls_container_ref": member_ca,
            "members": [{"address": w.backends.address(3), "protocol_port": HTTPS_MEMBER_PORT}],
            # a TLS-HELLO check inherits the server's TLS: a full handshake, both ways checked
            "healthmonitor": {"type": "TLS-HELLO", "delay": 1, "timeout": 1, "max_retries": 1},
        },
    ]
    headers = {
        h: "true"
        for h in (
            "X-SSL-Client-CN",
            "X-SSL-Client-DN",
            "X-SSL-Client-Verify",
            "X-SSL-Client-Has-Cert",
            "X-Forwarded-Proto",
        )
    }
    listeners = [
        {
            "protocol": "TERMINATED_HTTPS",
            "protocol_port": 443,
            "default_pool": {"name": "p1"},
            "default_tls_container_ref": p12,
            "sni_container_refs": [two],
        },
        {
            "protocol": "TERMINATED_HTTPS",
            "protocol_port": 8443,
            "default_pool": {"name": "p1"},
            "default_tls_container_ref": p12,
            "client_authentication": "MANDATORY",
            "client_ca_tls_container_ref": client_ca,
            "client_crl_container_ref": crl,
            "insert_headers": headers,
            "hsts_max_age": 100,
            "hsts_include_subdomains": True,
        },
        {
            "protocol": "TERMINATED_HTTPS",
            "protocol_port": 9443,
            "default_pool": {"name": "p1"},
            "default_tls_container_ref": p12,
            "client_authentication": "OPTIONAL",
            "client_ca_tls_container_ref": client_ca,
            "l7policies": [
                {
                    "action": "REDIRECT_TO_POOL",
                    "redirect_pool": {"name": "p2"},
                    "rules": [
                        {
                            "type": "SSL_DN_FIELD",
                            "compare_type": "EQUAL_TO",
                            "key": "CN",
                            "value": "client one",
                        },
                        {"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "0"},
                    ],
                }
            ],
        },
        {"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "tls"}},
        {"protocol": "PROMETHEUS", "protocol_port": 9100, "allowed_cidrs": [f"{VIP.host(1)}/32"]},
    ]
    subnet = w.o.api.subnet_id(VIP.subnet_name)
    w.lb = w.o.api.create_lb(subnet, wait=False, listeners=listeners, pools=pools)
    w.o.api.wait_active(w.lb["id"], timeout=60)
    r = w.http.get("/v2/lbaas/listeners", params={"loadbalancer_id": w.lb["id"]})
    w.listeners = {li["protocol_port"]: li for li in r.json()["listeners"]}
    r = w.http.get("/v2/lbaas/pools", params={"loadbalancer_id": w.lb["id"]})
    w.pools = {p["name"]: p for p in r.json()["pools"]}


# ------------------------------------------------------------------ the tests, in order


def test_sni_picks_the_certificate_by_name(world: World) -> None:
    w, ca = world, world.files["ca"]
    assert tls_request(w.vip, 443, ONE, ca)[:3] == (200, "ostt-t1", ONE)
    assert tls_request(w.vip, 443, TWO, ca)[:3] == (200, "ostt-t1", TWO)
    # no match: the default certificate (hostname check off to see which one it is)
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    raw = socket.create_connection((w.vip, 443), timeout=5)
    with raw, ctx.wrap_socket(raw, server_hostname="bogus.example.test") as tls:
        subject = dict(x[0] for x in (tls.getpeercert() or {})["subject"])
    assert subject["commonName"] == ONE


def s_client(w: World, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    """`openssl s_client` to the VIP with SNI one.example.test (every TLS version and
    cipher allowed on the client side, so a refusal is the server's)."""
    return subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"{w.vip}:{port}",
            "-servername",
            ONE,
            "-CAfile",
            w.files["ca"],
            "-cipher",
            "DEFAULT:@SECLEVEL=0",
            *args,
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=20,
    )


def test_old_tls_versions_refused_by_default_allowed_on_request(world: World) -> None:
    w = world
    assert s_client(w, 443, "-tls1_2").returncode == 0
    assert s_client(w, 443, "-tls1_3").returncode == 0
    for version in ("-tls1", "-tls1_1"):
        proc = s_client(w, 443, version)
        assert proc.returncode != 0 and "alert protocol version" in proc.stdout + proc.stderr
    li = w.listeners[9443]
    body = {
        "tls_versions": ["TLSv1.1", "TLSv1.2"],
        "tls_ciphers": "ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0",
    }
    r = w.http.put(f"/v2/lbaas/listeners/{li['id']}", json={"listener": body})
    assert r.status_code == 200, r.text
    w.o.api.wait_active(w.lb["id"])
    proc = s_client(w, 9443, "-tls1_1")
    assert proc.returncode == 0 and "Protocol  : TLSv1.1" in proc.stdout, proc.stdout[-500:]
    assert s_client(w, 9443, "-tls1_3").returncode != 0
    reset = {"tls_versions": None, "tls_ciphers": None}
    r = w.http.put(f"/v2/lbaas/listeners/{li['id']}", json={"listener": reset})
    assert r.json()["listener"]["tls_versions"] == ["TLSv1.2", "TLSv1.3"]
    w.o.api.wait_active(w.lb["id"])
    assert s_client(w, 9443, "-tls1_1").returncode != 0


def test_h2_through_alpn_with_curl(world: World) -> None:
    w = world
    out = sh(
        "curl",
        "-s",
        "--http2",
        "--cacert",
        w.files["ca"],
        "--resolve",
        f"{ONE}:443:{w.vip}",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version}",
        f"https://{ONE}/",
    ).stdout
    assert out == "2"
    # a client that offers only HTTP/1.1 gets it
    assert tls_request(w.vip, 443, ONE, w.files["ca"], alpn=["http/1.1"])[3] == "http/1.1"


def test_client_certificates_mandatory_crl_and_headers(world: World) -> None:
    w, ca = world, world.files["ca"]
    assert refused(w.vip, 8443, ONE, ca)  # no certificate
    assert refused(w.vip, 8443, ONE, ca, cert=w.files["revoked"])  # revoked by the CRL
    status, body, _, _ = tls_request(w.vip, 8443, ONE, ca, "/headers", cert=w.files["client"])
    assert status == 200
    seen = {k.lower(): v for k, v in json.loads(body).items()}
    assert seen["x-ssl-client-cn"].strip('"') == "client one"
    assert "CN=client one" in seen["x-ssl-client-dn"]
    assert (seen["x-ssl-client-verify"], seen["x-ssl-client-has-cert"]) == ("0", "1")
    assert seen["x-forwarded-proto"] == "https"
    out = sh(
        "curl",
        "-s",
        "-D",
        "-",
        "-o",
        "/dev/null",
        "--cacert",
        ca,
        "--cert",
        w.files["client"],
        "--resolve",
        f"{ONE}:8443:{w.vip}",
        f"https://{ONE}:8443/",
    ).stdout
    assert "strict-transport-security: max-age=100; includeSubDomains;" in out.lower().replace(
        "includesubdomains", "includeSubDomains"
    )


def test_ssl_rules_route_by_client_certificate(world: World) -> None:
    w, ca = world, world.files["ca"]
    assert tls_request(w.vip, 9443, ONE, ca)[1] == "ostt-t1"  # no certificate: default pool
    assert tls_request(w.vip, 9443, ONE, ca, cert=w.files["client"])[1] == "ostt-t2"


def member_status(w: World) -> str:
    r = w.http.get(f"/v2/lbaas/pools/{w.pools['tls']['id']}/members")
    return str(r.json()["members"][0]["operating_status"])


def test_reencryption_checks_both_sides(world: World) -> None:
    """:80 -> pool `tls` -> an HTTPS member that requires ostium's client certificate;
    with a CA that did not sign the member's certificate, haproxy refuses the member
    (traffic and the TLS-HELLO health check alike)."""
    w = world
    url = f"http://{w.vip}/"
    wait_for(
        lambda: httpx.get(url, timeout=3).text.strip() == "ostt-t3s",
        20,
        0.2,
        "re-encrypted answer from the HTTPS member",
    )
    wait_for(lambda: member_status(w) == "ONLINE", 20, 0.2, "the TLS-HELLO check passing")
    pool = w.pools["tls"]
    r = w.http.put(
        f"/v2/lbaas/pools/{pool['id']}", json={"pool": {"ca_tls_container_ref": w.refs["wrong-ca"]}}
    )
    assert r.status_code == 200, r.text
    w.o.api.wait_active(w.lb["id"])
    assert httpx.get(url, timeout=5).status_code == 503
    wait_for(lambda: member_status(w) == "ERROR", 20, 0.2, "the TLS-HELLO check failing")
    r = w.http.put(
        f"/v2/lbaas/pools/{pool['id']}",
        json={"pool": {"ca_tls_container_ref": w.refs["member-ca"]}},
    )
    w.o.api.wait_active(w.lb["id"])
    wait_for(lambda: httpx.get(url, timeout=3).status_code == 200, 20, 0.2, "member back")


def test_prometheus_listener_answers_prometheus_text(world: World) -> None:
    w = world
    r = httpx.get(f"http://{w.vip}:9100/metrics", timeout=5)
    assert r.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    frontends = {s.labels.get("proxy") for s in families["haproxy_frontend_connections"].samples}
    assert w.listeners[443]["id"] in frontends


def test_secrets_in_use_cannot_be_deleted(world: World) -> None:
    w = world
    for name in ("one", "two", "client-ca", "crl", "member-ca", "ostium-client"):
        kind = "containers" if "/containers/" in w.refs[name] else "secrets"
        r = w.http.delete(f"/v1/{kind}/{w.refs[name].rsplit('/', 1)[1]}")
        assert r.status_code == 409, (name, r.text)


def test_rotation_under_load_has_no_failure(world: World) -> None:
    w, ca = world, world.files["ca"]
    three = w.store("three", w.three.p12([w.ca.cert]))
    results: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                status, _, cn, _ = tls_request(w.vip, 443, ONE, ca)
                results.append(cn if status == 200 else f"status {status}")
            except (ssl.SSLError, OSError) as exc:
                results.append(repr(exc))

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(results) > 10, 20, 0.05, "traffic before the change")
        li = w.listeners[443]
        r = w.http.put(
            f"/v2/lbaas/listeners/{li['id']}",
            json={"listener": {"default_tls_container_ref": three}},
        )
        assert r.status_code == 200, r.text
        w.o.api.wait_active(w.lb["id"])
        wait_for(lambda: THREE in results[-3:], 20, 0.05, "the new certificate served")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
    failures = [x for x in results if x not in (ONE, THREE)]
    assert failures == [], failures[:5]


def test_keys_only_in_private_files(world: World) -> None:
    """The private keys pasted into secrets appear nowhere in the state directory or the
    logs, except in the amphora's 0600 TLS files."""
    w = world
    markers = []
    for issued in (w.one, w.two, w.three, w.ostium_client):
        body = issued.key_pem.decode().splitlines()[1]  # a line of the key itself
        markers.append(body.encode())
    found_private = 0
    for path in [*w.o.workdir.rglob("*")]:
        if not path.is_file() or path.is_relative_to(w.dir):
            continue
        data = path.read_bytes()
        if any(m in data for m in markers):
            assert path.parent.name == "tls", path
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
            assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700, path
            found_private += 1
    assert found_private >= 2  # the default/SNI certificates and ostium's client certificate
    spec = next(w.o.state_dir.rglob("spec.json")).read_text()
    assert "PRIVATE KEY" not in spec and "tls_files" in spec


def test_delete_removes_the_material(world: World) -> None:
    w = world
    w.o.api.delete_lb(w.lb["id"])
    left = [p for p in w.o.state_dir.rglob("*.pem") if p.parent.name == "tls"]
    assert left == []
