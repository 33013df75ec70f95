"""TLS rules of listeners and pools at the API (spec tls.md section 3): which protocols
take certificates, Octavia's defaults, cipher/version/ALPN/HSTS checks, and every ref
read from the secret store before anything is written (a bad ref is a 400 now, never
an ERROR later).

Callers: `listeners` and `pools` (create and update). Returns the values to store;
raises BadRequest with Octavia's messages. Never puts material in a message.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ostium.control.certificate_settings import CertificateSettings
from ostium.control.secrets import crypto, material
from ostium.control.services.context import ServiceContext
from ostium.control.services.validation import bad
from ostium.model.enums import ListenerProtocol as LP
from ostium.model.errors import BadRequest
from ostium.model.tls import ALPN_PROTOCOLS, CIPHER_STRING, TLS_VERSIONS

LISTENER_FIELDS = (
    "default_tls_container_ref",
    "sni_container_refs",
    "client_authentication",
    "client_ca_tls_container_ref",
    "client_crl_container_ref",
    "tls_ciphers",
    "tls_versions",
    "alpn_protocols",
    "hsts_max_age",
    "hsts_include_subdomains",
    "hsts_preload",
)
POOL_FIELDS = (
    "tls_enabled",
    "tls_container_ref",
    "ca_tls_container_ref",
    "crl_container_ref",
    "tls_ciphers",
    "tls_versions",
    "alpn_protocols",
)
_CLEARED = {"sni_container_refs": [], "client_authentication": "NONE"}
_CLEARED_FLAGS = {"hsts_include_subdomains": False, "hsts_preload": False, "tls_enabled": False}


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _fail(message: str) -> BadRequest:
    return BadRequest(f"Validation failure: {message}")


def ciphers(cs: CertificateSettings, value: str | None) -> None:
    if value is None:
        return
    if not CIPHER_STRING.match(value):
        raise _fail(
            "Invalid characters in cipher string. Only alphanumeric, -, +, !, :, @, =, _, "
            "and . are allowed."
        )
    prohibited = set(_split(cs.tls_cipher_prohibit_list.replace(":", ",")))
    hits = [c for c in value.split(":") if c in prohibited]
    if hits:
        raise _fail(
            "The following ciphers have been prohibited by an administrator: " + ", ".join(hits)
        )


def versions(cs: CertificateSettings, value: list[str] | None) -> None:
    if value is None:
        return
    if value == []:
        raise _fail(
            "Empty TLS version list. Either specify at least one TLS version or remove this "
            "parameter to use the default."
        )
    unknown = [v for v in value if v not in TLS_VERSIONS]
    if unknown:
        raise _fail("Invalid TLS versions: " + ", ".join(unknown))
    if cs.minimum_tls_version:
        floor = TLS_VERSIONS.index(cs.minimum_tls_version)
        low = [v for v in value if TLS_VERSIONS.index(v) < floor]
        if low:
            raise _fail(
                "Requested TLS versions are less than the minimum: "
                + ", ".join(low)
                + f" < {cs.minimum_tls_version}"
            )


def alpn(value: list[str] | None) -> None:
    if value is None:
        return
    if value == []:
        raise _fail(
            "Empty ALPN protocol list. Either specify at least one ALPN protocol or remove "
            "this parameter to use the default."
        )
    for p in value:
        if p not in ALPN_PROTOCOLS:
            raise bad("alpn_protocols", value, "Value should be a valid ALPN protocol ID")


def _ca_crl(
    session: Session, svc: ServiceContext, project: str, ca: str | None, crl: str | None
) -> None:
    fernet = crypto.fernet_for(svc.settings.state_dir, svc.settings.certificates.secret_key)
    if ca is None:
        return
    ca_pem = material.load_ca(session, fernet, project, ca, "client authentication")
    if crl is not None:
        material.load_crl(session, fernet, project, crl, ca_pem, "client authentication")


def _certs(session: Session, svc: ServiceContext, project: str, refs: list[str]) -> None:
    fernet = crypto.fernet_for(svc.settings.state_dir, svc.settings.certificates.secret_key)
    material.check_certs(session, fernet, project, refs)


def listener(
    session: Session,
    svc: ServiceContext,
    project: str,
    protocol: str,
    sent: dict[str, Any],
    stored: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The TLS fields to store for a listener created (`stored` None) or updated."""
    cs = svc.settings.certificates
    creating = stored is None
    new: dict[str, Any] = dict(stored or {f: None for f in LISTENER_FIELDS})
    for f in LISTENER_FIELDS:
        if f in sent and (sent[f] is not None or not creating):
            new[f] = sent[f]
    for f, v in {**_CLEARED, **_CLEARED_FLAGS}.items():
        if f in new and new[f] is None:
            new[f] = v
    if protocol == LP.TERMINATED_HTTPS and not cs.allow_tls_terminated_listeners:
        raise BadRequest(f"The selected protocol is not allowed in this deployment: {protocol}")
    if protocol == LP.PROMETHEUS and not cs.allow_prometheus_listeners:
        raise BadRequest(f"The selected protocol is not allowed in this deployment: {protocol}")
    has_cert = bool(new["default_tls_container_ref"] or new["sni_container_refs"])
    tls_capable = protocol == LP.TERMINATED_HTTPS or (protocol == LP.PROMETHEUS and has_cert)
    refs_given = has_cert or new["client_ca_tls_container_ref"] or new["client_crl_container_ref"]
    if refs_given and not tls_capable:
        raise _fail(
            f"Certificate container references are not allowed on {protocol} protocol listeners."
        )
    if new["client_ca_tls_container_ref"] and not has_cert:
        raise _fail(
            "An SNI or default certificate container reference must be provided with a "
            "client CA container reference."
        )
    if tls_capable and not has_cert:
        raise _fail(
            "An SNI or default certificate container reference must be provided for "
            f"{protocol} protocol listeners."
        )
    mode = new["client_authentication"]
    if mode != "NONE" and not new["client_ca_tls_container_ref"]:
        raise _fail(
            f"Client authentication setting {mode} requires a client CA container reference."
        )
    if new["client_crl_container_ref"] and not new["client_ca_tls_container_ref"]:
        raise _fail(
            "A client authentication CA reference is required to specify a client "
            "authentication revocation list."
        )
    terminated = protocol == LP.TERMINATED_HTTPS
    if terminated:  # Octavia's defaults, on create and for an explicit null on update
        for f, default in (
            ("tls_ciphers", cs.default_listener_ciphers),
            ("tls_versions", _split(cs.default_listener_tls_versions)),
            ("alpn_protocols", _split(cs.default_listener_alpn_protocols)),
        ):
            if new[f] is None and (creating or f in sent):
                new[f] = default
    if "tls_ciphers" in sent:
        ciphers(cs, sent["tls_ciphers"])
    cert_refs = [r for r in (sent.get("sni_container_refs") or []) if r]
    if sent.get("default_tls_container_ref"):
        cert_refs.append(sent["default_tls_container_ref"])
    _certs(session, svc, project, cert_refs)
    if {"client_ca_tls_container_ref", "client_crl_container_ref"} & set(sent):
        _ca_crl(
            session,
            svc,
            project,
            new["client_ca_tls_container_ref"],
            new["client_crl_container_ref"],
        )
    if tls_capable:
        if "tls_versions" in sent:
            versions(cs, sent["tls_versions"])
        if "alpn_protocols" in sent:
            alpn(sent["alpn_protocols"])
    _hsts(protocol, sent, new, stored)
    return new


