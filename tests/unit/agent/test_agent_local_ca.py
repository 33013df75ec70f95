"""The local CA creates itself once and issues server/client certificates it signed."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

from cryptography import x509

from ostium.drivers.certificates.local_ca import LocalCA, cert_expiration


def test_ca_created_once_with_private_key_0600(tmp_path: Path) -> None:
    ca = LocalCA(tmp_path / "ca")
    assert stat.S_IMODE((tmp_path / "ca" / "ca.key").stat().st_mode) == 0o600
    first = (tmp_path / "ca" / "ca.pem").read_bytes()
    LocalCA(tmp_path / "ca")
    assert (tmp_path / "ca" / "ca.pem").read_bytes() == first
    assert ca.not_after > dt.datetime.now(dt.UTC) + dt.timedelta(days=365)


def test_server_and_client_certs(tmp_path: Path) -> None:
    ca = LocalCA(tmp_path / "ca")
    server = ca.issue_server_cert(
        tmp_path / "s.pem",
        tmp_path / "s.key",
        ip_addresses=["198.18.0.5"],
        dns_names=["agent1"],
        validity=dt.timedelta(days=2),
    )
    client = ca.issue_client_cert(tmp_path / "c.pem", tmp_path / "c.key")
    cert = x509.load_pem_x509_certificate(server.cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address("198.18.0.5") in san.get_values_for_type(x509.IPAddress)
    assert "agent1" in san.get_values_for_type(x509.DNSName)
    assert cert_expiration(server.cert_path) == server.not_after.replace(microsecond=0)
    assert server.not_after < dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    assert stat.S_IMODE(client.key_path.stat().st_mode) == 0o600
    ca_cert = x509.load_pem_x509_certificate(ca.cert_path.read_bytes())
    cert.verify_directly_issued_by(ca_cert)
