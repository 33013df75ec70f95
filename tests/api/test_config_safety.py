"""From the API to haproxy.cfg: values the API accepts, however odd, render into a
configuration that `haproxy -c` accepts, and names/descriptions/tags never reach it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ostium.agent.haproxy_process import check_config
from ostium.agent.render import RenderContext, render_haproxy
from ostium.control.db import models as m
from ostium.control.worker import spec_builder
from tests.api.conftest import Api

ODD_NAME = "web'\"; } backend evil {# %[src] \\ ünï"


@pytest.mark.skipif(
    shutil.which("haproxy") is None,
    reason="haproxy is not installed (make test installs it as root)",
)
def test_accepted_values_render_a_valid_inert_config(api: Api, tmp_path: Path) -> None:
    lb = api.lb(name=ODD_NAME, description=ODD_NAME, tags=[ODD_NAME])
    li = api.child(
        "/v2/lbaas/listeners",
        "listener",
        {
            "loadbalancer_id": lb["id"],
            "protocol": "HTTP",
            "protocol_port": 80,
            "name": ODD_NAME,
            "insert_headers": {"X-Forwarded-For": "true", "X-Forwarded-Proto": "True"},
        },
    )
    pool = api.child(
        "/v2/lbaas/pools",
        "pool",
        {
            "listener_id": li["id"],
            "protocol": "HTTP",
            "lb_algorithm": "ROUND_ROBIN",
            "name": ODD_NAME,
            "session_persistence": {"type": "APP_COOKIE", "cookie_name": "sess-id.v2"},
        },
    )
    api.child(
        f"/v2/lbaas/pools/{pool['id']}/members",
        "member",
        {"address": "198.18.1.10", "protocol_port": 80, "name": ODD_NAME},
    )
    api.child(
        "/v2/lbaas/healthmonitors",
        "healthmonitor",
        {
            "pool_id": pool["id"],
            "type": "HTTP",
            "delay": 2,
            "timeout": 1,
            "max_retries": 2,
            "url_path": "/health;v=1/%7Euser?x=a&y='b'",
            "expected_codes": "200, 202",
            "http_version": 1.1,
            "domain_name": "health.example.com",
            "name": ODD_NAME,
        },
    )
    for action, extra in [
        (
            "REDIRECT_TO_URL",
            {"redirect_url": "https://example.com/a?b=c&d=%20#frag", "redirect_http_code": 308},
        ),
        ("REDIRECT_PREFIX", {"redirect_prefix": "https://user@example.com:8443"}),
        ("REJECT", {}),
        ("REDIRECT_TO_POOL", {"redirect_pool_id": pool["id"]}),
    ]:
        pol = api.child(
            "/v2/lbaas/l7policies",
            "l7policy",
            {
                "listener_id": li["id"],
                "action": action,
                "name": ODD_NAME,
                "description": ODD_NAME,
                **extra,
            },
        )
        for rule in [
            {"type": "PATH", "compare_type": "REGEX", "value": r"^/(a|b)\.php{1,2}[#;]$"},
            {"type": "HOST_NAME", "compare_type": "EQUAL_TO", "value": '"quoted host"'},
            {"type": "HEADER", "compare_type": "CONTAINS", "key": "X-It~s", "value": "a'b%[src]"},
            {"type": "COOKIE", "compare_type": "STARTS_WITH", "key": "sid", "value": "x{y}#"},
            {"type": "FILE_TYPE", "compare_type": "EQUAL_TO", "value": "jpg", "invert": True},
        ]:
            api.child(f"/v2/lbaas/l7policies/{pol['id']}/rules", "rule", rule)
    assert api.lb_status(lb["id"]) == "ACTIVE"
    with api.db.read() as session:
        row = session.get(m.LoadBalancer, lb["id"])
        assert row is not None
        spec = spec_builder.build(api.settings, row, row.amphorae[0].id, row.generation, {})
    text = render_haproxy(spec, RenderContext(stats_socket=str(tmp_path / "stats.sock")))
    assert "evil" not in text and "ünï" not in text
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text)
    check_config("haproxy", cfg)
