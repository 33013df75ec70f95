"""Talk to haproxy's runtime sockets: the stats/admin socket and the master CLI.

Role: send one command per connection and return the text answer. Callers:
`haproxy_process` (reload through the master CLI, `show proc`), `haproxy_stats` and
`runtime_update` (server weight/state/add/del, whose answers `haproxy_answers` parses).
Commands are built by callers from ids, numbers and addresses only; a newline or `;` in
a command is refused here (`UnsafeRuntimeCommand`) so one call can never become two
commands. Socket errors become `RuntimeCommandFailed` here and nowhere else.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass

from ostium.agent.errors import RuntimeCommandFailed, UnsafeRuntimeCommand

__all__ = ["ProcInfo", "RuntimeCommandFailed", "send", "send_all", "show_proc"]


def send(socket_path: str, command: str, timeout: float = 5.0) -> str:
    return send_all(socket_path, (command,), timeout)


def send_all(socket_path: str, commands: Sequence[str], timeout: float = 5.0) -> str:
    """Several commands over one connection (haproxy runs them in turn); the answers
    come one after the other, each ending with an empty line."""
    for command in commands:
        if "\n" in command or "\r" in command or ";" in command:
            raise UnsafeRuntimeCommand(f"refusing multi-command runtime input {command!r}")
    command = ";".join(commands)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(socket_path)
            sock.sendall(command.encode() + b"\n")
            sock.shutdown(socket.SHUT_WR)  # the master CLI answers only after EOF
            chunks: list[bytes] = []
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                chunks.append(data)
    except OSError as exc:
        raise RuntimeCommandFailed(f"runtime socket {socket_path}: {command!r}: {exc}") from exc
    return b"".join(chunks).decode(errors="replace")


@dataclass(frozen=True)
class ProcInfo:
    """Parsed `show proc` of the master CLI."""

    master_pid: int
    reloads: int
    failed_reloads: int
    workers: dict[int, int]
    """worker pid -> number of reloads it has survived (0 = newest)."""


def show_proc(master_socket: str) -> ProcInfo:
    text = send(master_socket, "show proc")
    master_pid = reloads = failed = 0
    workers: dict[int, int] = {}
    section = "master"
    for line in text.splitlines():
        if line.startswith("# workers"):
            section = "workers"
            continue
        if line.startswith("# programs"):
            section = "programs"
            continue
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split()
        if section == "master" and len(fields) >= 3 and fields[1] == "master":
            master_pid = _number(fields[0], text)
            reloads = _number(fields[2], text)
            if "[failed:" in line:
                failed = _number(line.split("[failed:")[1].split("]")[0], text)
        elif section == "workers" and len(fields) >= 3 and fields[1] == "worker":
            workers[_number(fields[0], text)] = _number(fields[2], text)
    if not master_pid:
        raise RuntimeCommandFailed(f"unexpected 'show proc' answer: {text[:200]!r}")
    return ProcInfo(master_pid, reloads, failed, workers)


def _number(word: str, answer: str) -> int:
    try:
        return int(word)
    except ValueError:
        raise RuntimeCommandFailed(f"unexpected 'show proc' answer: {answer[:200]!r}") from None
