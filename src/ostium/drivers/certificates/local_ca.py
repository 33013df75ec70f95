"""A local certificate authority on `cryptography`, for mutual TLS with agents.

Role: create (once) a CA in a directory and issue agent server certificates and
controller client certificates from it. Callers: the all-in-one process and the worker
(when ensuring agent credentials), housekeeping (rotation), tests.

Files: `ca.pem` (certificate) and `ca.key` (private key, 0600) in the CA directory;
issued pairs are written where the caller asks, keys always 0600. This module never
talks to the network and never reads configuration by itself.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_CA_VALIDITY = dt.timedelta(days=3650)
DEFAULT_CERT_VALIDITY = dt.timedelta(days=30)
_BACKDATE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class IssuedCert:
    """Paths of an issued certificate and key, and when the certificate expires."""

    cert_path: Path
    key_path: Path
    not_after: dt.datetime


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class LocalCA:
    """A CA kept in `directory`; created on first use if missing."""

    def __init__(
        self,
        directory: Path,
        *,
        common_name: str = "ostium local CA",
        ca_validity: dt.timedelta = DEFAULT_CA_VALIDITY,
    ) -> None:
        self.directory = Path(directory)
        self.cert_path = self.directory / "ca.pem"
        self.key_path = self.directory / "ca.key"
        if not (self.cert_path.exists() and self.key_path.exists()):
            self._create(common_name, ca_validity)
        self._cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"CA key {self.key_path} is not an EC private key")
        self._key = key

    @property
    def not_after(self) -> dt.datetime:
        return self._cert.not_valid_after_utc

    def _create(self, common_name: str, validity: dt.timedelta) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = dt.datetime.now(dt.UTC)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(uuid.uuid4().int)
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + validity)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_private(self.key_path, _key_pem(key))
        _write_public(self.cert_path, cert.public_bytes(serialization.Encoding.PEM))

    def _issue(
        self,
        cert_path: Path,
        key_path: Path,
        common_name: str,
        usage: x509.ObjectIdentifier,
        dns_names: list[str],
        ip_addresses: list[str],
        validity: dt.timedelta,
    ) -> IssuedCert:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._certificate(
            key.public_key(), common_name, usage, dns_names, ip_addresses, validity
        )
        _write_private(key_path, _key_pem(key))
        _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        return IssuedCert(
            cert_path=cert_path, key_path=key_path, not_after=cert.not_valid_after_utc
        )

    def _certificate(
        self,
        public_key: ec.EllipticCurvePublicKey,
        common_name: str,
        usage: x509.ObjectIdentifier,
        dns_names: list[str],
        ip_addresses: list[str],
        validity: dt.timedelta,
    ) -> x509.Certificate:
        now = dt.datetime.now(dt.UTC)
        not_after = min(now + validity, self.not_after)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self._cert.subject)
            .public_key(public_key)
            .serial_number(uuid.uuid4().int)
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(self._key, hashes.SHA256())

    def sign_request(
        self,
        csr_pem: bytes,
        *,
        common_name: str,
        dns_names: list[str],
        ip_addresses: list[str],
        validity: dt.timedelta = DEFAULT_CERT_VALIDITY,
    ) -> bytes:
        """An agent server certificate (PEM) for the key of a certificate signing request
        (the host keeps its private key). Only the request's public key is used: the
        name and the subject alternative names are the caller's, checked by it. Raises
        ValueError for a request that is not a valid EC P-256 one."""
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError as exc:
            raise ValueError(f"not a PEM certificate signing request: {exc}") from None
        public_key = csr.public_key()
        if not csr.is_signature_valid or not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise ValueError("the certificate signing request is not a signed EC key request")
        cert = self._certificate(
            public_key,
            common_name,
            ExtendedKeyUsageOID.SERVER_AUTH,
            list(dict.fromkeys(dns_names)),
            list(dict.fromkeys(ip_addresses)),
            validity,
        )
        return cert.public_bytes(serialization.Encoding.PEM)

    def issue_server_cert(
        self,
        cert_path: Path,
        key_path: Path,
        *,
        common_name: str = "ostium-agent",
        dns_names: list[str] | None = None,
        ip_addresses: list[str] | None = None,
        validity: dt.timedelta = DEFAULT_CERT_VALIDITY,
    ) -> IssuedCert:
        """An agent server certificate; SAN always includes 127.0.0.1 and `localhost`."""
        dns = ["localhost", *(dns_names or [])]
        ips = ["127.0.0.1", *(ip_addresses or [])]
        return self._issue(
            cert_path,
            key_path,
            common_name,
            ExtendedKeyUsageOID.SERVER_AUTH,
            list(dict.fromkeys(dns)),
            list(dict.fromkeys(ips)),
            validity,
        )

    def issue_client_cert(
        self,
        cert_path: Path,
        key_path: Path,
        *,
        common_name: str = "ostium-controller",
        validity: dt.timedelta = DEFAULT_CERT_VALIDITY,
    ) -> IssuedCert:
        """A controller client certificate for talking to agents."""
        return self._issue(
            cert_path, key_path, common_name, ExtendedKeyUsageOID.CLIENT_AUTH, [], [], validity
        )


def cert_expiration(cert_path: Path) -> dt.datetime:
    """When the PEM certificate at `cert_path` expires (UTC)."""
    return x509.load_pem_x509_certificate(cert_path.read_bytes()).not_valid_after_utc
