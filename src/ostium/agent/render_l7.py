"""L7 policies and rules of an HTTP listener as haproxy frontend lines.

Role: turn a listener's `l7policies` (by position) into `acl` lines and the
`http-request deny`, `redirect` and `use_backend` rules that use them. Callers:
`render` (frontend views). Pure: no files, no processes. Every user string (values,
redirect targets) goes through `quoting.quote`; header and cookie names must be tokens.
Refusals raise `InvalidSpec` naming the policy or rule and the value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ostium.agent.errors import InvalidSpec
from ostium.agent.quoting import is_token, quote
from ostium.agent.render_backends import backend_name
from ostium.model.enums import L7Action, L7CompareType, L7RuleType
from ostium.model.spec import L7PolicySpec, L7RuleSpec, ListenerSpec
from ostium.model.tls import DN_FIELD

REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
DEFAULT_REDIRECT_CODE = 302
_MATCH = {
    L7CompareType.REGEX: "-m reg",
    L7CompareType.STARTS_WITH: "-m beg",
    L7CompareType.ENDS_WITH: "-m end",
    L7CompareType.CONTAINS: "-m sub",
    L7CompareType.EQUAL_TO: "-m str",
}


@dataclass
class L7View:
    acls: list[dict[str, str]] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    """In haproxy's evaluation order: denies, then redirects, then use_backend."""
    used_pools: set[str] = field(default_factory=set)


def _acl(rule: L7RuleSpec) -> str:
    match = _MATCH[rule.compare_type]
    if rule.type == L7RuleType.HOST_NAME:
        fetch = "req.hdr(host) -i"
    elif rule.type == L7RuleType.PATH:
        fetch = "path"
    elif rule.type == L7RuleType.FILE_TYPE:
        if rule.compare_type == L7CompareType.EQUAL_TO:
            fetch, match = "path_end", ""
        elif rule.compare_type == L7CompareType.REGEX:
            fetch = "path"
        else:
            raise InvalidSpec(
                f"l7rule {rule.id}: FILE_TYPE supports EQUAL_TO and REGEX, "
                f"not {rule.compare_type.value}"
            )
    elif rule.type in (L7RuleType.HEADER, L7RuleType.COOKIE):
        key = rule.key or ""
        if not is_token(key):
            raise InvalidSpec(
                f"l7rule {rule.id}: key {key!r} is not a valid {rule.type.value} name"
            )
        fetch = f"req.hdr({key})" if rule.type == L7RuleType.HEADER else f"req.cook({key})"
    elif rule.type == L7RuleType.SSL_CONN_HAS_CERT:
        return "ssl_c_used"
    elif rule.type == L7RuleType.SSL_VERIFY_RESULT:
        if not rule.value.isdigit() or not rule.value.isascii():
            raise InvalidSpec(f"l7rule {rule.id}: SSL_VERIFY_RESULT needs a number")
        return f"ssl_c_verify eq {int(rule.value)}"
    elif rule.type == L7RuleType.SSL_DN_FIELD:
        key = rule.key or ""
        if not DN_FIELD.match(key):
            raise InvalidSpec(f"l7rule {rule.id}: {key!r} is not a distinguished name field")
        fetch = f"ssl_c_s_dn({key})"
    else:
        raise InvalidSpec(f"l7rule {rule.id}: type {rule.type.value} is not supported")
    parts = [fetch, match, "--", quote(rule.value)]
    return " ".join(p for p in parts if p)


def l7_view(policies: list[L7PolicySpec], listener: ListenerSpec, usable_pools: set[str]) -> L7View:
    """ACLs and rules of enabled policies that have enabled rules (others are skipped)."""
    view = L7View()
    denies: list[str] = []
    redirects: list[str] = []
    use_backends: list[str] = []
    for policy in sorted(policies, key=lambda p: (p.position, p.id)):
        rules = [r for r in policy.rules if r.admin_state_up]
        if not policy.admin_state_up or not rules:
            continue
        for rule in rules:
            view.acls.append({"name": rule.id, "expr": _acl(rule)})
        cond = "if " + " ".join(("!" if r.invert else "") + r.id for r in rules)
        code = (
            policy.redirect_http_code
            if policy.redirect_http_code in REDIRECT_CODES
            else DEFAULT_REDIRECT_CODE
        )
        if policy.action == L7Action.REJECT:
            denies.append(f"http-request deny {cond}")
        elif policy.action == L7Action.REDIRECT_TO_URL:
            if not policy.redirect_url:
                raise InvalidSpec(f"l7policy {policy.id}: redirect_url is missing")
            redirects.append(f"redirect location {quote(policy.redirect_url)} code {code} {cond}")
        elif policy.action == L7Action.REDIRECT_PREFIX:
            if not policy.redirect_prefix:
                raise InvalidSpec(f"l7policy {policy.id}: redirect_prefix is missing")
            redirects.append(f"redirect prefix {quote(policy.redirect_prefix)} code {code} {cond}")
        elif policy.action == L7Action.REDIRECT_TO_POOL:
            pool_id = policy.redirect_pool_id
            if pool_id is None:
                raise InvalidSpec(f"l7policy {policy.id}: redirect_pool_id is missing")
            if pool_id in usable_pools:
                use_backends.append(f"use_backend {backend_name(pool_id, listener.id)} {cond}")
                view.used_pools.add(pool_id)
    view.rules = denies + redirects + use_backends
    return view
