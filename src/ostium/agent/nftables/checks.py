"""One health check of a UDP/SCTP pool member: True (up) or False (down).

Role: the probes the agent runs itself, since there is no keepalived checker without
IPVS (Octavia's amphora uses `nc -uz`, its `amphora-health-checker sctp`, keepalived's
TCP_CHECK and HTTP_GET). Called by `checking` from a thread that has entered the
amphora's network namespace, so every socket here lives in that namespace.

* UDP-CONNECT: one empty datagram on a connected socket; an ICMP port unreachable (the
  kernel turns it into ECONNREFUSED) is down; an answer or silence until the timeout is
  up (a UDP service need not answer an empty datagram).
* SCTP: a crafted INIT on a raw socket; INIT-ACK is up (and is answered with ABORT, so
  the member keeps no half-open association), ABORT or silence is down.
* TCP: a completed connect. HTTP: a request, and the status among the expected codes.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import time

from ostium.model.enums import HealthMonitorType
from ostium.model.spec import HealthMonitorSpec

IPPROTO_SCTP = 132
SCTP_INIT, SCTP_INIT_ACK, SCTP_ABORT = 1, 2, 6


def udp_connect(address: str, port: int, timeout: float) -> bool:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(max(0.1, timeout))
        try:
            s.connect((address, port))
            s.send(b"")
            s.recv(2048)
        except ConnectionRefusedError:
            return False
        except TimeoutError:
            return True
        except OSError:
            return False
    return True


def tcp_connect(address: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((address, port), timeout=max(0.1, timeout)):
            return True
    except OSError:
        return False


def _codes(expected: str) -> set[int]:
    text = expected.replace(" ", "")
    if "-" in text:
        low, high = (int(x) for x in text.split("-", 1))
        return set(range(low, high + 1))
    return {int(x) for x in text.split(",") if x}


def http(address: str, port: int, timeout: float, hm: HealthMonitorSpec) -> bool:
    method = (hm.http_method.value if hm.http_method else "GET").encode()
    path = (hm.url_path or "/").encode("ascii", "replace")
    version = b"1.1" if (hm.http_version or 1.0) >= 1.1 else b"1.0"
    host = (hm.domain_name or address).encode("ascii", "replace")
    if any(c in path + host for c in b"\r\n "):
        return False  # never sent: the API refuses such values anyway
    request = b"%s %s HTTP/%s\r\nHost: %s\r\nConnection: close\r\n\r\n" % (
        method,
        path,
        version,
        host,
    )
    try:
        with socket.create_connection((address, port), timeout=max(0.1, timeout)) as s:
            s.sendall(request)
            status_line = s.recv(256).split(b"\r\n", 1)[0].split()
    except OSError:
        return False
    if len(status_line) < 2 or not status_line[1].isdigit():
        return False
    return int(status_line[1]) in _codes(hm.expected_codes or "200")


# --------------------------------------------------------------------------- SCTP


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC32C[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def sctp_packet(src_port: int, dst_port: int, vtag: int, chunks: bytes) -> bytes:
    """An SCTP common header + `chunks`, with its CRC32c checksum."""
    header = struct.pack("!HHII", src_port, dst_port, vtag, 0)
    checksum = crc32c(header + chunks)
    return header[:8] + struct.pack("<I", checksum) + chunks


def init_chunk(initiate_tag: int, tsn: int) -> bytes:
    # type, flags, length; initiate tag, a_rwnd, outbound streams, inbound streams, TSN
    return struct.pack("!BBHIIHHI", SCTP_INIT, 0, 20, initiate_tag, 65535, 1, 1, tsn)


def abort_chunk() -> bytes:
    return struct.pack("!BBH", SCTP_ABORT, 0, 4)


def parse_sctp(data: bytes, has_ip_header: bool) -> tuple[int, int, int, int, bytes] | None:
    """(src port, dst port, vtag, first chunk type, first chunk body) of a packet."""
    if has_ip_header:
        if len(data) < 20:
            return None
        data = data[(data[0] & 0x0F) * 4 :]
    if len(data) < 16:
        return None
    src, dst, vtag, _sum = struct.unpack("!HHII", data[:12])
    ctype, _flags, length = struct.unpack("!BBH", data[12:16])
    return src, dst, vtag, ctype, data[16 : 12 + max(length, 4)]


def sctp_init(address: str, port: int, timeout: float) -> bool:
    version = ipaddress.ip_address(address).version
    family = socket.AF_INET6 if version == 6 else socket.AF_INET
    src_port = 1024 + int.from_bytes(os.urandom(2), "big") % 60000
    tag = int.from_bytes(os.urandom(4), "big") or 1
    deadline = time.monotonic() + max(0.1, timeout)
    with socket.socket(family, socket.SOCK_RAW, IPPROTO_SCTP) as s:
        s.connect((address, 0))
        s.send(sctp_packet(src_port, port, 0, init_chunk(tag, tag)))
        while (left := deadline - time.monotonic()) > 0:
            s.settimeout(left)
            try:
                data = s.recv(4096)
            except TimeoutError:
                return False
            except OSError:
                return False
            parsed = parse_sctp(data, has_ip_header=version == 4)
            if parsed is None:
                continue
            src, dst, vtag, ctype, body = parsed
            if src != port or dst != src_port or vtag != tag:
                continue
            if ctype == SCTP_INIT_ACK and len(body) >= 4:
                peer_tag = struct.unpack("!I", body[:4])[0]
                s.send(sctp_packet(src_port, port, peer_tag, abort_chunk()))
                return True
            if ctype == SCTP_ABORT:
                return False
    return False


def run_check(hm: HealthMonitorSpec, address: str, port: int) -> bool:
    timeout = float(hm.timeout)
    if hm.type == HealthMonitorType.UDP_CONNECT:
        return udp_connect(address, port, timeout)
    if hm.type == HealthMonitorType.SCTP:
        return sctp_init(address, port, timeout)
    if hm.type == HealthMonitorType.HTTP:
        return http(address, port, timeout, hm)
    return tcp_connect(address, port, timeout)
