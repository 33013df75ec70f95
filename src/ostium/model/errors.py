"""The one exception tree of ostium.

    OstiumError
    ├── ApiError                 an answer to an API client (carries the HTTP status)
    │   ├── BadRequest           400
    │   ├── Forbidden            403
    │   ├── NotFound             404
    │   ├── Conflict             409
    │   ├── PayloadTooLarge      413
    │   ├── NotImplementedByProvider 501
    │   └── ServiceUnavailable   503
    ├── TransientError           back off and retry (worker, agent client)
    │   └── AgentFailure ...     the agent's transient branch (agent/errors.py)
    ├── PermanentError           stop, record the reason, mark ERROR
    │   ├── InvalidHeartbeat     a heartbeat datagram to drop (carries the reason)
    │   └── AgentError ...       the agent's refusals (agent/errors.py)
    └── LeaseLost                another worker holds the load balancer now: stop,
                                 neither retry nor ERROR (control/worker/lease.py)

Each boundary translates foreign errors once: SQLAlchemy in control/db, httpx in the
agent client, subprocess and netlink failures in the agent. Messages name the input that
was wrong and its value.
"""

from __future__ import annotations


class OstiumError(Exception):
    """Root of every error ostium raises on purpose."""


class ApiError(OstiumError):
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ApiError):
    status = 400


class Forbidden(ApiError):
    status = 403

    def __init__(
        self, message: str = "Policy does not allow this request to be performed."
    ) -> None:
        super().__init__(message)


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class PayloadTooLarge(ApiError):
    status = 413


class NotImplementedByProvider(ApiError):
    status = 501


class ServiceUnavailable(ApiError):
    status = 503


class TransientError(OstiumError):
    """A failure worth retrying after a back-off (timeouts, busy resources)."""


class PermanentError(OstiumError):
    """A failure retrying cannot fix; the object goes to ERROR with this reason."""


class InvalidHeartbeat(PermanentError):
    """A heartbeat datagram the health manager drops; `reason` is a `DropReason` value."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
