"""Access logs in the rendered config (Octavia's `user_log_format`, spec section 3.9),
checked with `haproxy -c`; the format as the controller makes it; the syslog lines as
the receiver reads them; hostile formats refused by the spec."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from agent_spec_factory import CTX, assert_valid, listener, pool, spec
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ostium.agent.render import render_haproxy
from ostium.model.access_log import (
    DEFAULT_USER_LOG_FORMAT,
    decoded,
    listener_format,
    split_datagram,
)
from ostium.model.spec import ListenerSpec

LB = "9a043474-7f90-468a-af0c-fae25dfe0bf4"
LOGGED = dataclasses.replace(CTX, log_target="127.0.0.1:1514", log_facility=3)


def _lines(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines()]


def test_default_format_for_http_and_tcp() -> None:
    http = listener_format(DEFAULT_USER_LOG_FORMAT, "p1", LB, "HTTP")
    assert http.startswith(f"p1 {LB} %f %ci %cp %t %{{+Q}}r %ST %B")
    tcp = listener_format(DEFAULT_USER_LOG_FORMAT, "p1", LB, "TCP")
    assert (
        tcp == f"p1 {LB} %f %ci %cp %t - - %B %U %[ssl_c_verify] %{{+Q}}[ssl_c_s_dn] %b %s %Tt %tsc"
    )


def test_logged_listeners_render_and_pass_haproxy_check(tmp_path: Path) -> None:
    p = pool()
    fmt = listener_format(DEFAULT_USER_LOG_FORMAT, "p1", LB, "HTTP")
    s = spec([listener(default_pool_id=p["id"], log_format=fmt), listener("TCP", 81)], [p])
    text = render_haproxy(s, LOGGED)
    assert_valid(text, tmp_path)
    ls = _lines(text)
    assert "log 127.0.0.1:1514 len 8192 local3" in ls
    escaped = fmt.replace(" ", "\\ ")
    assert f"log-format {escaped}" in ls
    assert ls.count("log global") == 1
    assert ls.count("no log") == 1  # the listener without a format (connection_logging off)


def test_connection_logging_off_logs_nothing(tmp_path: Path) -> None:
    p = pool()
    s = spec([listener(default_pool_id=p["id"])], [p])
    text = render_haproxy(s, LOGGED)
    assert_valid(text, tmp_path)
    assert not [ln for ln in _lines(text) if ln.startswith("log ") or ln.startswith("log-format")]
    assert "no log" in _lines(text)


@given(st.text(min_size=1, max_size=60))
def test_a_format_that_could_break_the_config_is_refused(text: str) -> None:
    bad = any(c in text for c in "\"'\\#$\n\r") or any(ord(c) < 32 or ord(c) > 126 for c in text)
    try:
        ListenerSpec(id=LB, protocol="HTTP", protocol_port=80, log_format=text)
    except ValidationError:
        return
    assert not bad, repr(text)


@pytest.mark.parametrize(
    "datagram",
    [
        b"<134>Nov 30 08:00:00 haproxy[123]: p1 LB 198.19.40.1:80 x",
        b"<134>Nov 30 08:00:00 host haproxy[123]: p1 LB 198.19.40.1:80 x\n",
        b"<134>Nov 30 08:00:00 haproxy: p1 LB 198.19.40.1:80 x",
    ],
)
def test_syslog_lines_read_back(datagram: bytes) -> None:
    found = split_datagram(datagram.replace(b"LB", LB.encode()))
    assert found is not None
    assert found[0] == LB and decoded(found[1]) == f"p1 {LB} 198.19.40.1:80 x"


@pytest.mark.parametrize(
    "datagram",
    [
        b"<134>Nov 30 08:00:00 haproxy[123]: p1 not-a-uuid 198.19.40.1:80 x",
        b"<134>Nov 30 08:00:00 haproxy[123]: p1 LB",
        b"no syslog header p1 LB x",
        b"",
        b"<134>Nov 30 08:00:00 haproxy[123]: p1 LBX x",
    ],
)
def test_datagrams_without_a_load_balancer_id_are_dropped(datagram: bytes) -> None:
    assert split_datagram(datagram.replace(b"LB", LB.encode())) is None


@given(st.binary(max_size=300))
def test_any_datagram_is_dropped_or_read_with_a_uuid(datagram: bytes) -> None:
    found = split_datagram(datagram)
    assert found is None or (len(found[0]) == 36 and found[1].split(b" ")[1] == found[0].encode())
    if found is not None:
        decoded(found[1])
