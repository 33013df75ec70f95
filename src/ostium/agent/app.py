"""The agent's HTTP API (FastAPI): thin routes over `AmphoraManager`.

Role: parse JSON into spec models, call the manager, render `AmphoraState`s; every
error becomes `{"error", "message", "details"}` with the status its type carries.
Callers: `main` (served by uvicorn with mutual TLS), tests (in-process). Transport
security is not handled here: `main` refuses any client without a certificate.

Routes: GET /health, GET /amphorae, PUT /amphorae/{id} (AmphoraPlug),
PUT /amphorae/{id}/spec (AmphoraSpec), GET /amphorae/{id}, DELETE /amphorae/{id},
POST /sweep (remove namespaces, processes and state of amphorae this agent does not know).
The answer to PUT .../spec carries the apply's steps in a `Server-Timing` header
(`model.timing`), which the worker logs with its own.
"""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from ostium.agent.amphorae import AmphoraManager
from ostium.agent.errors import AgentError, AgentFailure, InvalidSpec
from ostium.model import timing
from ostium.model.spec import AmphoraList, AmphoraPlug, AmphoraSpec, AmphoraState

LOG = logging.getLogger(__name__)


def _error(status: int, code: str, message: str, details: object = None) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"error": code, "message": message, "details": details}
    )


def create_app(manager: AmphoraManager) -> FastAPI:
    app = FastAPI(title="ostium agent", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(AgentError)
    async def _agent_error(request: Request, exc: AgentError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(AgentFailure)
    async def _agent_failure(request: Request, exc: AgentFailure) -> JSONResponse:
        LOG.error("%s %s failed: %s %s", request.method, request.url.path, exc.message, exc.details)
        return _error(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(
            422,
            "invalid_request",
            "request body does not match the schema",
            _validation_details(exc),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        LOG.exception("%s %s crashed", request.method, request.url.path)
        return _error(500, "internal_error", f"{type(exc).__name__}: {exc}")

    @app.get("/health")
    def health() -> dict[str, object]:
        return {"status": "ok", **manager.describe()}

    @app.get("/amphorae")
    def list_amphorae() -> AmphoraList:
        return AmphoraList(amphorae=manager.list())

    @app.put("/amphorae/{amphora_id}")
    def ensure_amphora(amphora_id: str, plug: AmphoraPlug) -> AmphoraState:
        _same_id(amphora_id, plug.amphora_id)
        return manager.ensure(plug)

    @app.put("/amphorae/{amphora_id}/spec")
    async def apply_spec(amphora_id: str, request: Request) -> Response:
        # The body is parsed by pydantic's own JSON parser and the answer written as
        # JSON directly: the framework's parse-then-validate and response-model passes
        # cost more than the apply itself when only a member changed. The apply runs
        # in a thread, like every other (blocking) route.
        arrived = time.perf_counter()
        body = await request.body()
        with timing.recording() as steps:
            with timing.phase("parse"):
                try:
                    spec = AmphoraSpec.model_validate_json(body)
                except ValidationError as exc:
                    raise RequestValidationError(exc.errors()) from exc
            _same_id(amphora_id, spec.amphora_id)
            state = await run_in_threadpool(manager.apply, spec)
            # The rest: reading the body, the hop to a thread and back, the answer.
            steps.add("other", time.perf_counter() - arrived - sum(steps.seconds.values()))
        return Response(
            state.model_dump_json(),
            media_type="application/json",
            headers={"server-timing": timing.server_timing(steps)},
        )

    @app.get("/amphorae/{amphora_id}")
    def get_amphora(amphora_id: str) -> AmphoraState:
        return manager.get(amphora_id)

    @app.post("/sweep")
    def sweep() -> dict[str, list[str]]:
        return {"removed": list(manager.sweep())}

    @app.delete("/amphorae/{amphora_id}", status_code=204)
    def delete_amphora(amphora_id: str) -> Response:
        _valid_id(amphora_id)
        manager.delete(amphora_id)
        return Response(status_code=204)

    return app


def _validation_details(exc: RequestValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()]


def _valid_id(amphora_id: str) -> None:
    try:
        AmphoraState(amphora_id=amphora_id, namespace="-")
    except ValueError as exc:
        raise InvalidSpec(f"amphora id {amphora_id!r} is not a UUID") from exc


def _same_id(path_id: str, body_id: str) -> None:
    if path_id != body_id:
        raise InvalidSpec(f"amphora id in path {path_id!r} differs from body {body_id!r}")
