"""TLS on the agent side: material files (0600, content-named, pruned), crt-lists, the
haproxy options rendered for TERMINATED_HTTPS, PROMETHEUS, pool re-encryption and SSL
L7 rules, all accepted by `haproxy -c` with real certificates; material never in the
spec as saved on disk."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path
from typing import Any

from agent_spec_factory import assert_valid, listener, pool, spec, uid
from pydantic import SecretStr
from tests import pki

from ostium.agent import tls_files
from ostium.agent.render import RenderContext, render_haproxy
from ostium.model.spec import REVEAL, AmphoraSpec


def _file(pem: str) -> dict[str, Any]:
    return {"id": hashlib.sha1(pem.encode()).hexdigest(), "pem": pem}


def _material() -> dict[str, Any]:
    issuer = pki.ca()
    a = pki.issue(issuer, "a.example.test", ["a.example.test"])
    b = pki.issue(issuer, "b.example.test", ["b.example.test"], kind="rsa")
    client_ca = pki.ca("client CA")
    revoked = pki.issue(client_ca, "revoked", client=True)
    return {
        "a": _file((a.cert_pem + a.key_pem).decode()),
        "b": _file((b.cert_pem + b.key_pem).decode()),
        "ca": _file(client_ca.cert_pem.decode()),
        "crl": _file(pki.crl(client_ca, [revoked.cert]).decode()),
    }


def _tls_spec(mat: dict[str, Any]) -> AmphoraSpec:
    p = pool(
        tls={
            "certificate": mat["a"]["id"],
            "ca": mat["ca"]["id"],
            "crl": mat["crl"]["id"],
            "ciphers": "ECDHE-ECDSA-AES128-GCM-SHA256:TLS_AES_128_GCM_SHA256",
            "versions": ["TLSv1.2", "TLSv1.3"],
            "alpn": ["h2", "http/1.1"],
        },
        healthmonitor={
            "id": uid(),
            "type": "TLS-HELLO",
            "delay": 5,
            "timeout": 3,
            "max_retries": 2,
        },
    )
    rule = {
        "id": uid(),
        "type": "SSL_DN_FIELD",
        "compare_type": "EQUAL_TO",
        "key": "CN",
        "value": "client one",
    }
    verify = {"id": uid(), "type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "0"}
    has = {"id": uid(), "type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "true"}
    https = listener(
        "TERMINATED_HTTPS",
        443,
        default_pool_id=p["id"],
        insert_headers={
            "X-SSL-Client-CN": "true",
            "X-SSL-Client-Verify": "true",
            "X-Forwarded-Proto": "true",
        },
        l7policies=[{"id": uid(), "action": "REJECT", "position": 1, "rules": [rule, verify, has]}],
        tls={
            "certificates": [mat["a"]["id"], mat["b"]["id"]],
            "client_authentication": "OPTIONAL",
            "client_ca": mat["ca"]["id"],
            "client_crl": mat["crl"]["id"],
            "ciphers": "ECDHE-ECDSA-AES128-GCM-SHA256:TLS_AES_256_GCM_SHA384",
            "versions": ["TLSv1.2", "TLSv1.3"],
            "alpn": ["h2", "http/1.1"],
            "hsts_max_age": 100,
            "hsts_include_subdomains": True,
            "hsts_preload": True,
        },
    )
    prom = listener("PROMETHEUS", 9100, allowed_cidrs=["198.18.0.0/24"])
    return spec([https, prom], [p], tls_files=list(mat.values()))


def test_tls_config_is_valid_and_files_are_private(tmp_path: Path) -> None:
    mat = _material()
    s = _tls_spec(mat)
    amp_dir = tmp_path / "amp"
    amp_dir.mkdir()
    tls_files.write(amp_dir, s)
    d = tls_files.tls_dir(amp_dir)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    files = sorted(d.iterdir())
    assert len(files) == 5  # four PEM files and one crt-list
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    ctx = RenderContext(stats_socket=str(tmp_path / "stats.sock"), tls_dir=str(d))
    text = render_haproxy(s, ctx)
    assert "-----BEGIN" not in text  # material stays in its files
    bind = next(line for line in text.splitlines() if "bind " in line and ":443" in line)
    for word in (
        "ssl crt-list",
        "verify optional",
        "crl-file",
        "alpn h2,http/1.1",
        "ciphers ECDHE-ECDSA-AES128-GCM-SHA256",
        "ciphersuites TLS_AES_256_GCM_SHA384",
        "ssl-min-ver TLSv1.2",
        "ssl-max-ver TLSv1.3",
    ):
        assert word in bind, word
    assert 'Strict-Transport-Security "max-age=100; includeSubDomains; preload;"' in text
    assert "X-SSL-Client-CN %{+Q}[ssl_c_s_dn(cn)]" in text
    assert "X-Forwarded-Proto https" in text
    assert "ssl_c_s_dn(CN) -m str" in text and "ssl_c_verify eq 0" in text
    assert "use-service prometheus-exporter" in text
    server = next(line for line in text.splitlines() if line.strip().startswith("server "))
    assert "ssl crt" in server and "verify required" in server and "sni ssl_fc_sni" in server
    assert "ssl-hello-chk" not in text
    assert_valid(text, tmp_path)
    crtlist = next(f for f in files if f.suffix == ".crtlist").read_text().splitlines()
    assert crtlist == [str(d / f"{mat['a']['id']}.pem"), str(d / f"{mat['b']['id']}.pem")]


def test_rotation_prunes_old_files(tmp_path: Path) -> None:
    mat = _material()
    s = _tls_spec(mat)
    tls_files.write(tmp_path, s)
    issuer = pki.ca()
    c = pki.issue(issuer, "c.example.test")
    new = _file((c.cert_pem + c.key_pem).decode())
    data = s.model_dump(context=REVEAL)
    data["listeners"][0]["tls"]["certificates"] = [new["id"]]
    data["tls_files"] = [f for f in data["tls_files"] if f["id"] != mat["b"]["id"]] + [new]
    s2 = AmphoraSpec.model_validate(data)
    tls_files.write(tmp_path, s2)
    tls_files.prune(tmp_path, s2)
    names = {f.name for f in tls_files.tls_dir(tmp_path).iterdir()}
    assert f"{new['id']}.pem" in names and f"{mat['b']['id']}.pem" not in names
    assert len([n for n in names if n.endswith(".crtlist")]) == 1


def test_material_is_masked_unless_revealed(tmp_path: Path) -> None:
    mat = _material()
    s = _tls_spec(mat)
    key_marker = "PRIVATE KEY"
    assert key_marker not in s.model_dump_json()
    assert key_marker not in repr(s)
    assert key_marker in s.model_dump_json(context=REVEAL)
    on_disk = s.model_dump_json(exclude={"tls_files": {"__all__": {"pem"}}})
    assert key_marker not in on_disk
    reloaded = AmphoraSpec.model_validate_json(on_disk)
    assert all(f.pem is None for f in reloaded.tls_files)
    tls_files.write(tmp_path, s)
    tls_files.write(tmp_path, reloaded)  # files already on disk: fine
    assert all("pem" not in f for f in json.loads(on_disk)["tls_files"])
    assert isinstance(s.tls_files[0].pem, SecretStr)
