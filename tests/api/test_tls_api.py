"""TERMINATED_HTTPS, PROMETHEUS and pool re-encryption at the API: Octavia's defaults and
400s for refs and TLS options, the 409 on a secret in use, SSL L7 rule checks."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from tests import pki
from tests.api.conftest import Api, make_token

JSON = {"Content-Type": "application/json"}
DEFAULT_VERSIONS = ["TLSv1.2", "TLSv1.3"]


def store(api: Api, payload: bytes, **headers: str) -> str:
    body = {
        "payload": base64.b64encode(payload).decode(),
        "payload_content_type": "application/octet-stream",
        "payload_content_encoding": "base64",
    }
    r = api.post("/v1/secrets", body, headers={**JSON, **headers})
    assert r.status_code == 201, r.text
    return str(r.json()["secret_ref"])


def container(api: Api, cert: str, key: str) -> str:
    body = {
        "type": "certificate",
        "secret_refs": [
            {"name": "certificate", "secret_ref": cert},
            {"name": "private_key", "secret_ref": key},
        ],
    }
    r = api.post("/v1/containers", body, headers=JSON)
    assert r.status_code == 201, r.text
    return str(r.json()["container_ref"])


@pytest.fixture
def pkiset() -> dict[str, Any]:
    issuer = pki.ca()
    client_ca = pki.ca("client CA")
    other_ca = pki.ca("other CA")
    return {
        "ca": issuer,
        "server": pki.issue(issuer, "www.example.test", ["www.example.test"]),
        "other": pki.issue(issuer, "other.example.test"),
        "client_ca": client_ca,
        "crl": pki.crl(client_ca, []),
        "other_crl": pki.crl(other_ca, []),
    }


def _listener(api: Api, lb_id: str, **fields: Any) -> Any:
    body = {"loadbalancer_id": lb_id, "protocol": "TERMINATED_HTTPS", "protocol_port": 443}
    return api.post("/v2/lbaas/listeners", {"listener": {**body, **fields}})


def test_terminated_https_defaults_refs_and_409(api: Api, pkiset: dict[str, Any]) -> None:
    p12 = store(api, pkiset["server"].p12([pkiset["ca"].cert]))
    cont = container(api, store(api, pkiset["other"].cert_pem), store(api, pkiset["other"].key_pem))
    ca_ref = store(api, pkiset["client_ca"].cert_pem)
    crl_ref = store(api, pkiset["crl"])
    lb = api.lb()
    r = _listener(
        api,
        lb["id"],
        default_tls_container_ref=p12,
        sni_container_refs=[cont],
        client_authentication="MANDATORY",
        client_ca_tls_container_ref=ca_ref,
        client_crl_container_ref=crl_ref,
        insert_headers={"X-SSL-Client-CN": "true"},
    )
    assert r.status_code == 201, r.text
    li = r.json()["listener"]
    assert li["tls_versions"] == DEFAULT_VERSIONS
    assert li["alpn_protocols"] == ["h2", "http/1.1", "http/1.0"]
    assert li["tls_ciphers"].startswith("TLS_AES_128_GCM_SHA256:")
    assert li["sni_container_refs"] == [cont]
    assert (li["hsts_max_age"], li["hsts_preload"]) == (None, False)
    api.settle()  # the worker resolves the refs into the spec
    assert api.lb_status(lb["id"]) == "ACTIVE"
    for ref in (p12, cont, ca_ref, crl_ref):
        kind = "containers" if "/containers/" in ref else "secrets"
        r = api.delete(f"/v1/{kind}/{ref.rsplit('/', 1)[1]}")
        assert r.status_code == 409, (ref, r.text)
        assert li["id"] in r.json()["description"]
    # a secret inside a used container is in use too
    cert_of_cont = api.get(f"/v1/containers/{cont.rsplit('/', 1)[1]}").json()["secret_refs"][0]
    assert (
        api.delete(f"/v1/secrets/{cert_of_cont['secret_ref'].rsplit('/', 1)[1]}").status_code == 409
    )
    # update: HSTS and a new version list; null resets to the default
    r = api.put(
        f"/v2/lbaas/listeners/{li['id']}",
        {"listener": {"hsts_max_age": 100, "hsts_preload": True, "tls_versions": ["TLSv1.3"]}},
    )
    assert r.status_code == 200, r.text
    api.settle()
    r = api.put(f"/v2/lbaas/listeners/{li['id']}", {"listener": {"tls_versions": None}})
    assert r.json()["listener"]["tls_versions"] == DEFAULT_VERSIONS
    api.settle()
    assert api.delete(f"/v2/lbaas/listeners/{li['id']}").status_code == 204
    api.settle()
    assert api.delete(f"/v1/secrets/{p12.rsplit('/', 1)[1]}").status_code == 204


def test_bad_refs_are_400(api: Api, pkiset: dict[str, Any], token_api: Api) -> None:
    lb = api.lb()
    mismatched = container(
        api, store(api, pkiset["server"].cert_pem), store(api, pkiset["other"].key_pem)
    )
    missing = "http://localhost:9311/v1/secrets/" + "0" * 8 + "-0000-4000-8000-" + "0" * 12
    garbage = store(api, b"not a pkcs12 bundle")
    r = _listener(api, lb["id"], default_tls_container_ref=mismatched, sni_container_refs=[missing])
    assert r.status_code == 400
    assert r.json()["faultstring"] == f"Could not retrieve certificate: {[missing, mismatched]!r}"
    r = _listener(api, lb["id"], default_tls_container_ref=garbage)
    assert r.status_code == 400 and "PKCS12 bundle is unreadable" in r.json()["faultstring"]
    good = store(api, pkiset["server"].p12())
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "An SNI or default certificate container reference must be provided for"),
        (
            {"default_tls_container_ref": good, "client_authentication": "OPTIONAL"},
            "requires a client CA container reference",
        ),
        (
            {"default_tls_container_ref": good, "client_crl_container_ref": good},
            "A client authentication CA reference is required",
        ),
        (
            {"default_tls_container_ref": good, "client_ca_tls_container_ref": garbage},
            "The client authentication CA certificate is invalid",
        ),
        (
            {
                "default_tls_container_ref": good,
                "client_ca_tls_container_ref": store(api, pkiset["client_ca"].cert_pem),
                "client_crl_container_ref": store(api, pkiset["other_crl"]),
            },
            "The CRL specified is not valid",
        ),
        ({"default_tls_container_ref": good, "tls_versions": []}, "Empty TLS version list"),
        ({"default_tls_container_ref": good, "tls_versions": ["TLSv1.4"]}, "Invalid TLS versions"),
        ({"default_tls_container_ref": good, "alpn_protocols": []}, "Empty ALPN protocol list"),
        ({"default_tls_container_ref": good, "alpn_protocols": ["spdy"]}, "valid ALPN protocol"),
        ({"default_tls_container_ref": good, "tls_ciphers": "A B"}, "Invalid characters"),
        ({"default_tls_container_ref": good, "hsts_preload": True}, "only make sense"),
        (
            {"default_tls_container_ref": good, "insert_headers": {"X-SSL-Bogus": "true"}},
            "insert_headers",
        ),
    ]
    for fields, message in cases:
        r = _listener(api, lb["id"], **fields)
        assert r.status_code == 400, (fields, r.text)
        assert message in r.json()["faultstring"], (fields, r.text)
    http = {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80}
    for fields, message in [
        ({"default_tls_container_ref": good}, "not allowed on HTTP protocol listeners"),
        ({"hsts_max_age": 5}, "only be used for listeners using the TERMINATED_HTTPS"),
        ({"insert_headers": {"X-SSL-Client-DN": "true"}}, "not a valid option for HTTP"),
    ]:
        r = api.post("/v2/lbaas/listeners", {"listener": {**http, **fields}})
        assert r.status_code == 400 and message in r.json()["faultstring"], r.text
    assert api.lb_status(lb["id"]) == "ACTIVE"
    # another project's secret is as good as missing
    t = token_api
    t.headers = {"X-Auth-Token": make_token(t.db, "p1", "member")}
    foreign = store(t, pkiset["server"].p12())
    t.headers = {"X-Auth-Token": make_token(t.db, "p2", "member")}
    lb2 = t.lb()
    r = _listener(t, lb2["id"], default_tls_container_ref=foreign)
    assert r.status_code == 400 and foreign in r.json()["faultstring"]


def test_prometheus_pools_and_ssl_rules(api: Api, pkiset: dict[str, Any]) -> None:
    lb = api.lb()
    prom = api.child(
        "/v2/lbaas/listeners",
        "listener",
        {
            "loadbalancer_id": lb["id"],
            "protocol": "PROMETHEUS",
            "protocol_port": 9100,
            "allowed_cidrs": ["198.18.0.0/24"],
        },
    )
    assert prom["tls_versions"] is None  # no TLS defaults without a certificate
    r = api.post(
        "/v2/lbaas/pools",
        {"pool": {"listener_id": prom["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}},
    )
    assert r.status_code == 400 and "cannot have child objects" in r.json()["faultstring"]
    ca_ref = store(api, pkiset["ca"].cert_pem)
    client = store(api, pkiset["other"].p12())
    pool = api.child(
        "/v2/lbaas/pools",
        "pool",
        {
            "loadbalancer_id": lb["id"],
            "protocol": "HTTP",
            "lb_algorithm": "ROUND_ROBIN",
            "tls_enabled": True,
            "ca_tls_container_ref": ca_ref,
            "tls_container_ref": client,
        },
    )
    assert pool["tls_versions"] == DEFAULT_VERSIONS and pool["alpn_protocols"]
    r = api.put(
        f"/v2/lbaas/pools/{pool['id']}",
        {"pool": {"crl_container_ref": store(api, pkiset["other_crl"])}},
    )
    assert r.status_code == 400 and "CRL specified is not valid" in r.json()["faultstring"]
    r = api.post(
        "/v2/lbaas/pools",
        {
            "pool": {
                "loadbalancer_id": lb["id"],
                "protocol": "HTTP",
                "lb_algorithm": "ROUND_ROBIN",
                "crl_container_ref": ca_ref,
            }
        },
    )
    assert r.status_code == 400 and "CA certificate reference is required" in r.text
    api.child(
        "/v2/lbaas/healthmonitors",
        "healthmonitor",
        {"pool_id": pool["id"], "type": "TLS-HELLO", "delay": 5, "timeout": 3, "max_retries": 2},
    )
    good = store(api, pkiset["server"].p12())
    li = api.child(
        "/v2/lbaas/listeners",
        "listener",
        {
            "loadbalancer_id": lb["id"],
            "protocol": "TERMINATED_HTTPS",
            "protocol_port": 443,
            "default_tls_container_ref": good,
            "default_pool_id": pool["id"],
        },
    )
    pol = api.child(
        "/v2/lbaas/l7policies", "l7policy", {"listener_id": li["id"], "action": "REJECT"}
    )
    path = f"/v2/lbaas/l7policies/{pol['id']}/rules"
    for body, ok in [
        ({"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "True"}, True),
        ({"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "no"}, False),
        ({"type": "SSL_CONN_HAS_CERT", "compare_type": "REGEX", "value": "true"}, False),
        ({"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "0"}, True),
        ({"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "-1"}, False),
        (
            {"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "0", "key": "x"},
            False,
        ),
        ({"type": "SSL_DN_FIELD", "compare_type": "STARTS_WITH", "key": "CN", "value": "a"}, True),
        ({"type": "SSL_DN_FIELD", "compare_type": "EQUAL_TO", "key": "C N", "value": "a"}, False),
        ({"type": "SSL_DN_FIELD", "compare_type": "EQUAL_TO", "value": "a"}, False),
    ]:
        r = api.post(path, {"rule": body})
        assert (r.status_code == 201) == ok, (body, r.text)
        if ok:
            api.settle()
    assert api.lb_status(lb["id"]) == "ACTIVE"


def test_container_with_intermediates_and_passphrase(api: Api, pkiset: dict[str, Any]) -> None:
    leaf = pkiset["server"]
    encrypted = leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret"),
    )

    def cont(passphrase: bytes) -> str:
        refs = [
            ("certificate", store(api, leaf.cert_pem)),
            ("private_key", store(api, encrypted)),
            ("intermediates", store(api, pkiset["ca"].cert_pem)),
            ("private_key_passphrase", store(api, passphrase)),
        ]
        body = {
            "type": "certificate",
            "secret_refs": [{"name": n, "secret_ref": r} for n, r in refs],
        }
        return str(api.post("/v1/containers", body, headers=JSON).json()["container_ref"])

    lb = api.lb()
    good, bad = cont(b"s3cret"), cont(b"wrong")
    assert _listener(api, lb["id"], default_tls_container_ref=bad).status_code == 400
    assert _listener(api, lb["id"], default_tls_container_ref=good).status_code == 201
    api.settle()
    assert api.lb_status(lb["id"]) == "ACTIVE"
