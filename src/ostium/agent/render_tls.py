"""TLS in haproxy.cfg: bind options of a TLS listener, its HSTS and X-SSL-* lines, and
the server options of a pool that re-encrypts to its members (spec tls.md section 4).

Role: pure mapping from `ListenerTlsSpec` / `PoolTlsSpec` to haproxy keywords. File
paths come from `tls_files` under the directory the render context names. Cipher strings
were checked against Octavia's alphabet by the spec model; versions and ALPN ids are
enums. Callers: `render`, `render_backends`, `render_l7` (SSL rules).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ostium.agent import tls_files
from ostium.agent.quoting import quote
from ostium.model.spec import ListenerSpec, ListenerTlsSpec, PoolTlsSpec
from ostium.model.tls import TLS13_CIPHERSUITES, TLS_VERSIONS, VERIFY_MODES

_MIN_MAX = {"SSLv3": "SSLv3", "TLSv1": "TLSv1.0", "TLSv1.1": "TLSv1.1"}
"""API version names -> haproxy's ssl-min-ver/ssl-max-ver names (others are the same)."""
SSL_HEADERS = {
    "x-ssl-client-verify": "%[ssl_c_verify]",
    "x-ssl-client-has-cert": "%[ssl_c_used]",
    "x-ssl-client-dn": "%{+Q}[ssl_c_s_dn]",
    "x-ssl-client-cn": "%{+Q}[ssl_c_s_dn(cn)]",
    "x-ssl-issuer": "%{+Q}[ssl_c_i_dn]",
    "x-ssl-client-sha1": "%{+Q}[ssl_c_sha1,hex]",
    "x-ssl-client-not-before": "%{+Q}[ssl_c_notbefore]",
    "x-ssl-client-not-after": "%{+Q}[ssl_c_notafter]",
}
_HEADER_NAMES = {
    "x-ssl-client-verify": "X-SSL-Client-Verify",
    "x-ssl-client-has-cert": "X-SSL-Client-Has-Cert",
    "x-ssl-client-dn": "X-SSL-Client-DN",
    "x-ssl-client-cn": "X-SSL-Client-CN",
    "x-ssl-issuer": "X-SSL-Issuer",
    "x-ssl-client-sha1": "X-SSL-Client-SHA1",
    "x-ssl-client-not-before": "X-SSL-Client-Not-Before",
    "x-ssl-client-not-after": "X-SSL-Client-Not-After",
}


def _file(directory: Path, file_id: str) -> str:
    """A TLS file's path as one haproxy word (the state directory may hold anything)."""
    return quote(str(tls_files.pem_path(directory, file_id)))


def _common(
    ciphers: str | None, versions: Sequence[str] | None, alpn: Sequence[str] | None
) -> list[str]:
    """ciphers / ciphersuites / version range / alpn, in Octavia's order."""
    opts: list[str] = []
    wanted = [v for v in TLS_VERSIONS if versions is None or v in versions]
    if ciphers:
        names = set(ciphers.split(":")) - {""}
        pre13 = sorted(n for n in names if n not in TLS13_CIPHERSUITES)
        tls13 = sorted(n for n in names if n in TLS13_CIPHERSUITES)
        if pre13 and any(v != "TLSv1.3" for v in wanted):
            opts.append("ciphers " + ":".join(pre13))
        if tls13 and "TLSv1.3" in wanted:
            opts.append("ciphersuites " + ":".join(tls13))
    if versions:
        opts.append(f"ssl-min-ver {_MIN_MAX.get(wanted[0], wanted[0])}")
        opts.append(f"ssl-max-ver {_MIN_MAX.get(wanted[-1], wanted[-1])}")
    if alpn:
        opts.append("alpn " + ",".join(alpn))
    return opts


def bind_options(listener: ListenerSpec, directory: Path) -> str:
    """What follows the address on the bind line of a TLS listener."""
    tls = listener.tls
    assert tls is not None
    path, _ = tls_files.crt_list(directory, listener)
    opts = ["ssl", f"crt-list {quote(str(path))}"]
    if tls.client_ca is not None:
        opts.append(f"ca-file {_file(directory, tls.client_ca)}")
        opts.append(f"verify {VERIFY_MODES[tls.client_authentication]}")
        if tls.client_crl is not None:
            opts.append(f"crl-file {_file(directory, tls.client_crl)}")
    opts += _common(tls.ciphers, tls.versions, tls.alpn)
    return " ".join(opts)


def frontend_lines(
    listener: ListenerSpec, tls: ListenerTlsSpec, headers: dict[str, bool]
) -> list[str]:
    """HSTS and the X-SSL-* headers of a TERMINATED_HTTPS listener."""
    lines: list[str] = []
    if tls.hsts_max_age is not None:
        value = f"max-age={tls.hsts_max_age};"
        if tls.hsts_include_subdomains:
            value += " includeSubDomains;"
        if tls.hsts_preload:
            value += " preload;"
        lines.append(f'http-response set-header Strict-Transport-Security "{value}"')
    for key, expr in SSL_HEADERS.items():
        if headers.get(key):
            lines.append(f"http-request set-header {_HEADER_NAMES[key]} {expr}")
    return lines


def server_options(tls: PoolTlsSpec, directory: Path) -> list[str]:
    opts = ["ssl"]
    if tls.certificate is not None:
        opts.append(f"crt {_file(directory, tls.certificate)}")
    if tls.ca is not None:
        opts.append(f"ca-file {_file(directory, tls.ca)}")
        if tls.crl is not None:
            opts.append(f"crl-file {_file(directory, tls.crl)}")
        opts.append("verify required")
    else:
        opts.append("verify none")
    opts.append("sni ssl_fc_sni")
    opts += _common(tls.ciphers, tls.versions, tls.alpn)
    return opts
