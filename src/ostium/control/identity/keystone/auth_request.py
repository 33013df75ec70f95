"""The body of `POST /v3/auth/tokens`, parsed into a typed request (no database here).

Shapes (Keystone's schema, spec identity.md section 2): `identity.methods` lists the
methods, each with a same-named object; `password.user` has `id` or `name` plus a
`domain` (`id` or `name`); `token.id`; `application_credential` has `id`, or `name`
plus a `user`; `scope` is absent, `"unscoped"`, `{"unscoped": {}}`, or a `project` by
`id` or by `name` plus `domain`. Domain, system and trust scopes are not served: such
a request gets 401, as a Keystone without them would answer. A malformed body is a 400
naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ostium.control.identity.keystone.errors import BadRequest, Unauthorized

METHODS = ("password", "token", "application_credential")


@dataclass(frozen=True)
class Ref:
    """An object named by id, or by name within a domain (by id or by name)."""

    id: str | None = None
    name: str | None = None
    domain_id: str | None = None
    domain_name: str | None = None


@dataclass(frozen=True)
class AuthRequest:
    method: str
    methods: tuple[str, ...]
    user: Ref | None = None  # password; application credential by name
    secret: str = ""  # the password or the application credential secret
    token: str = ""  # token method
    app_cred: Ref | None = None
    scope: Ref | None = None  # a project; None: no scope asked
    unscoped: bool = False


def _obj(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(f"Invalid input for field {field}: an object is required.")
    return value


def _str(value: Any, field: str, limit: int = 255) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        raise BadRequest(f"Invalid input for field {field}: a string of 1 to {limit} characters.")
    return value


def _opt(obj: dict[str, Any], key: str, field: str) -> str | None:
    return None if obj.get(key) is None else _str(obj[key], f"{field}/{key}")


def ref(value: Any, field: str) -> Ref:
    obj = _obj(value, field)
    ident, name = _opt(obj, "id", field), _opt(obj, "name", field)
    if ident is None and name is None:
        raise BadRequest(f"Invalid input for field {field}: id or name must be present.")
    dom_id = dom_name = None
    if ident is None:
        dom = _obj(obj.get("domain"), f"{field}/domain")
        dom_id, dom_name = _opt(dom, "id", f"{field}/domain"), _opt(dom, "name", f"{field}/domain")
        if dom_id is None and dom_name is None:
            raise BadRequest(f"Invalid input for field {field}/domain: id or name must be present.")
    return Ref(id=ident, name=name, domain_id=dom_id, domain_name=dom_name)


def parse(body: Any, header_token: str | None) -> AuthRequest:
    auth = _obj(_obj(body, "body").get("auth"), "auth")
    identity = _obj(auth.get("identity"), "identity")
    methods = identity.get("methods")
    if not isinstance(methods, list) or not methods or not all(isinstance(m, str) for m in methods):
        raise BadRequest("Invalid input for field identity/methods: a list of names is required.")
    known = [m for m in methods if m in METHODS]
    if len(known) != 1 or len(methods) != 1:
        raise Unauthorized()  # an unsupported method or combination (totp, mapped, ...)
    method = known[0]
    scope, unscoped = _scope(auth.get("scope"))
    data = _obj(identity.get(method), f"identity/{method}")
    common = {"method": method, "methods": (method,), "scope": scope, "unscoped": unscoped}
    if method == "password":
        user = _obj(data.get("user"), "identity/password/user")
        secret = user.get("password")
        if not isinstance(secret, str):
            raise BadRequest("Invalid input for field identity/password/user/password.")
        return AuthRequest(user=ref(user, "identity/password/user"), secret=secret, **common)
    if method == "token":
        token = data.get("id") or header_token
        return AuthRequest(token=_str(token, "identity/token/id", 1024), **common)
    if scope is not None:
        raise Unauthorized()  # an application credential fixes its project
    secret = _str(data.get("secret"), "identity/application_credential/secret", 1024)
    if data.get("id") is not None:
        cred = Ref(id=_str(data["id"], "identity/application_credential/id"))
        return AuthRequest(app_cred=cred, secret=secret, **common)
    name = _str(data.get("name"), "identity/application_credential/name")
    user_ref = ref(data.get("user"), "identity/application_credential/user")
    return AuthRequest(app_cred=Ref(name=name), user=user_ref, secret=secret, **common)


def _scope(value: Any) -> tuple[Ref | None, bool]:
    if value is None:
        return None, False
    if value == "unscoped" or (isinstance(value, dict) and "unscoped" in value):
        return None, True
    scope = _obj(value, "scope")
    if "project" not in scope:
        raise Unauthorized()  # domain, system and trust scopes are not served
    return ref(scope["project"], "scope/project"), False
