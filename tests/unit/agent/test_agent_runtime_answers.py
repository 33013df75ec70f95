"""haproxy's runtime answers parsed into results, and a runtime plan sent to a socket
that answers like haproxy 2.6 (a real unix socket served by a thread, no mocks)."""

from __future__ import annotations

import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ostium.agent import haproxy_answers, haproxy_runtime, runtime_update
from ostium.agent.errors import RuntimeCommandRefused, UnsafeRuntimeCommand
from ostium.agent.haproxy_answers import Outcome
from ostium.model.errors import OstiumError, PermanentError, TransientError

BE = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa:bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"
SRV = "11111111-1111-1111-1111-111111111111"


@pytest.mark.parametrize(
    ("command", "answer", "outcome"),
    [
        (f"add server {BE}/{SRV} 198.18.1.1:80 weight 1", "New server registered.\n\n", "done"),
        (
            f"add server {BE}/{SRV} 198.18.1.1:80 weight 1",
            "Already exists a server with the same name in backend.\n\n",
            "refused",
        ),
        (f"add server {BE}/{SRV} 198.18.1.1:80 bogus", "unknown keyword 'bogus'.\n\n", "refused"),
        (f"add server {BE}/{SRV} 198.18.1.1:80", "", "refused"),
        (f"set server {BE}/{SRV} weight 3", "\n", "done"),
        (f"set server {BE}/{SRV} weight 3", "No such server.\n\n", "refused"),
        (f"set server {BE}/{SRV} state ready", "", "done"),
        (
            f"enable health {BE}/{SRV}",
            "Health check was not configured on this server, cannot enable.\n\n",
            "refused",
        ),
        (f"del server {BE}/{SRV}", "Server deleted.\n", "done"),
        (
            f"del server {BE}/{SRV}",
            "Server still has connections attached to it, cannot remove it.\n",
            "busy",
        ),
        (f"del server {BE}/{SRV}", "Only servers in maintenance mode can be deleted.\n", "refused"),
        # A word of the success text inside a refusal is still a refusal.
        (f"del server {BE}/{SRV}", "Server not deleted: no such backend.\n", "refused"),
    ],
)
def test_answers_are_parsed_by_command(command: str, answer: str, outcome: str) -> None:
    parsed = haproxy_answers.parse(command, answer)
    assert parsed.outcome is Outcome(outcome)
    assert parsed.message == answer.strip() and parsed.command == command


def test_an_accepted_server_with_warnings_is_done() -> None:
    answer = "[WARNING] something about the server\nNew server registered.\n"
    assert haproxy_answers.parse(f"add server {BE}/{SRV} 198.18.1.1:80", answer).done


# --------------------------------------------------------------------------- a fake socket


@pytest.fixture
def stats_socket() -> Iterator[tuple[str, list[str], dict[str, Callable[[], str]]]]:
    """A unix socket answering each command from `script` (default: silence)."""
    with tempfile.TemporaryDirectory(prefix="ostu-") as short:  # unix path length limit
        path = str(Path(short) / "stats.sock")
        received: list[str] = []
        script: dict[str, Callable[[], str]] = {}
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen()
        server.settimeout(0.05)  # so the thread sees `stop` (close() does not wake accept)
        stop = threading.Event()

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                conn.settimeout(5)
                with conn:
                    command = conn.makefile().readline().strip()
                    received.append(command)
                    conn.sendall(script.get(command, lambda: "")().encode())

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            yield path, received, script
        finally:
            stop.set()
            thread.join(timeout=5)
            server.close()


def test_plan_is_sent_and_a_busy_server_is_deleted_once_drained(
    stats_socket: tuple[str, list[str], dict[str, Callable[[], str]]],
) -> None:
    path, received, script = stats_socket
    add = f"add server {BE}/{SRV} 198.18.1.1:80 weight 1"
    gone = "22222222-2222-2222-2222-222222222222"
    busy = iter(["Server still has connections attached to it, cannot remove it.\n"] * 2)
    script[add] = lambda: "New server registered.\n"
    script[f"del server {BE}/{gone}"] = lambda: next(busy, "Server deleted.\n")
    plan = runtime_update.RuntimePlan(add=[add], remove=[(BE, gone)])
    waited: list[float] = []
    runtime_update.execute(plan, path, del_server_wait=5, sleep=waited.append)
    assert waited == [0.002, 0.004]  # tried again soon, then less often
    assert received == [
        add,
        f"set server {BE}/{gone} state maint",
        f"del server {BE}/{gone}",
        f"del server {BE}/{gone}",
        f"del server {BE}/{gone}",
    ]


def test_del_server_waits_double_up_to_a_ceiling() -> None:
    waits = runtime_update.retry_waits()
    seen = [next(waits) for _ in range(10)]
    assert seen[:3] == [0.002, 0.004, 0.008]
    assert max(seen) == 0.1 and seen[-1] == 0.1


def test_a_refusal_raises_inside_the_exception_tree(
    stats_socket: tuple[str, list[str], dict[str, Callable[[], str]]],
) -> None:
    path, received, script = stats_socket
    weight = f"set server {BE}/{SRV} weight 3"
    script[weight] = lambda: "No such server.\n"
    plan = runtime_update.RuntimePlan(add=[weight, f"set server {BE}/{SRV} state ready"])
    with pytest.raises(RuntimeCommandRefused) as refused:
        runtime_update.execute(plan, path, del_server_wait=1)
    assert isinstance(refused.value, TransientError)
    assert refused.value.details == {
        "command": weight,
        "answer": "No such server.",
        "outcome": "refused",
    }
    assert received == [weight]  # nothing sent after the refusal


def test_a_server_that_keeps_its_connections_ends_the_runtime_path(
    stats_socket: tuple[str, list[str], dict[str, Callable[[], str]]],
) -> None:
    path, _received, script = stats_socket
    script[f"del server {BE}/{SRV}"] = lambda: (
        "Server still has connections attached to it, cannot remove it.\n"
    )
    now = iter([0.0, 0.5, 1.0, 2.5])
    with pytest.raises(RuntimeCommandRefused):
        runtime_update.execute(
            runtime_update.RuntimePlan(remove=[(BE, SRV)]),
            path,
            del_server_wait=2,
            clock=lambda: next(now),
            sleep=lambda _s: None,
        )


def test_socket_and_input_errors_are_ostium_errors() -> None:
    with pytest.raises(UnsafeRuntimeCommand) as unsafe:
        haproxy_runtime.send("/nonexistent.sock", "show info\nshutdown sessions")
    assert isinstance(unsafe.value, PermanentError)
    with pytest.raises(OstiumError) as failed:
        haproxy_runtime.send("/nonexistent/stats.sock", "show info")
    assert isinstance(failed.value, TransientError)
