"""Errors the agent raises on purpose, each carrying its HTTP status and a stable code.

Role: the agent's branch of the one exception tree (`ostium.model.errors`), so every
failure says whether retrying can help:

    PermanentError (model)
    └── AgentError              400  a refusal: retrying the same request cannot help
        ├── InvalidSpec         400  the spec asks for something we cannot render
        ├── InvalidConfig       400  haproxy, keepalived or nft refused the rendered text
        ├── UnsafeRuntimeCommand 400 a runtime command that would be two commands
        ├── StaleGeneration     409  older than the applied spec
        └── AmphoraNotFound     404
    TransientError (model)
    └── AgentFailure            500  the host could not do it now
        ├── CommandFailed            a subprocess failed or could not start (`commands`,
        │                            `haproxy_process`, `keepalived`)
        ├── RuntimeCommandFailed     a runtime socket did not answer (`haproxy_runtime`)
        ├── RuntimeCommandRefused    haproxy answered a runtime command with a refusal
        └── StateFileError           a file of the state directory could not be written

Foreign errors (`OSError`, `subprocess` errors) are translated once, where they happen:
`commands` and the process modules for subprocesses, `haproxy_runtime` for sockets,
`state_files` for the state directory. So the apply pipeline can catch this tree alone
and still restore the last-known-good config whatever failed. `app` renders any of them
as `{"error", "message", "details"}`. Nothing here does I/O.
"""

from __future__ import annotations

from ostium.model.errors import PermanentError, TransientError

Details = list[str] | dict[str, object] | None


class AgentError(PermanentError):
    """Base: a refusal the controller should not retry as is."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: Details = None) -> None:
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


class UnsafeRuntimeCommand(AgentError):
    """A runtime-socket command with a newline or `;`: it could carry a second command."""

    status = 400
    code = "unsafe_runtime_command"


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

    def __init__(self, message: str, details: Details = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class CommandFailed(AgentFailure):
    code = "command_failed"


class RuntimeCommandFailed(AgentFailure):
    """A runtime socket (stats or master CLI) could not be reached or did not answer."""

    code = "runtime_command_failed"


class RuntimeCommandRefused(AgentFailure):
    """haproxy answered a runtime command, with something other than success."""

    code = "runtime_command_refused"


class StateFileError(AgentFailure):
    code = "state_file_error"
