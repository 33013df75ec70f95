"""The built-in key-manager API (Barbican v1 subset) through the ASGI app: shapes,
project scoping, payload types, encryption at rest, and the 409 on a secret in use."""

from __future__ import annotations

import base64
import stat

from sqlalchemy import text

from tests import pki
from tests.api.conftest import Api, make_token

JSON = {"Content-Type": "application/json"}


def _store(api: Api, payload: bytes, **fields: object) -> str:
    body = {
        "payload": base64.b64encode(payload).decode(),
        "payload_content_type": "application/octet-stream",
        "payload_content_encoding": "base64",
        **fields,
    }
    r = api.post("/v1/secrets/", body, headers=JSON)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == r.json()["secret_ref"]
    return str(r.json()["secret_ref"])


def test_discovery_both_shapes(api: Api) -> None:
    r = api.get("/", headers={"OpenStack-API-Version": "key-manager 1.1"})
    assert r.status_code == 300
    v = r.json()["versions"][0]
    assert (v["id"], v["min_version"], v["max_version"]) == ("v1", "1.0", "1.1")
    r = api.get("/", headers={"OpenStack-API-Version": "key-manager 1.0"})
    assert r.json()["versions"]["values"][0]["status"] == "stable"
    assert api.get("/").json()["versions"][-1]["id"] == "v2.30"  # Octavia's, unchanged


def test_the_catalog_endpoint_key_manager_discovers_v1_and_serves_it(api: Api) -> None:
    # keystoneauth reads the catalog endpoint's root without Barbican's header first.
    r = api.get("/key-manager")
    assert r.status_code == 300, r.text
    (v1,) = r.json()["versions"]["values"]
    assert v1["id"] == "v1" and v1["links"][0]["href"].endswith("/key-manager/v1/")
    r = api.get("/key-manager/", headers={"OpenStack-API-Version": "key-manager 1.1"})
    assert r.json()["versions"][0]["max_version"] == "1.1"
    r = api.post("/key-manager/v1/secrets", {"payload": "hi", "payload_content_type": "text/plain"})
    assert r.status_code == 201, r.text
    ref = r.json()["secret_ref"]
    assert "/key-manager/v1/secrets/" in ref
    sid = ref.rsplit("/", 1)[1]
    payload = api.get(f"/key-manager/v1/secrets/{sid}/payload", headers={"Accept": "text/plain"})
    assert payload.text == "hi"
    assert api.get(f"/v1/secrets/{sid}").json()["secret_ref"].endswith(f"/v1/secrets/{sid}")
    assert api.get("/key-manager/v1/secrets/nope").status_code == 404


def test_secret_walk_and_payload_types(api: Api) -> None:
    ref = _store(api, b"\xff\xfebinary", name="bin")
    sid = ref.rsplit("/", 1)[1]
    meta = api.get(f"/v1/secrets/{sid}").json()
    assert meta["content_types"] == {"default": "application/octet-stream"}
    assert (meta["name"], meta["status"], meta["secret_type"]) == ("bin", "ACTIVE", "opaque")
    r = api.get(f"/v1/secrets/{sid}/payload", headers={"Accept": "application/octet-stream"})
    assert r.content == b"\xff\xfebinary"
    assert (
        api.get(f"/v1/secrets/{sid}/payload", headers={"Accept": "text/plain"}).status_code == 406
    )
    r = api.post(
        "/v1/secrets",
        {"payload": "hello", "payload_content_type": "text/plain"},
        headers=JSON,
    )
    tid = r.json()["secret_ref"].rsplit("/", 1)[1]
    r = api.get(f"/secrets/{tid}/payload", headers={"Accept": "text/plain"})  # root alias
    assert r.text == "hello"
    # two-step store
    r = api.post("/v1/secrets", {"name": "later"}, headers=JSON)
    lid = r.json()["secret_ref"].rsplit("/", 1)[1]
    assert "content_types" not in api.get(f"/v1/secrets/{lid}").json()
    r = api.put(f"/v1/secrets/{lid}", b"late", headers={"Content-Type": "text/plain"})
    assert r.status_code == 204
    r = api.put(f"/v1/secrets/{lid}", b"again", headers={"Content-Type": "text/plain"})
    assert r.status_code == 409
    listing = api.get("/v1/secrets?limit=2").json()
    assert listing["total"] == 3 and len(listing["secrets"]) == 2 and "next" in listing
    assert api.get("/v1/secrets?name=later").json()["total"] == 1
    assert api.delete(f"/v1/secrets/{lid}").status_code == 204
    r = api.get(f"/v1/secrets/{lid}")
    assert r.status_code == 404
    assert r.json() == {"code": 404, "title": "Not Found", "description": "Secret not found."}
    assert api.get("/v1/secrets/not-a-uuid").status_code == 404


