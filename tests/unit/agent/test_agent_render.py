"""Rendered haproxy configs for every supported feature, each checked with `haproxy -c`."""

from __future__ import annotations

from pathlib import Path

import pytest
from agent_spec_factory import assert_valid, listener, member, pool, render, simple, spec, uid

from ostium.agent.errors import InvalidSpec


def lines_of(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines()]


def test_http_round_robin_basics(tmp_path: Path) -> None:
    s = simple(
        connection_limit=100,
        timeout_client_data=1000,
        timeout_member_connect=2000,
        timeout_member_data=3000,
        timeout_tcp_inspect=400,
    )
    text = render(s)
    assert_valid(text, tmp_path)
    lst = s.listeners[0]
    ls = lines_of(text)
    assert f"frontend {lst.id}" in ls
    assert "mode http" in ls
    assert "bind 198.18.0.10:80" in ls
    assert "maxconn 100" in ls
    assert "timeout client 1000" in ls
    assert "tcp-request inspect-delay 400" in ls
    assert "timeout connect 2000" in ls and "timeout server 3000" in ls
    assert "balance roundrobin" in ls
    assert f"default_backend {s.pools[0].id}:{lst.id}" in ls
    for m in s.pools[0].members:
        assert f"server {m.id} {m.address}:8080 weight 1" in ls


def test_unlimited_connections_and_fd_cap(tmp_path: Path) -> None:
    text = render(simple(connection_limit=-1))
    assert_valid(text, tmp_path)
    ls = lines_of(text)
    assert "maxconn 50000" in ls  # frontend default
    assert "maxconn 9000" in ls  # global, capped by the host fd limit


@pytest.mark.parametrize(
    ("protocol", "pool_protocol", "mode"),
    [
        ("TCP", "TCP", "tcp"),
        ("HTTPS", "HTTPS", "tcp"),
        ("TCP", "HTTP", "tcp"),
        ("HTTP", "PROXY", "http"),
        ("HTTP", "PROXYV2", "http"),
    ],
)
def test_protocol_modes(tmp_path: Path, protocol: str, pool_protocol: str, mode: str) -> None:
    p = pool(pool_protocol)
    text = render(spec([listener(protocol, 443, default_pool_id=p["id"])], [p]))
    assert_valid(text, tmp_path)
    assert text.count(f"mode {mode}") == 2
    if pool_protocol == "PROXY":
        assert "send-proxy" in text
    if pool_protocol == "PROXYV2":
        assert "send-proxy-v2" in text


def test_http_listener_refuses_tcp_pool() -> None:
    p = pool("TCP")
    with pytest.raises(InvalidSpec, match="cannot serve"):
        render(spec([listener("HTTP", default_pool_id=p["id"])], [p]))


@pytest.mark.parametrize("protocol", ["UDP", "SCTP"])
def test_udp_and_sctp_listeners_never_reach_haproxy(tmp_path: Path, protocol: str) -> None:
    p = pool(protocol)
    text = render(spec([listener(protocol, 80, default_pool_id=p["id"]), listener("TCP", 80)], [p]))
    assert_valid(text, tmp_path)
    assert text.count("frontend ") == 1 and p["id"] not in text


def test_terminated_https_needs_a_certificate() -> None:
    with pytest.raises(InvalidSpec, match="needs a certificate"):
        render(spec([listener("TERMINATED_HTTPS")], []))


@pytest.mark.parametrize(
    ("algorithm", "balance"),
    [("ROUND_ROBIN", "roundrobin"), ("LEAST_CONNECTIONS", "leastconn"), ("SOURCE_IP", "source")],
)
def test_algorithms(tmp_path: Path, algorithm: str, balance: str) -> None:
    p = pool(algorithm=algorithm)
    text = render(spec([listener(default_pool_id=p["id"])], [p]))
    assert_valid(text, tmp_path)
    assert f"balance {balance}" in lines_of(text)


def test_source_ip_port_refused() -> None:
    p = pool(algorithm="SOURCE_IP_PORT")
    with pytest.raises(InvalidSpec):
        render(spec([listener(default_pool_id=p["id"])], [p]))


def test_insert_headers(tmp_path: Path) -> None:
    headers = {"X-Forwarded-For": "true", "X-Forwarded-Port": "True", "X-Forwarded-Proto": "true"}
    text = render(simple(insert_headers=headers))
    assert_valid(text, tmp_path)
    ls = lines_of(text)
    assert "option forwardfor" in ls
    assert "http-request set-header X-Forwarded-Port %[dst_port]" in ls
    assert "http-request set-header X-Forwarded-Proto http" in ls
    text = render(simple(insert_headers={"X-Forwarded-For": "false"}))
    assert "forwardfor" not in text


