"""The only door from the control plane to agents: typed calls over mutual TLS.

Role: wrap an injected `httpx.Client` (built with
`mtls_client`, or a `MockTransport` in tests) and speak the agent
API with the models of `ostium.model.spec`. Callers: the worker (reconcile steps) and
housekeeping. This is the one place httpx errors are translated:

- transport failures (connect, TLS, timeouts) and 5xx answers -> `AgentUnavailable`
  (a `TransientError`: back off and retry);
- 4xx answers -> `AgentRefused` (a `PermanentError`) carrying the agent's error code,
  message and details; a 409 on `apply_spec` is `StaleSpec` (the agent already runs a
  newer generation).

Must not know about the database or retry policy; callers decide what to do.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx

from ostium.model import timing
from ostium.model.errors import PermanentError, TransientError
from ostium.model.spec import REVEAL, AmphoraList, AmphoraPlug, AmphoraSpec, AmphoraState

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
KEEPALIVE_SECONDS = 60.0
"""How long an idle connection to an agent stays open for the next call. A new one costs
a TCP and mutual-TLS handshake (milliseconds of CPU on both sides), and changes come
minutes apart; the agent keeps idle connections longer (`agent.main.KEEPALIVE_SECONDS`)
so that the client, not the server, closes them and no request meets a closing socket."""
REMOTE_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
"""For agents on other hosts: a host that stopped answering costs a caller 5 s, not 10
(a silent host is not called at all: see `control/worker/amphorae.retire`)."""


class AgentUnavailable(TransientError):
    """The agent could not be reached or failed internally; retry later."""

    def __init__(self, message: str, status: int | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.details = details


class AgentRefused(PermanentError):
    """The agent refused the request (4xx); retrying the same request will not help."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"agent refused ({status} {code}): {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class StaleSpec(AgentRefused):
    """The agent has already applied a newer generation than the one sent."""


def ssl_context(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    """The client TLS context: presents `cert`/`key`, trusts only `ca` (TLS >= 1.2)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


_ssl_context = ssl_context


def mtls_client(
    base_url: str,
    *,
    cert: Path,
    key: Path,
    ca: Path,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    context: ssl.SSLContext | None = None,
) -> httpx.Client:
    """An `httpx.Client` presenting `cert`/`key` and trusting only `ca` (or using
    `context`, e.g. one the caller reloads when the certificate is renewed)."""
    verify = context if context is not None else ssl_context(cert, key, ca)
    limits = httpx.Limits(keepalive_expiry=KEEPALIVE_SECONDS)
    return httpx.Client(base_url=base_url, verify=verify, timeout=timeout, limits=limits)


def _check(response: httpx.Response, *, stale_is_special: bool = False) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("error", "http_error"))
    message = str(body.get("message", response.text[:500]))
    details = body.get("details")
    if response.status_code >= 500:
        raise AgentUnavailable(
            f"agent failed ({response.status_code} {code}): {message}",
            response.status_code,
            details,
        )
    if stale_is_special and response.status_code == 409:
        raise StaleSpec(response.status_code, code, message, details)
    raise AgentRefused(response.status_code, code, message, details)


def _transport_error(exc: httpx.HTTPError, what: str) -> AgentUnavailable:
    return AgentUnavailable(f"agent unreachable during {what}: {type(exc).__name__}: {exc}")


class AgentClient:
    """Synchronous agent client around an injected `httpx.Client`."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def _request(self, method: str, path: str, what: str, **kw: Any) -> httpx.Response:
        try:
            return self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise _transport_error(exc, what) from exc

    def health(self) -> dict[str, Any]:
        response = self._request("GET", "/health", "health")
        _check(response)
        result: dict[str, Any] = response.json()
        return result

    def ensure_amphora(self, plug: AmphoraPlug) -> AmphoraState:
        response = self._request(
            "PUT",
            f"/amphorae/{plug.amphora_id}",
            "ensure_amphora",
            content=plug.model_dump_json(),
            headers={"content-type": "application/json"},
        )
        _check(response)
        return AmphoraState.model_validate_json(response.content)

    def apply_spec(self, spec: AmphoraSpec) -> AmphoraState:
        with timing.phase("agent"):
            response = self._request(
                "PUT",
                f"/amphorae/{spec.amphora_id}/spec",
                "apply_spec",
                content=spec.model_dump_json(context=REVEAL),  # TLS material, over mTLS only
                headers={"content-type": "application/json"},
            )
        steps = timing.current()
        if steps is not None:  # the agent's own steps, inside the "agent" one
            for name, secs in timing.parse_server_timing(
                response.headers.get("server-timing", ""), "agent."
            ).items():
                steps.add(name, secs)
        _check(response, stale_is_special=True)
        return AmphoraState.model_validate_json(response.content)

    def get_amphora(self, amphora_id: str) -> AmphoraState | None:
        """The amphora's state, or None if the agent does not have it."""
        response = self._request("GET", f"/amphorae/{amphora_id}", "get_amphora")
        if response.status_code == 404:
            return None
        _check(response)
        return AmphoraState.model_validate_json(response.content)

    def delete_amphora(self, amphora_id: str) -> None:
        response = self._request("DELETE", f"/amphorae/{amphora_id}", "delete_amphora")
        _check(response)

    def list_amphorae(self) -> list[AmphoraState]:
        response = self._request("GET", "/amphorae", "list_amphorae")
        _check(response)
        return AmphoraList.model_validate_json(response.content).amphorae

    def sweep(self) -> list[str]:
        """Ask the agent to remove what it owns but does not know; what it removed."""
        response = self._request("POST", "/sweep", "sweep")
        _check(response)
        return [str(item) for item in response.json().get("removed", [])]