def test_bad_secret_input(api: Api) -> None:
    bad = [
        ({"payload": ""}, 400),
        ({"payload": "x", "payload_content_type": "image/png"}, 400),
        ({"payload": "x", "payload_content_type": "application/octet-stream"}, 400),
        (
            {
                "payload": "!!",
                "payload_content_type": "application/octet-stream",
                "payload_content_encoding": "base64",
            },
            400,
        ),
        ({"payload_content_type": "text/plain"}, 400),
        ({"secret_type": "nope"}, 400),
        ({"expiration": "2001-01-01T00:00:00"}, 400),
        ({"payload": "x" * 20001, "payload_content_type": "text/plain"}, 413),
    ]
    for body, status in bad:
        r = api.post("/v1/secrets", body, headers=JSON)
        assert r.status_code == status, (body, r.text)
        assert set(r.json()) == {"code", "title", "description"}
    assert api.post("/v1/secrets", b"{", headers=JSON).status_code == 400
    r = api.post("/v1/secrets", b"{}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


def test_containers_and_consumers(api: Api) -> None:
    issuer = pki.ca()
    leaf = pki.issue(issuer, "www.example.test")
    cert = _store(api, leaf.cert_pem)
    key = _store(api, leaf.key_pem)
    body = {
        "name": "tls",
        "type": "certificate",
        "secret_refs": [
            {"name": "certificate", "secret_ref": cert},
            {"name": "private_key", "secret_ref": key},
        ],
    }
    r = api.post("/v1/containers/", body, headers=JSON)
    assert r.status_code == 201, r.text
    cid = r.json()["container_ref"].rsplit("/", 1)[1]
    shown = api.get(f"/v1/containers/{cid}").json()
    assert shown["type"] == "certificate"
    assert {e["name"]: e["secret_ref"] for e in shown["secret_refs"]} == {
        "certificate": cert,
        "private_key": key,
    }
    consumer = {"name": "lb", "URL": "http://x/lb"}
    r = api.post(f"/v1/containers/{cid}/consumers", consumer, headers=JSON)
    assert r.status_code == 200 and r.json()["consumers"] == [consumer]
    r = api.req("DELETE", f"/v1/containers/{cid}/consumers", consumer, headers=JSON)
    assert r.status_code == 200 and r.json()["consumers"] == []
    dup = {**body, "secret_refs": [body["secret_refs"][0], body["secret_refs"][0]]}  # type: ignore[index]
    assert api.post("/v1/containers", dup, headers=JSON).status_code == 400
    nocert = {**body, "secret_refs": [body["secret_refs"][1]]}  # type: ignore[index]
    assert api.post("/v1/containers", nocert, headers=JSON).status_code == 400
    assert api.get("/v1/containers").json()["total"] == 1
    assert api.delete(f"/v1/containers/{cid}").status_code == 204


def test_project_scoping_and_encryption_at_rest(token_api: Api) -> None:
    api = token_api
    alice = make_token(api.db, "p1", "member")
    bob = make_token(api.db, "p2", "member")
    reader = make_token(api.db, "p1", "reader")
    api.headers = {"X-Auth-Token": alice}
    marker = b"-----BEGIN PRIVATE KEY----- alice-only-marker"
    ref = _store(api, marker)
    sid = ref.rsplit("/", 1)[1]
    assert api.get("/v1/secrets", headers={"X-Auth-Token": ""}).status_code == 401
    api.headers = {"X-Auth-Token": bob}
    assert api.get(f"/v1/secrets/{sid}").status_code == 404
    assert api.get(f"/v1/secrets/{sid}/payload").status_code == 404
    assert api.get("/v1/secrets").json()["total"] == 0
    assert api.delete(f"/v1/secrets/{sid}").status_code == 404
    api.headers = {"X-Auth-Token": reader}
    assert api.get(f"/v1/secrets/{sid}/payload").content == marker
    assert api.post("/v1/secrets", {"name": "x"}, headers=JSON).status_code == 403
    with api.db.read() as s:
        stored = s.execute(text("SELECT payload FROM secret")).scalars().all()
    assert stored and all(b"alice-only-marker" not in str(p).encode() for p in stored)
    key_file = api.settings.state_dir / "secrets.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
