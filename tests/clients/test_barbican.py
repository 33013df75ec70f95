"""The real key-manager clients against `ostium serve`: the `openstack secret ...` CLI
(python-barbicanclient's plugin) and barbicanclient's Python API, in token mode (the
Octavia API's own tokens and project scoping), with `--os-endpoint` set to the API's
URL as a user with ostium's single endpoint would."""

from __future__ import annotations

import base64
from collections.abc import Callable

import httpx
import pytest
from barbicanclient import client as barbican
from barbicanclient import exceptions as barbican_errors
from keystoneauth1 import session as ks_session
from keystoneauth1.token_endpoint import Token

from tests import pki
from tests.clients.conftest import Cli, Ostium

J = ["-f", "json"]


@pytest.fixture(scope="module")
def server(ostium_server: Callable[[str], Ostium]) -> Ostium:
    s = ostium_server("token")
    s.make_tokens(("P", "member"), ("Q", "member"))
    return s


def test_cli_walk(server: Ostium) -> None:
    cli = Cli(server.url, "admin_token", server.token("P", "member"))
    issuer = pki.ca()
    leaf = pki.issue(issuer, "www.example.test", ["www.example.test"])
    p12 = base64.b64encode(leaf.p12()).decode()
    text, cert, key, bundle = cli.batch(
        ["secret", "store", "--name", "greeting", "--payload", "hello-there", *J],
        [
            "secret",
            "store",
            "--name",
            "cert",
            "-t",
            "application/octet-stream",
            "-e",
            "base64",
            "--payload",
            base64.b64encode(leaf.cert_pem).decode(),  # one line: the batch session reads lines
            *J,
        ],
        [
            "secret",
            "store",
            "--name",
            "key",
            "-t",
            "application/octet-stream",
            "-e",
            "base64",
            "--payload",
            base64.b64encode(leaf.key_pem).decode(),  # one line: the batch session reads lines
            *J,
        ],
        [
            "secret",
            "store",
            "--name",
            "tls",
            "-t",
            "application/octet-stream",
            "-e",
            "base64",
            "--payload",
            p12,
            *J,
        ],
    )
    refs = {d["Name"]: d["Secret href"] for d in (text, cert, key, bundle)}
    assert all("/v1/secrets/" in r for r in refs.values())
    container, greeting, pem, listed, containers = cli.batch(
        [
            "secret",
            "container",
            "create",
            "--name",
            "tls-container",
            "--type",
            "certificate",
            "--secret",
            f"certificate={refs['cert']}",
            "--secret",
            f"private_key={refs['key']}",
            *J,
        ],
        ["secret", "get", "--payload", refs["greeting"], *J],
        ["secret", "get", "--payload", refs["cert"], *J],
        ["secret", "list", *J],
        ["secret", "container", "list", *J],
    )
    assert container["Type"] == "certificate"
    assert greeting["Payload"] == "hello-there"
    assert pem["Payload"].strip() == leaf.cert_pem.decode().strip()
    assert {s["Name"] for s in listed} == {"greeting", "cert", "key", "tls"}
    assert [c["Name"] for c in containers] == ["tls-container"]
    # the PKCS12 secret is a valid default_tls_container_ref (the API reads it at once)
    headers = {"X-Auth-Token": server.token("P", "member")}

    subnet = httpx.get(f"{server.url}/v2.0/subnets?name=vip-subnet", headers=headers).json()
    lb = httpx.post(
        f"{server.url}/v2/lbaas/loadbalancers",
        json={"loadbalancer": {"vip_subnet_id": subnet["subnets"][0]["id"]}},
        headers=headers,
    ).json()["loadbalancer"]
    server.wait_lb(lb["id"], server.token("P", "member"))
    for ref in (refs["tls"], container["Container href"]):
        r = httpx.post(
            f"{server.url}/v2/lbaas/listeners",
            json={
                "listener": {
                    "loadbalancer_id": lb["id"],
                    "protocol": "TERMINATED_HTTPS",
                    "protocol_port": 443 if ref == refs["tls"] else 8443,
                    "default_tls_container_ref": ref,
                }
            },
            headers=headers,
        )
        assert r.status_code == 201, r.text
        server.wait_lb(lb["id"], server.token("P", "member"))
    other = Cli(server.url, "admin_token", server.token("Q", "member"))
    in_use, deleted = cli.run_many(
        ["secret", "delete", refs["tls"]], ["secret", "delete", refs["greeting"]]
    )
    foreign_list, foreign_get = other.run_many(
        ["secret", "list", *J], ["secret", "get", "--payload", refs["key"]]
    )
    assert in_use.returncode != 0 and "in use" in in_use.stderr + in_use.stdout
    assert deleted.returncode == 0, str(deleted)
    names = [
        x["name"] for x in httpx.get(f"{server.url}/v1/secrets", headers=headers).json()["secrets"]
    ]
    assert "greeting" not in names and "tls" in names
    # another project sees none of it
    assert foreign_list.returncode == 0 and foreign_list.json == []
    assert foreign_get.returncode != 0 and "PRIVATE KEY" not in foreign_get.stdout
    assert "PRIVATE KEY" not in server.log.read_text(errors="replace")


def test_python_api_and_consumers(server: Ostium) -> None:
    sess = ks_session.Session(auth=Token(server.url, server.token("P", "member")))
    km = barbican.Client(session=sess, endpoint=server.url)
    secret = km.secrets.create(name="bytes", payload=b"\x00\xffbinary")
    ref = secret.store()
    assert km.secrets.get(ref).payload == b"\x00\xffbinary"
    cert = km.secrets.create(name="c", payload="cert text")
    cont = km.containers.create_certificate(name="cc", certificate=cert)
    cref = cont.store()
    km.containers.register_consumer(cref, "lb", "http://example.test/lb/1")
    assert [c["name"] for c in km.containers.get(cref).consumers] == ["lb"]
    km.containers.remove_consumer(cref, "lb", "http://example.test/lb/1")
    assert km.containers.get(cref).consumers == []
    km.containers.delete(cref)
    km.secrets.delete(ref)
    with pytest.raises(barbican_errors.HTTPClientError):
        km.secrets.get(ref).payload  # noqa: B018
