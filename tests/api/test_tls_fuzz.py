"""Hostile TLS input (hypothesis): cipher strings, version and ALPN lists, SSL_DN_FIELD
keys and values, and key-manager bodies. The API answers 201/200 or a 4xx, never a 500,
and whatever it accepts renders into a haproxy.cfg that `haproxy -c` accepts with the
user's text staying inside its word (the TLS material files written for real)."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ostium.agent import tls_files
from ostium.agent.haproxy_process import check_config
from ostium.agent.render import RenderContext, render_haproxy
from ostium.control.db import models as m
from ostium.control.worker import spec_builder
from tests import pki
from tests.api.conftest import Api

JSON = {"Content-Type": "application/json"}
HOSTILE = st.one_of(
    st.text(alphabet="ABCDEFGHIJKLMNOP-+!:@=_.0123456789", max_size=40),
    st.sampled_from(["", " ", "a b", "x\ny", '"', "#", "%[src]", "${X}", "\\", "é", "\x00"]),
    st.text(max_size=12),
)
FUZZ = settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _store(api: Api, payload: bytes) -> str:
    body = {
        "payload": base64.b64encode(payload).decode(),
        "payload_content_type": "application/octet-stream",
        "payload_content_encoding": "base64",
    }
    return str(api.post("/v1/secrets", body, headers=JSON).json()["secret_ref"])


def _check_render(api: Api, lb_id: str, tmp: Path) -> None:
    with api.db.read() as session:
        row = session.get(m.LoadBalancer, lb_id)
        assert row is not None
        spec = spec_builder.build(api.settings, row, row.amphorae[0].id, row.generation, {})
    amp_dir = tmp / "amp"
    amp_dir.mkdir(exist_ok=True)
    tls_files.write(amp_dir, spec)
    ctx = RenderContext(
        stats_socket=str(tmp / "stats.sock"), tls_dir=str(tls_files.tls_dir(amp_dir))
    )
    cfg = tmp / "haproxy.cfg"
    cfg.write_text(render_haproxy(spec, ctx))
    check_config("haproxy", cfg)


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_hostile_tls_fields(api: Api, tmp_path: Path) -> None:
    issuer = pki.ca()
    ref = _store(api, pki.issue(issuer, "www.example.test").p12())
    lb = api.lb()
    li = api.child(
        "/v2/lbaas/listeners",
        "listener",
        {
            "loadbalancer_id": lb["id"],
            "protocol": "TERMINATED_HTTPS",
            "protocol_port": 443,
            "default_tls_container_ref": ref,
        },
    )
    pol = api.child(
        "/v2/lbaas/l7policies", "l7policy", {"listener_id": li["id"], "action": "REJECT"}
    )

    @FUZZ
    @given(
        ciphers=HOSTILE,
        versions=st.lists(st.sampled_from(["TLSv1", "TLSv1.2", "TLSv1.3", "x", ""]), max_size=3),
        alpn=st.lists(st.sampled_from(["h2", "http/1.1", "spdy", ""]), max_size=3),
        dn_key=HOSTILE,
        dn_value=HOSTILE,
    )
    def check(
        ciphers: str, versions: list[str], alpn: list[str], dn_key: str, dn_value: str
    ) -> None:
        body: dict[str, Any] = {
            "tls_ciphers": ciphers,
            "tls_versions": versions,
            "alpn_protocols": alpn,
        }
        r = api.put(f"/v2/lbaas/listeners/{li['id']}", {"listener": body})
        assert r.status_code in (200, 400), r.text
        api.settle()
        rule = {
            "type": "SSL_DN_FIELD",
            "compare_type": "EQUAL_TO",
            "key": dn_key,
            "value": dn_value,
        }
        r = api.post(f"/v2/lbaas/l7policies/{pol['id']}/rules", {"rule": rule})
        assert r.status_code in (201, 400), r.text
        api.settle()
        assert api.lb_status(lb["id"]) == "ACTIVE"
        _check_render(api, lb["id"], tmp_path)

    check()


def test_hostile_secret_bodies(api: Api) -> None:
    @FUZZ
    @given(
        body=st.dictionaries(
            st.sampled_from(
                [
                    "payload",
                    "payload_content_type",
                    "payload_content_encoding",
                    "name",
                    "secret_type",
                    "bit_length",
                    "expiration",
                    "algorithm",
                ]
            ),
            st.one_of(st.none(), st.booleans(), st.integers(), HOSTILE, st.lists(HOSTILE)),
            max_size=5,
        )
    )
    def check(body: dict[str, Any]) -> None:
        r = api.post("/v1/secrets", body, headers=JSON)
        assert r.status_code in (201, 400, 413), (body, r.text)
        r = api.post("/v1/containers", {"type": "certificate", "secret_refs": [body]}, headers=JSON)
        assert r.status_code in (400, 404), (body, r.text)

    check()
