"""Serve a real Keystone (the `keystone` package from PyPI) on one loopback port.

Run by the Python of Keystone's own virtualenv (`make keystone-venv`), never by
ostium's: `python keystone_wsgi.py CONFIG HOST PORT`. A threaded stdlib WSGI server
(no extra package to build) runs Keystone's Flask application; "ready" on stdout means
the port is open. Requests are accepted in threads but run one at a time: Keystone on
SQLite answers 500 (`database is locked`) to concurrent writes, which tempest's dynamic
credentials make. Used by `tools/keystone_local.py` for the external-Keystone tests and
`make tempest`.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 64


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # Keystone logs requests to its own log file


def _one_at_a_time(app: Callable[..., Iterable[bytes]]) -> Callable[..., list[bytes]]:
    lock = threading.Lock()

    def serialized(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with lock:
            return list(app(environ, start_response))

    return serialized


def main() -> None:
    config, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    os.environ["OS_KEYSTONE_CONFIG_FILES"] = config
    sys.argv = sys.argv[:1]  # oslo.config reads the command line: give it none
    from keystone.server import wsgi

    app = _one_at_a_time(wsgi.initialize_public_application())
    server = make_server(host, port, app, server_class=_Server, handler_class=_QuietHandler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
