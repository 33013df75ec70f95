"""Bad input gets a clear 400 naming the field and value; nothing that could break out
of a haproxy config line is accepted."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api

HOSTILE = [
    "a\nb",
    "a\rb",
    "x\n  bind :8080",
    "tab\there",
    "nul\x00",
    "del\x7f",
    "end\n}\nbackend evil",
    "\u0085next-line",
]


def test_coercions_clients_rely_on(api: Api) -> None:
    lb = api.lb(admin_state_up="on")
    assert lb["admin_state_up"] is True
    r = api.post(
        "/v2/lbaas/listeners",
        {
            "listener": {
                "loadbalancer_id": lb["id"],
                "protocol": "HTTP",
                "protocol_port": "8080",
                "connection_limit": "100",
                "admin_state_up": None,
            }
        },
    )
    assert r.status_code == 201
    li = r.json()["listener"]
    assert li["protocol_port"] == 8080 and li["admin_state_up"] is False


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"protocol": "HTTP", "protocol_port": "eighty"}, "protocol_port"),
        ({"protocol": "HTTP", "protocol_port": 0}, "greater or equal to 1"),
        ({"protocol": "HTTP", "protocol_port": 70000}, "lower or equal to 65535"),
        ({"protocol": "HTTP", "protocol_port": True}, "protocol_port"),
        ({"protocol": "QUIC", "protocol_port": 80}, "Value should be one of"),
        ({"protocol": "HTTP", "protocol_port": 80, "admin_state_up": "maybe"}, "unambiguous"),
        ({"protocol": "HTTP", "protocol_port": 80, "name": 5}, "name"),
        ({"protocol": "HTTP", "protocol_port": 80, "name": "x" * 256}, "maximum character"),
        ({"protocol": "HTTP", "protocol_port": 80, "frobnicate": 1}, "Unknown attribute"),
        (
            {"protocol": "HTTP", "protocol_port": 80, "insert_headers": {"X-Forwarded-For": True}},
            "insert_headers",
        ),
        ({"protocol": "HTTP", "protocol_port": 80, "insert_headers": {"X-Evil": "true"}}, "X-Evil"),
        (
            {
                "protocol": "HTTP",
                "protocol_port": 80,
                "insert_headers": {"X-Forwarded-For": "true\nhttp-request deny"},
            },
            "insert_headers",
        ),
        (
            {"protocol": "TCP", "protocol_port": 80, "insert_headers": {"X-Forwarded-For": "true"}},
            "insert-headers is not a valid option for a TCP protocol listener.",
        ),
        (
            {"protocol": "HTTP", "protocol_port": 80, "allowed_cidrs": ["10.0.0.0/33"]},
            "10.0.0.0/33",
        ),
        ({"protocol": "HTTP", "protocol_port": 80, "allowed_cidrs": ["::/0"]}, "IP version"),
        ({"protocol": "HTTP", "protocol_port": 80, "timeout_client_data": -1}, "greater or equal"),
        (
            {"protocol": "HTTP", "protocol_port": 80, "default_tls_container_ref": "x"},
            "Certificate container references are not allowed on HTTP protocol listeners.",
        ),
    ],
)
def test_listener_bad_input(api: Api, body: dict[str, object], fragment: str) -> None:
    lb = api.lb()
    r = api.post("/v2/lbaas/listeners", {"listener": {"loadbalancer_id": lb["id"], **body}})
    assert r.status_code == 400, r.text
    assert fragment in r.json()["faultstring"]
    assert api.lb_status(lb["id"]) == "ACTIVE"


@pytest.mark.parametrize("value", HOSTILE)
def test_control_characters_are_refused_everywhere(api: Api, value: str) -> None:
    s = api.stack()
    pool = s["pool"]
    cases = [
        (
            "POST",
            "/v2/lbaas/loadbalancers",
            {"loadbalancer": {"vip_subnet_id": api.subnet_id, "name": value}},
        ),
        ("PUT", f"/v2/lbaas/loadbalancers/{s['lb']['id']}", {"loadbalancer": {"tags": [value]}}),
        ("PUT", f"/v2/lbaas/listeners/{s['listener']['id']}", {"listener": {"description": value}}),
        (
            "PUT",
            f"/v2/lbaas/pools/{pool['id']}",
            {"pool": {"session_persistence": {"type": "APP_COOKIE", "cookie_name": value}}},
        ),
        (
            "POST",
            f"/v2/lbaas/pools/{pool['id']}/members",
            {"member": {"address": "198.18.1.1", "protocol_port": 80, "name": value}},
        ),
        (
            "POST",
            "/v2/lbaas/healthmonitors",
            {
                "healthmonitor": {
                    "pool_id": pool["id"],
                    "type": "HTTP",
                    "delay": 1,
                    "timeout": 1,
                    "max_retries": 1,
                    "url_path": "/" + value,
                }
            },
        ),
        (
            "POST",
            "/v2/lbaas/healthmonitors",
            {
                "healthmonitor": {
                    "pool_id": pool["id"],
                    "type": "HTTP",
                    "delay": 1,
                    "timeout": 1,
                    "max_retries": 1,
                    "http_version": 1.1,
                    "domain_name": value,
                }
            },
        ),
        (
            "POST",
            "/v2/lbaas/l7policies",
            {
                "l7policy": {
                    "listener_id": s["listener"]["id"],
                    "action": "REDIRECT_TO_URL",
                    "redirect_url": "http://example.com/" + value,
                }
            },
        ),
        (
            "POST",
            "/v2/lbaas/l7policies",
            {
                "l7policy": {
                    "listener_id": s["listener"]["id"],
                    "action": "REDIRECT_PREFIX",
                    "redirect_prefix": "https://" + value,
                }
            },
        ),
    ]
    for method, path, body in cases:
        r = api.req(method, path, body)
        assert r.status_code == 400, (path, body, r.text)
        assert r.json()["faultcode"] == "Client"
    assert api.lb_status(s["lb"]["id"]) == "ACTIVE"


@pytest.mark.parametrize(
    ("rule", "ok"),
    [
        ({"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"}, True),
        ({"type": "PATH", "compare_type": "STARTS_WITH", "value": "/a b"}, False),
        ({"type": "PATH", "compare_type": "STARTS_WITH", "value": '"/a b"'}, True),
        ({"type": "PATH", "compare_type": "EQUAL_TO", "value": "/x\n"}, False),
        ({"type": "PATH", "compare_type": "REGEX", "value": "^/(a|b"}, False),
        ({"type": "PATH", "compare_type": "REGEX", "value": "^/(a|b)$"}, True),
        ({"type": "FILE_TYPE", "compare_type": "CONTAINS", "value": "jpg"}, False),
        ({"type": "HEADER", "compare_type": "EQUAL_TO", "value": "v"}, False),
        ({"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X Bad", "value": "v"}, False),
        ({"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X-It's", "value": "v"}, False),
        ({"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X#y", "value": "v"}, False),
        ({"type": "COOKIE", "compare_type": "EQUAL_TO", "key": "sid", "value": "a;b"}, False),
        ({"type": "COOKIE", "compare_type": "EQUAL_TO", "key": "sid", "value": "abc"}, True),
        ({"type": "HOST_NAME", "compare_type": "ENDS_WITH", "value": ".example.com"}, True),
        # as in Octavia: accepted on any L7 listener (never matches without TLS)
        ({"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "true"}, True),
        ({"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "yes"}, False),
    ],
)
def test_l7_rule_matrix(api: Api, rule: dict[str, str], ok: bool) -> None:
    s = api.stack()
    pol = api.child(
        "/v2/lbaas/l7policies", "l7policy", {"listener_id": s["listener"]["id"], "action": "REJECT"}
    )
    r = api.post(f"/v2/lbaas/l7policies/{pol['id']}/rules", {"rule": rule})
    assert (r.status_code == 201) is ok, r.text
    if not ok:
        assert r.status_code == 400


def test_health_monitor_rules(api: Api) -> None:
    s = api.stack()
    pid = s["pool"]["id"]
    base = {"pool_id": pid, "delay": 5, "timeout": 3, "max_retries": 3}
    cases = [
        ({"type": "TCP", "http_method": "GET"}, "http_method is not a valid option"),
        ({"type": "HTTP", "expected_codes": "2xx"}, "expected_codes"),
        ({"type": "HTTP", "domain_name": "a.example"}, "'http_version' must be specified"),
        ({"type": "HTTP", "http_version": 1.0, "domain_name": "a.example"}, "1.1"),
        ({"type": "HTTP", "http_version": "2"}, "http_version"),
        ({"type": "UDP-CONNECT"}, "UDP"),
        ({"type": "HTTP", "url_path": "http://evil/"}, "url_path"),
        ({"type": "HTTP", "max_retries": 11}, "lower or equal to 10"),
    ]
    for extra, fragment in cases:
        r = api.post("/v2/lbaas/healthmonitors", {"healthmonitor": {**base, **extra}})
        assert r.status_code == 400, (extra, r.text)
        assert fragment in r.json()["faultstring"], (extra, r.text)


def test_l7_policy_rules(api: Api) -> None:
    s = api.stack()
    lid = s["listener"]["id"]
    for body, fragment in [
        ({"action": "REDIRECT_TO_URL"}, "redirect_url must not be None"),
        ({"action": "REDIRECT_TO_URL", "redirect_url": "ftp://x/"}, "redirect_url"),
        ({"action": "REDIRECT_TO_URL", "redirect_url": 'http://x/"y'}, "redirect_url"),
        (
            {"action": "REDIRECT_TO_URL", "redirect_url": "http://x/", "redirect_http_code": 305},
            "redirect_http_code",
        ),
        (
            {
                "action": "REDIRECT_TO_POOL",
                "redirect_pool_id": s["pool"]["id"],
                "redirect_url": "http://x/",
            },
            "at the same time",
        ),
        ({"action": "REJECT", "position": 0}, "position"),
    ]:
        r = api.post("/v2/lbaas/l7policies", {"l7policy": {"listener_id": lid, **body}})
        assert r.status_code == 400, (body, r.text)
        assert fragment in r.json()["faultstring"], (body, r.text)
