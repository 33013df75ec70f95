"""`[certificates]`: the built-in secret store's key and Octavia's TLS defaults, with
Octavia's start-up checks of them. Part of the settings (`settings.load_settings` reads
the section); kept apart so each settings module stays one concept."""

from __future__ import annotations

from dataclasses import dataclass

from ostium.model.tls import TLS_DEFAULT_CIPHERS, TLS_VERSIONS


@dataclass(frozen=True)
class CertificateSettings:
    """`[certificates]`: the built-in secret store and Octavia's TLS defaults (issue 10)."""

    secret_key: str = ""
    """Fernet key encrypting secret payloads at rest; empty: `<state_dir>/secrets.key`
    (created with mode 0600). Every process of one deployment needs the same key."""
    allow_tls_terminated_listeners: bool = True
    allow_prometheus_listeners: bool = True
    default_listener_ciphers: str = TLS_DEFAULT_CIPHERS
    default_pool_ciphers: str = TLS_DEFAULT_CIPHERS
    tls_cipher_prohibit_list: str = ""
    default_listener_tls_versions: str = "TLSv1.2, TLSv1.3"
    default_pool_tls_versions: str = "TLSv1.2, TLSv1.3"
    minimum_tls_version: str = ""
    default_listener_alpn_protocols: str = "h2, http/1.1, http/1.0"
    default_pool_alpn_protocols: str = "h2, http/1.1, http/1.0"


def check_tls(c: CertificateSettings) -> None:
    """Octavia's start-up checks of the TLS defaults (versions known and not below
    `minimum_tls_version`, default ciphers not on the prohibit list)."""
    known = list(TLS_VERSIONS)
    floor = c.minimum_tls_version
    if floor and floor not in known:
        raise ValueError(f"[certificates] minimum_tls_version: {floor!r} is not one of {known}")
    prohibited = {x.strip() for x in c.tls_cipher_prohibit_list.replace(",", ":").split(":")}
    for kind in ("listener", "pool"):
        versions = [v.strip() for v in getattr(c, f"default_{kind}_tls_versions").split(",")]
        bad = [v for v in versions if v not in known]
        if bad:
            raise ValueError(f"[certificates] default_{kind}_tls_versions: unknown {bad}")
        if floor and any(known.index(v) < known.index(floor) for v in versions):
            raise ValueError(
                f"Default {kind} TLS versions are less than the minimum: {versions} < {floor}"
            )
        ciphers = set(getattr(c, f"default_{kind}_ciphers").split(":"))
        conflict = sorted((ciphers & prohibited) - {""})
        if conflict:
            raise ValueError(
                f"Default {kind} ciphers conflict with prohibit list. Conflicting ciphers: "
                + ", ".join(conflict)
            )
