"""Typed settings of the external Keystone (`[keystone_authtoken]`, Octavia's option
names) read by `settings.load_settings`.

With `auth_strategy = keystone` and `[keystone_authtoken] auth_url` set, ostium checks
every user token against that Keystone (`identity/external.py`) with its own service
credentials: a user (`username`/`password` or `user_id`, scoped to `project_name` or
`project_id`) or an application credential. Options that keystonemiddleware has but
ostium has no use for are accepted and ignored (`IGNORED`), so an Octavia config can be
reused as it is. Nothing here is read at import time, and no error message ever repeats
a password or a secret.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass

PASSWORD_TYPES = frozenset({"password", "v3password"})
APP_CREDENTIAL_TYPES = frozenset({"v3applicationcredential", "applicationcredential"})

IGNORED = frozenset(
    {
        "auth_version",
        "memcached_servers",
        "memcache_security_strategy",
        "memcache_secret_key",
        "service_token_roles",
        "service_token_roles_required",
        "service_type",
        "include_service_catalog",
        "delay_auth_decision",
        "enforce_token_bind",
        "auth_uri",
        "certfile",
        "keyfile",
        "system_scope",
    }
)
"""keystonemiddleware options ostium accepts and does not use: the cache lives in the
process, the catalog is never asked for, and a missing or bad token is always a 401."""


@dataclass(frozen=True)
class KeystoneAuthtokenSettings:
    """`[keystone_authtoken]`: where and as whom ostium validates user tokens."""

    www_authenticate_uri: str = ""
    """Put in `WWW-Authenticate: Keystone uri="..."` of every 401 (empty: `auth_url`)."""
    auth_url: str = ""
    """Keystone's URL (`http://keystone:5000` or `.../v3`); empty: no external Keystone.
    ostium authenticates and validates there (keystonemiddleware would look the
    identity endpoint up in the service catalog: ostium uses this URL for both)."""
    auth_type: str = "password"
    """`password` (`v3password`) or `v3applicationcredential`."""
    username: str = ""
    user_id: str = ""
    password: str = ""
    user_domain_name: str = "Default"
    user_domain_id: str = ""
    project_name: str = ""
    project_id: str = ""
    project_domain_name: str = "Default"
    project_domain_id: str = ""
    application_credential_id: str = ""
    application_credential_name: str = ""
    application_credential_secret: str = ""
    token_cache_time: int = 300
    """Seconds a validated (or refused) token is remembered; 0: ask Keystone every time.
    A token revoked at Keystone keeps working here until its entry expires, as with
    keystonemiddleware."""
    token_cache_size: int = 10000
    """At most this many tokens remembered (least recently used dropped first)."""
    http_connect_timeout: float = 10.0
    """Seconds for one request to Keystone (connect and answer)."""
    http_request_max_retries: int = 3
    """Extra attempts when Keystone cannot be reached; then the caller gets 503."""
    cafile: str = ""
    insecure: bool = False
    region_name: str = ""
    interface: str = "internal"

    @property
    def enabled(self) -> bool:
        return bool(self.auth_url)

    @property
    def identity_v3(self) -> str:
        """`auth_url` ending in `/v3`, whatever form it was given in."""
        url = self.auth_url.rstrip("/")
        return url if url.endswith("/v3") else url + "/v3"

    @property
    def authenticate_uri(self) -> str:
        return self.www_authenticate_uri or self.auth_url

    @property
    def uses_application_credential(self) -> bool:
        return self.auth_type in APP_CREDENTIAL_TYPES


def load_authtoken(parser: configparser.ConfigParser) -> KeystoneAuthtokenSettings:
    """`[keystone_authtoken]` from the INI file, checked: ValueError names the option."""
    section = "keystone_authtoken"
    defaults = KeystoneAuthtokenSettings()
    kwargs: dict[str, object] = {}
    if parser.has_section(section):
        for key, raw in parser.items(section):
            if key in IGNORED:
                continue
            if not hasattr(defaults, key) or key in ("enabled", "identity_v3"):
                raise ValueError(f"[{section}] has no option {key!r}")
            like = getattr(defaults, key)
            kwargs[key] = _coerce(section, key, raw, like)
    settings = KeystoneAuthtokenSettings(**kwargs)  # type: ignore[arg-type]
    if settings.enabled:
        _check(settings)
    return settings


def _coerce(section: str, key: str, raw: str, like: object) -> object:
    value = raw.strip()
    try:
        if isinstance(like, bool):
            low = value.lower()
            if low not in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
                raise ValueError
            return low in {"1", "true", "yes", "on"}
        if isinstance(like, int):
            return int(value)
        if isinstance(like, float):
            return float(value)
    except ValueError:
        # Only numbers and booleans get here: their value is safe to show.
        raise ValueError(f"[{section}] {key}: {value!r} is not a {type(like).__name__}") from None
    return value


def _check(s: KeystoneAuthtokenSettings) -> None:
    where = "[keystone_authtoken]"
    if not s.auth_url.startswith(("http://", "https://")):
        raise ValueError(f"{where} auth_url: {s.auth_url!r} is not an http(s) URL")
    if s.auth_type not in PASSWORD_TYPES | APP_CREDENTIAL_TYPES:
        raise ValueError(
            f"{where} auth_type: {s.auth_type!r} is not password|v3password|v3applicationcredential"
        )
    if s.uses_application_credential:
        if not s.application_credential_secret:
            raise ValueError(f"{where} application_credential_secret is required")
        if not (s.application_credential_id or (s.application_credential_name and s.username)):
            raise ValueError(
                f"{where} application_credential_id (or application_credential_name "
                "and username) is required"
            )
    else:
        if not (s.username or s.user_id) or not s.password:
            raise ValueError(f"{where} username (or user_id) and password are required")
    if s.token_cache_time < 0 or s.token_cache_size < 1:
        raise ValueError(f"{where} token_cache_time must be >= 0 and token_cache_size >= 1")
    if s.http_connect_timeout <= 0 or s.http_request_max_retries < 0:
        raise ValueError(
            f"{where} http_connect_timeout must be > 0 and http_request_max_retries >= 0"
        )
