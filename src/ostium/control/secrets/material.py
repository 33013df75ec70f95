"""Refs to TLS material, read the way Octavia's certificate manager reads Barbican: a
secret holding a password-less PKCS12 bundle, else a `certificate` container (PEM
certificate, private key, optional passphrase and intermediates); CA certificates and
CRLs are PEM payloads of plain secrets (spec keymanager.md sections 5-7).

Callers: the listener and pool services (check at the API: 400 with Octavia's message),
the worker (PEM for the agent). Error messages name refs, never payloads.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from sqlalchemy.orm import Session

from ostium.control.db.models import SecretContainer, StoredSecret
from ostium.control.secrets import crypto, refs
from ostium.model.errors import BadRequest

PKCS12_UNREADABLE = (
    "The PKCS12 bundle is unreadable. Please check the PKCS12 bundle validity. In "
    "addition, make sure it does not require a pass phrase. Error: {}"
)


class Unreadable(Exception):
    """The ref names nothing the project can read as what is asked."""


@dataclass(frozen=True)
class TlsCert:
    """A certificate with its key: `pem` is what haproxy loads (certificate, key in
    clear, intermediates); `id` is the SHA-1 of the certificate PEM, as Octavia names it."""

    id: str
    pem: str
    names: tuple[str, ...]


def _secret(session: Session, fernet: Fernet, project: str, sid: str | None) -> bytes | None:
    row = session.get(StoredSecret, sid) if sid else None
    if row is None or row.project_id != project or row.payload is None:
        return None
    return crypto.decrypt(fernet, row.payload)


def _names(cert: x509.Certificate) -> tuple[str, ...]:
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    names = [str(cns[0].value).lower()] if cns else []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names += [n for n in san.value.get_values_for_type(x509.DNSName) if n not in names]
    except x509.ExtensionNotFound:
        pass
    if not names:
        raise BadRequest("No CN or DNSName(s) found in certificate. The certificate is invalid.")
    return tuple(names)


def _bundle(cert: x509.Certificate, key: PrivateKeyTypes, chain: list[x509.Certificate]) -> TlsCert:
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    parts = [
        cert_pem,
        key_pem,
        *(c.public_bytes(serialization.Encoding.PEM).decode() for c in chain),
    ]
    return TlsCert(
        id=hashlib.sha1(cert_pem.encode()).hexdigest(),
        pem="".join(p if p.endswith("\n") else p + "\n" for p in parts),
        names=_names(cert),
    )


def load_cert(session: Session, fernet: Fernet, project: str, ref: str) -> TlsCert:
    """The certificate and key a listener or pool ref names; `Unreadable` when it names
    nothing usable, BadRequest with Octavia's PKCS12 message for a bad bundle."""
    rid = refs.ref_id(ref)
    data = _secret(session, fernet, project, rid)
    if data is not None:
        try:
            p12 = pkcs12.load_pkcs12(data, None)
        except (TypeError, ValueError) as exc:
            raise BadRequest(PKCS12_UNREADABLE.format(exc)) from None
        if p12.cert is None or p12.key is None:
            raise BadRequest(PKCS12_UNREADABLE.format("no certificate or no key in the bundle"))
        return _bundle(p12.cert.certificate, p12.key, [c.certificate for c in p12.additional_certs])
    c = session.get(SecretContainer, rid) if rid else None
    if c is None or c.project_id != project or c.type != "certificate":
        raise Unreadable(ref)
    parts = {e["name"]: _secret(session, fernet, project, e["secret_id"]) for e in c.secret_refs}
    if parts.get("certificate") is None or parts.get("private_key") is None:
        raise Unreadable(ref)
    try:
        cert = x509.load_pem_x509_certificate(parts["certificate"] or b"")
        passphrase = parts.get("private_key_passphrase")
        key = serialization.load_pem_private_key(parts["private_key"] or b"", passphrase or None)
        chain = (
            x509.load_pem_x509_certificates(parts["intermediates"] or b"")
            if parts.get("intermediates")
            else []
        )
    except (TypeError, ValueError):
        raise Unreadable(ref) from None
    if key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise Unreadable(ref)
    return _bundle(cert, key, chain)


def check_certs(session: Session, fernet: Fernet, project: str, given: list[str]) -> None:
    """400 `Could not retrieve certificate: [...]` naming every unreadable ref."""
    bad = []
    for ref in given:
        try:
            load_cert(session, fernet, project, ref)
        except Unreadable:
            bad.append(ref)
    if bad:
        raise BadRequest(f"Could not retrieve certificate: {bad!r}")


def load_ca(session: Session, fernet: Fernet, project: str, ref: str, what: str) -> str:
    data = _secret(session, fernet, project, refs.ref_id(ref))
    if data is None:
        raise BadRequest(f"Could not retrieve certificate: {[ref]!r}")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise BadRequest(
            f"Validation failure: The {what} CA certificate is invalid. It must be a valid "
            f"x509 PEM format certificate. Error: {exc}"
        ) from None
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def load_crl(
    session: Session, fernet: Fernet, project: str, ref: str, ca_pem: str, what: str
) -> str:
    data = _secret(session, fernet, project, refs.ref_id(ref))
    if data is None:
        raise BadRequest(f"Could not retrieve certificate: {[ref]!r}")
    try:
        crl = x509.load_pem_x509_crl(data)
    except ValueError as exc:
        raise BadRequest(
            f"Validation failure: The {what} certificate revocation list is invalid. It "
            f"must be a valid x509 PEM format certificate revocation list. Error: {exc}"
        ) from None
    cas = x509.load_pem_x509_certificates(ca_pem.encode())
    if not any(_signed_by(crl, ca) for ca in cas):
        raise BadRequest(
            "Validation failure: The CRL specified is not valid for client certificate "
            "authority reference supplied."
        )
    return crl.public_bytes(serialization.Encoding.PEM).decode()


def _signed_by(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> bool:
    try:
        return crl.issuer == ca.subject and crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    except (InvalidSignature, TypeError, ValueError):
        return False


def pem_id(pem: str) -> str:
    return hashlib.sha1(pem.encode()).hexdigest()