@pytest.mark.parametrize(
    ("persistence", "expected"),
    [
        ({"type": "SOURCE_IP"}, ["stick-table type ipv6 size 10k", "stick on src"]),
        ({"type": "HTTP_COOKIE"}, ["cookie SRV insert indirect nocache"]),
        (
            {"type": "APP_COOKIE", "cookie_name": "JSESSIONID"},
            ["stick store-response res.cook(JSESSIONID)", "stick match req.cook(JSESSIONID)"],
        ),
    ],
)
def test_session_persistence(
    tmp_path: Path, persistence: dict[str, str], expected: list[str]
) -> None:
    p = pool(session_persistence=persistence)
    s = spec([listener(default_pool_id=p["id"])], [p])
    text = render(s)
    assert_valid(text, tmp_path)
    for line in expected:
        assert line in lines_of(text)
    if persistence["type"] == "HTTP_COOKIE":
        assert f"cookie {s.pools[0].members[0].id}" in text


def test_member_options(tmp_path: Path) -> None:
    members = [
        member(weight=0),
        member("198.18.1.12", backup=True),
        member("198.18.1.13", admin_state_up=False),
        member("198.18.1.14", monitor_address="198.18.1.99", monitor_port=9000),
        member("2001:db8::5", 80),
    ]
    hm = {
        "id": uid(),
        "type": "TCP",
        "delay": 5,
        "timeout": 3,
        "max_retries": 2,
        "max_retries_down": 4,
    }
    p = pool(members=members, healthmonitor=hm)
    s = spec([listener(default_pool_id=p["id"])], [p])
    text = render(s)
    assert_valid(text, tmp_path)
    ids = [m.id for m in s.pools[0].members]
    ls = {ln.split()[1]: ln for ln in lines_of(text) if ln.startswith("server ")}
    assert "weight 0" in ls[ids[0]]
    assert ls[ids[1]].endswith("backup")
    assert ls[ids[2]].endswith("disabled")
    assert "check inter 5s fall 4 rise 2 addr 198.18.1.99 port 9000" in ls[ids[3]]
    assert "[2001:db8::5]:80" in ls[ids[4]]
    assert "timeout check 3s" in lines_of(text)


@pytest.mark.parametrize(
    ("hm", "expected"),
    [
        (
            {"type": "HTTP"},
            ["option httpchk", 'http-check send meth GET uri "/"', "http-check expect status 200"],
        ),
        (
            {
                "type": "HTTP",
                "http_method": "HEAD",
                "url_path": "/health",
                "http_version": 1.1,
                "domain_name": "example.com",
                "expected_codes": "200, 202",
            },
            [
                'http-check send meth HEAD uri "/health" ver HTTP/1.1 hdr Host "example.com"',
                'http-check expect rstatus "^(200|202)\\$"',
            ],
        ),
        (
            {"type": "HTTPS", "expected_codes": "200-202"},
            ['http-check expect rstatus "^(200|201|202)\\$"', "check-ssl verify none"],
        ),
        ({"type": "TLS-HELLO"}, ["option ssl-hello-chk"]),
        ({"type": "TCP"}, ["check inter 3s fall 3 rise 2"]),
        ({"type": "PING"}, ["check inter 3s fall 3 rise 2"]),
    ],
)
def test_health_monitors(tmp_path: Path, hm: dict[str, object], expected: list[str]) -> None:
    protocol = "HTTPS" if hm["type"] in ("HTTPS", "TLS-HELLO") else "HTTP"
    full = {"id": uid(), "delay": 3, "timeout": 2, "max_retries": 2, **hm}
    p = pool(protocol, healthmonitor=full)
    lst = listener("TCP" if protocol == "HTTPS" else "HTTP", default_pool_id=p["id"])
    text = render(spec([lst], [p]))
    assert_valid(text, tmp_path)
    for fragment in expected:
        assert fragment in text
    assert "external-check" not in text


def test_disabled_health_monitor_renders_no_checks(tmp_path: Path) -> None:
    hm = {
        "id": uid(),
        "type": "HTTP",
        "delay": 3,
        "timeout": 2,
        "max_retries": 2,
        "admin_state_up": False,
    }
    p = pool(healthmonitor=hm)
    text = render(spec([listener(default_pool_id=p["id"])], [p]))
    assert_valid(text, tmp_path)
    assert "check" not in text.replace("http-check", "").split("backend", 1)[1]


