"""Errors the agent raises on purpose, each carrying its HTTP status and a stable code.

Role: the agent's one translation point for failures. `commands` turns subprocess
failures into `CommandFailed`; the manager raises the others; `app` renders any of them
as `{"error", "message", "details"}`. They subclass the shared tree in
`ostium.model.errors` so their retry meaning is explicit. Nothing here does I/O.
"""

from __future__ import annotations

from ostium.model.errors import PermanentError, TransientError


class AgentError(PermanentError):
    """Base: a refusal the controller should not retry as is."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: list[str] | dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidSpec(AgentError):
    status = 400
    code = "invalid_spec"


class InvalidConfig(AgentError):
    """haproxy or nft refused the rendered configuration (details = their messages)."""

    status = 400
    code = "invalid_config"


class StaleGeneration(AgentError):
    status = 409
    code = "stale_generation"


class AmphoraNotFound(AgentError):
    status = 404
    code = "not_found"


class AgentFailure(TransientError):
    """The host could not do what was asked now (a command failed, haproxy did not start)."""

    status = 500
    code = "agent_failure"

    def __init__(self, message: str, details: list[str] | dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class CommandFailed(AgentFailure):
    code = "command_failed"
