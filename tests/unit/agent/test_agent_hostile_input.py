"""Hostile user strings must never inject a line, directive or section into haproxy.cfg.

Method: render a spec with a benign value in one field, then the same spec with a
hostile value in that field. The hostile config must pass `haproxy -c` and have exactly
the same line structure (same number of lines, same first word on every line): a value
can change what a word says, never what the config does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from agent_spec_factory import assert_valid, listener, pool, render, spec, uid

from ostium.agent.errors import InvalidSpec
from ostium.agent.quoting import quote
from ostium.model.spec import AmphoraSpec

HOSTILE = [
    "a\nfrontend evil\n    bind :1",
    "x\r\nbackend pwn",
    'quote " in the middle',
    "trailing backslash \\",
    '\\"\\\\"',
    "spaces and # a comment",
    "} { braces",
    "%[src] %{+Q}r %%",
    '$HOME ${PATH} "$HOME"',
    "'single' quotes'",
    "tab\there\x00nul\x1bescape\x7fdel",
    "ünïcødé ✓ 中文 \u2028 line-sep",
    "-i",
    "-- -m reg",
    "if !a || b",
    ";show info;",
]

_Builder = Callable[[str], AmphoraSpec]


def _l7(rule: dict[str, Any], **policy: Any) -> AmphoraSpec:
    p = pool()
    pol = {"id": uid(), "action": "REJECT", "position": 1, "rules": [rule], **policy}
    return spec([listener(default_pool_id=p["id"], l7policies=[pol])], [p])


def _rule(type_: str, compare: str, value: str, key: str | None = None) -> dict[str, Any]:
    return {"id": uid(), "type": type_, "compare_type": compare, "value": value, "key": key}


def _hm(**kw: Any) -> AmphoraSpec:
    hm = {
        "id": uid(),
        "type": "HTTP",
        "delay": 3,
        "timeout": 2,
        "max_retries": 2,
        "http_version": 1.1,
        **kw,
    }
    p = pool(healthmonitor=hm)
    return spec([listener(default_pool_id=p["id"])], [p])


BUILDERS: dict[str, _Builder] = {
    "path_equal": lambda v: _l7(_rule("PATH", "EQUAL_TO", v)),
    "path_starts": lambda v: _l7(_rule("PATH", "STARTS_WITH", v)),
    "host_contains": lambda v: _l7(_rule("HOST_NAME", "CONTAINS", v)),
    "header_value": lambda v: _l7(_rule("HEADER", "ENDS_WITH", v, key="X-Test")),
    "cookie_value": lambda v: _l7(_rule("COOKIE", "EQUAL_TO", v, key="sid")),
    "file_type": lambda v: _l7(_rule("FILE_TYPE", "EQUAL_TO", v)),
    "redirect_url": lambda v: _l7(
        _rule("PATH", "EQUAL_TO", "/"), action="REDIRECT_TO_URL", redirect_url=v
    ),
    "redirect_prefix": lambda v: _l7(
        _rule("PATH", "EQUAL_TO", "/"), action="REDIRECT_PREFIX", redirect_prefix=v
    ),
    "hm_url_path": lambda v: _hm(url_path=v),
    "hm_domain_name": lambda v: _hm(domain_name=v),
}


def _structure(text: str) -> list[str]:
    return [(ln.split() or [""])[0] for ln in text.splitlines()]


@pytest.mark.parametrize("field", sorted(BUILDERS))
@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_value_stays_one_word(tmp_path: Path, field: str, value: str) -> None:
    build = BUILDERS[field]
    benign = render(build("benign"))
    hostile = render(build(value))
    assert _structure(hostile) == _structure(benign)
    assert "frontend evil" not in hostile.replace(quote(value), "")
    assert "\r" not in hostile and "\x00" not in hostile
    assert_valid(hostile, tmp_path)


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_regex_is_quoted_or_refused_by_haproxy(tmp_path: Path, value: str) -> None:
    # A regex may legitimately be invalid (haproxy -c then refuses it); it must still
    # never change the line structure.
    benign = render(_l7(_rule("PATH", "REGEX", "^/ok$")))
    hostile = render(_l7(_rule("PATH", "REGEX", value)))
    assert _structure(hostile) == _structure(benign)


@pytest.mark.parametrize("key", ["X-Test)\nfrontend x", "a b", "a,b", "x)", "h'", "%[src]", "#c"])
@pytest.mark.parametrize("type_", ["HEADER", "COOKIE"])
def test_hostile_keys_are_refused(key: str, type_: str) -> None:
    with pytest.raises(InvalidSpec, match="key"):
        render(_l7(_rule(type_, "EQUAL_TO", "v", key=key)))


@pytest.mark.parametrize("name", ["JSESSIONID)\nlisten x", "a b", "c;d", "%[src]", ""])
def test_hostile_app_cookie_name_refused(name: str) -> None:
    p = pool(session_persistence={"type": "APP_COOKIE", "cookie_name": name})
    with pytest.raises(InvalidSpec, match="cookie_name"):
        render(spec([listener(default_pool_id=p["id"])], [p]))


def test_ids_must_be_uuids() -> None:
    with pytest.raises(ValueError):
        spec([listener(id="x\nfrontend y")], [])


def test_quote_escapes() -> None:
    assert quote('a"b\\c$d\ne') == '"a\\"b\\\\c\\$d\\x0ae"'