def test_bad_expected_codes_refused() -> None:
    hm = {
        "id": uid(),
        "type": "HTTP",
        "delay": 3,
        "timeout": 2,
        "max_retries": 2,
        "expected_codes": "200\nfrontend evil",
    }
    p = pool(healthmonitor=hm)
    with pytest.raises(InvalidSpec, match="expected_codes"):
        render(spec([listener(default_pool_id=p["id"])], [p]))


def test_l7_policies_in_position_order(tmp_path: Path) -> None:
    main, other = pool(), pool()

    def rule(type_: str, compare: str, value: str, **kw: object) -> dict[str, object]:
        return {"id": uid(), "type": type_, "compare_type": compare, "value": value, **kw}

    policies = [
        {
            "id": uid(),
            "action": "REDIRECT_TO_POOL",
            "position": 3,
            "redirect_pool_id": other["id"],
            "rules": [
                rule("HEADER", "EQUAL_TO", "b", key="X-Pool"),
                rule("COOKIE", "CONTAINS", "x", key="session", invert=True),
            ],
        },
        {
            "id": uid(),
            "action": "REJECT",
            "position": 1,
            "rules": [rule("PATH", "STARTS_WITH", "/admin")],
        },
        {
            "id": uid(),
            "action": "REDIRECT_TO_URL",
            "position": 2,
            "redirect_url": "https://example.com/x",
            "redirect_http_code": 301,
            "rules": [rule("HOST_NAME", "ENDS_WITH", ".old.example")],
        },
        {
            "id": uid(),
            "action": "REDIRECT_PREFIX",
            "position": 4,
            "redirect_prefix": "https://new.example",
            "rules": [rule("FILE_TYPE", "EQUAL_TO", "php")],
        },
        {
            "id": uid(),
            "action": "REJECT",
            "position": 5,
            "admin_state_up": False,
            "rules": [rule("PATH", "REGEX", "^/never")],
        },
        {"id": uid(), "action": "REJECT", "position": 6, "rules": []},
    ]
    s = spec([listener(default_pool_id=main["id"], l7policies=policies)], [main, other])
    text = render(s)
    assert_valid(text, tmp_path)
    lst = s.listeners[0]
    ls = lines_of(text)
    hdr, cook = policies[0]["rules"]  # type: ignore[misc]
    assert f'acl {hdr["id"]} req.hdr(X-Pool) -m str -- "b"' in ls
    assert f'acl {cook["id"]} req.cook(session) -m sub -- "x"' in ls
    assert f"use_backend {other['id']}:{lst.id} if {hdr['id']} !{cook['id']}" in ls
    assert any(ln.startswith("http-request deny if") for ln in ls)
    assert any('redirect location "https://example.com/x" code 301 if' in ln for ln in ls)
    assert any('redirect prefix "https://new.example" code 302 if' in ln for ln in ls)
    assert 'path_end -- "php"' in text
    assert "^/never" not in text
    assert text.count("backend ") >= 2


def test_l7_on_tcp_listener_refused() -> None:
    p = pool("TCP")
    pol = {
        "id": uid(),
        "action": "REJECT",
        "position": 1,
        "rules": [{"id": uid(), "type": "PATH", "compare_type": "EQUAL_TO", "value": "/"}],
    }
    with pytest.raises(InvalidSpec, match="HTTP listener"):
        render(spec([listener("TCP", default_pool_id=p["id"], l7policies=[pol])], [p]))


def test_admin_state_down_objects(tmp_path: Path) -> None:
    s = simple()
    off_lb = s.model_copy(update={"admin_state_up": False})
    text = render(off_lb)
    assert_valid(text, tmp_path)
    assert "frontend" not in text and "backend" not in text
    p = pool()
    s2 = spec([listener(default_pool_id=p["id"], admin_state_up=False)], [p])
    assert "frontend" not in render(s2)
    p3 = pool(admin_state_up=False)
    text3 = render(spec([listener(default_pool_id=p3["id"])], [p3]))
    assert_valid(text3, tmp_path)
    assert "frontend" in text3 and "default_backend" not in text3 and "\nbackend" not in text3


def test_duplicate_ports_refused() -> None:
    p = pool()
    with pytest.raises(InvalidSpec, match="port"):
        render(spec([listener(default_pool_id=p["id"]), listener(default_pool_id=p["id"])], [p]))
