"""The TLS parts of a spec: listener and pool rows -> TLS specs plus the PEM files they
name, read from the secret store (the worker's half of decision "identity and secrets").

Called by `spec_builder.build` inside its transaction. A ref the API accepted can only
stop resolving if the secret store's key changed (deleting a used secret is refused):
that is a PermanentError naming the object and the ref, never the material.
"""

from __future__ import annotations

from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.control.secrets import material
from ostium.model import spec as sp
from ostium.model.enums import ListenerProtocol
from ostium.model.errors import ApiError, PermanentError

Files = dict[str, sp.TlsFile]


def _file(files: Files, pem: str) -> str:
    fid = material.pem_id(pem)
    files.setdefault(fid, sp.TlsFile(id=fid, pem=SecretStr(pem)))
    return fid


def _cert(
    session: Session, fernet: Fernet, owner: str, project: str, ref: str, files: Files
) -> str:
    try:
        cert = material.load_cert(session, fernet, project, ref)
    except (material.Unreadable, ApiError):
        raise PermanentError(f"{owner}: could not read certificate {ref}") from None
    return _file(files, cert.pem)


def _ca_crl(
    session: Session,
    fernet: Fernet,
    owner: str,
    project: str,
    ca_ref: str | None,
    crl_ref: str | None,
    files: Files,
) -> tuple[str | None, str | None]:
    if not ca_ref:
        return None, None
    try:
        ca = material.load_ca(session, fernet, project, ca_ref, "client authentication")
        crl = (
            material.load_crl(session, fernet, project, crl_ref, ca, "client authentication")
            if crl_ref
            else None
        )
    except ApiError:
        raise PermanentError(f"{owner}: could not read CA or CRL {ca_ref} {crl_ref}") from None
    return _file(files, ca), (_file(files, crl) if crl else None)


def listener_tls(
    session: Session, fernet: Fernet, li: m.Listener, files: Files
) -> sp.ListenerTlsSpec | None:
    refs = [r for r in [li.default_tls_container_ref, *(li.sni_container_refs or [])] if r]
    if li.protocol not in (ListenerProtocol.TERMINATED_HTTPS, ListenerProtocol.PROMETHEUS):
        return None
    if not refs:
        return None
    owner = f"listener {li.id}"
    certs: list[str] = []
    for ref in refs:
        fid = _cert(session, fernet, owner, li.project_id, ref, files)
        if fid not in certs:
            certs.append(fid)
    ca, crl = _ca_crl(
        session,
        fernet,
        owner,
        li.project_id,
        li.client_ca_tls_container_ref,
        li.client_crl_container_ref,
        files,
    )
    return sp.ListenerTlsSpec(
        certificates=certs,
        client_authentication=li.client_authentication if ca else "NONE",
        client_ca=ca,
        client_crl=crl,
        ciphers=li.tls_ciphers or None,
        versions=li.tls_versions,
        alpn=li.alpn_protocols,
        hsts_max_age=li.hsts_max_age if li.protocol == ListenerProtocol.TERMINATED_HTTPS else None,
        hsts_include_subdomains=li.hsts_include_subdomains,
        hsts_preload=li.hsts_preload,
    )


def pool_tls(session: Session, fernet: Fernet, p: m.Pool, files: Files) -> sp.PoolTlsSpec | None:
    if not p.tls_enabled:
        return None
    owner = f"pool {p.id}"
    cert = (
        _cert(session, fernet, owner, p.project_id, p.tls_container_ref, files)
        if p.tls_container_ref
        else None
    )
    ca, crl = _ca_crl(
        session, fernet, owner, p.project_id, p.ca_tls_container_ref, p.crl_container_ref, files
    )
    return sp.PoolTlsSpec(
        certificate=cert,
        ca=ca,
        crl=crl,
        ciphers=p.tls_ciphers or None,
        versions=p.tls_versions,
        alpn=p.alpn_protocols,
    )