def _hsts(
    protocol: str, sent: dict[str, Any], new: dict[str, Any], stored: dict[str, Any] | None
) -> None:
    flags = new["hsts_include_subdomains"] or new["hsts_preload"]
    if flags and new["hsts_max_age"] is None:
        if stored is None:
            raise _fail(
                "HSTS configuration options hsts_include_subdomains and hsts_preload only "
                "make sense if hsts_max_age is set as well."
            )
        raise _fail(
            "Cannot enable hsts_include_subdomains or hsts_preload if hsts_max_age was not "
            "set as well."
        )
    if sent.get("hsts_max_age") is not None and protocol != LP.TERMINATED_HTTPS:
        raise _fail(
            "The HSTS feature can only be used for listeners using the TERMINATED_HTTPS protocol."
        )


def pool(
    session: Session,
    svc: ServiceContext,
    project: str,
    sent: dict[str, Any],
    stored: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The TLS fields to store for a pool created (`stored` None) or updated."""
    cs = svc.settings.certificates
    creating = stored is None
    new: dict[str, Any] = dict(stored or {f: None for f in POOL_FIELDS})
    for f in POOL_FIELDS:
        if f in sent and (sent[f] is not None or not creating):
            new[f] = sent[f]
    if new["tls_enabled"] is None:
        new["tls_enabled"] = False
    if creating and new["crl_container_ref"] and not new["ca_tls_container_ref"]:
        raise _fail("A CA certificate reference is required to specify a revocation list.")
    if not creating:
        if (
            stored
            and stored.get("crl_container_ref")
            and new["crl_container_ref"]
            and ("ca_tls_container_ref" in sent and sent["ca_tls_container_ref"] is None)
        ):
            raise _fail(
                "A CA reference cannot be removed when a certificate revocation list is present."
            )
        if new["crl_container_ref"] and not new["ca_tls_container_ref"]:
            raise _fail("A CA reference is required to specify a certificate revocation list.")
    if sent.get("tls_container_ref"):
        _certs(session, svc, project, [sent["tls_container_ref"]])
    if {"ca_tls_container_ref", "crl_container_ref"} & set(sent):
        _ca_crl(session, svc, project, new["ca_tls_container_ref"], new["crl_container_ref"])
    if "tls_ciphers" in sent:
        ciphers(cs, sent["tls_ciphers"])
    if new["tls_enabled"] and (creating or "tls_versions" in sent):
        versions(cs, sent.get("tls_versions"))
    if new["tls_enabled"] and (creating or "alpn_protocols" in sent):
        alpn(sent.get("alpn_protocols"))
    if new["tls_enabled"]:
        for f, default in (
            ("tls_ciphers", cs.default_pool_ciphers),
            ("tls_versions", _split(cs.default_pool_tls_versions)),
            ("alpn_protocols", _split(cs.default_pool_alpn_protocols)),
        ):
            reset = f in sent and f != "alpn_protocols"  # Octavia keeps a PUT null ALPN
            if new[f] is None and (creating or reset or "tls_enabled" in sent):
                new[f] = default
    return new
