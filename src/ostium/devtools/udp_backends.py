"""UDP and SCTP demo backends: a datagram server that answers with its name, and an
SCTP responder on a raw socket (this kernel may have no SCTP sockets at all).

Role: something for UDP/SCTP listeners to balance in demos, e2e tests and
`bench/udp.py`. Run inside a backend namespace (`DemoNetwork` makes them):

    python -m ostium.devtools.udp_backends udp --name b1 --bind 198.18.1.11 --port 5353
    python -m ostium.devtools.udp_backends sctp --name b1 --bind 198.18.1.11 --port 3868
    python -m ostium.devtools.udp_backends ask --address <VIP> --port 53
    python -m ostium.devtools.udp_backends sctp-ask --address <VIP> --port 3868

The UDP server answers every datagram with `<name> <datagram>`; the SCTP responder
answers each INIT to its port with an INIT-ACK whose state cookie is its name (and
ignores the ABORT that follows). Not part of the load balancer: no runtime package
imports it.
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import sys

from ostium.agent.nftables.checks import (
    IPPROTO_SCTP,
    SCTP_INIT,
    SCTP_INIT_ACK,
    abort_chunk,
    init_chunk,
    parse_sctp,
    sctp_packet,
)


def serve_udp(name: str, bind: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind((bind, port))
        prefix = name.encode() + b" "
        while True:
            data, peer = s.recvfrom(65535)
            s.sendto(prefix + data, peer)


def init_ack(name: str, peer_tag: int) -> bytes:
    cookie = name.encode()
    param = struct.pack("!HH", 7, 4 + len(cookie)) + cookie
    param += b"\0" * (-len(param) % 4)
    tag = int.from_bytes(os.urandom(4), "big") or 1
    body = struct.pack("!IIHHI", tag, 65535, 1, 1, tag) + param
    return struct.pack("!BBH", SCTP_INIT_ACK, 0, 4 + len(body)) + body


def cookie_of(chunk_body: bytes) -> str:
    """The state cookie of an INIT-ACK chunk body (the responder's name)."""
    params = chunk_body[16:]
    while len(params) >= 4:
        ptype, plen = struct.unpack("!HH", params[:4])
        if ptype == 7:
            return params[4:plen].decode(errors="replace")
        params = params[max(4, plen + (-plen % 4)) :]
    return ""


def serve_sctp(name: str, bind: str, port: int) -> None:
    v6 = ":" in bind
    with socket.socket(
        socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_RAW, IPPROTO_SCTP
    ) as s:
        s.bind((bind, 0))
        while True:
            data, peer = s.recvfrom(65535)
            parsed = parse_sctp(data, has_ip_header=not v6)
            if parsed is None:
                continue
            src, dst, _vtag, ctype, body = parsed
            if dst != port or ctype != SCTP_INIT or len(body) < 4:
                continue
            peer_tag = struct.unpack("!I", body[:4])[0]
            s.sendto(sctp_packet(port, src, peer_tag, init_ack(name, peer_tag)), (peer[0], 0))


def udp_ask(address: str, port: int, timeout: float = 2.0) -> str:
    """One datagram from a new socket; the name of the server that answered ('' if none)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(b"hello", (address, port))
        try:
            return s.recv(2048).decode(errors="replace").split(" ", 1)[0]
        except OSError:
            return ""


def sctp_ask(address: str, port: int, timeout: float = 2.0) -> str:
    """Send one INIT to address:port from a raw socket; the name in the INIT-ACK's
    cookie ('' when nothing answered). The association is then aborted."""
    v6 = ":" in address
    src_port = 1024 + int.from_bytes(os.urandom(2), "big") % 60000
    tag = int.from_bytes(os.urandom(4), "big") or 1
    with socket.socket(
        socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_RAW, IPPROTO_SCTP
    ) as s:
        s.settimeout(timeout)
        s.sendto(sctp_packet(src_port, port, 0, init_chunk(tag, tag)), (address, 0))
        while True:
            try:
                data = s.recv(65535)
            except OSError:
                return ""
            parsed = parse_sctp(data, has_ip_header=not v6)
            if parsed is None:
                continue
            src, dst, vtag, ctype, body = parsed
            if (src, dst, vtag, ctype) == (port, src_port, tag, SCTP_INIT_ACK):
                peer_tag = struct.unpack("!I", body[:4])[0]
                s.sendto(sctp_packet(src_port, port, peer_tag, abort_chunk()), (address, 0))
                return cookie_of(body)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="udp_backends")
    parser.add_argument("kind", choices=["udp", "sctp", "ask", "sctp-ask"])
    parser.add_argument("--name", help="udp, sctp: the name to answer with")
    parser.add_argument("--bind", help="udp, sctp: the address to serve on")
    parser.add_argument("--address", help="ask, sctp-ask: where to send (a VIP)")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    if args.kind in ("ask", "sctp-ask"):
        if args.kind == "sctp-ask":
            answer = sctp_ask(args.address, args.port)
        else:
            answer = udp_ask(args.address, args.port)
        print(answer or "(no answer)")
        return 0 if answer else 1
    if not args.name or not args.bind:
        parser.error("udp and sctp need --name and --bind")
    try:
        (serve_udp if args.kind == "udp" else serve_sctp)(args.name, args.bind, args.port)
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
