"""Answers to GET requests kept while the database has not changed.

Role: fifty clients polling the same list or the same load balancer make the API build
the same answer again and again (73 ms of CPU for a list of 1,000). This pure ASGI
layer, between `Envelope` and the routes, keeps the bytes of each 200 answer of the
lbaas read routes, keyed by everything the answer depends on:

- the database's committed state: the marker of `db.change_watch`, read before the
  routes read anything, so an answer is only ever shared by requests that saw the same
  commits; a write by anyone (this process, another API process, the worker, the
  health manager) changes it, and a client that saw its write committed always gets a
  fresh answer (read-your-writes);
- the caller: the whole request context (project, roles, user, noauth), built the way
  the routes build it, so no answer crosses projects or roles;
- the request: path as sent (`/v2.0/...`, `.json`), query string byte for byte
  (filters, fields, sort, limit, marker; the links repeat the parameters in the order
  sent), Host and scheme (the links' base).

Only answers with status 200 are kept, only for the routes whose answer is a function
of the database and the request (lists and shows of load balancers, listeners, pools,
members, health monitors, L7 policies and rules, and the status tree; not statistics
sent by heartbeats in memory, not access logs). Answers of one marker are dropped when
a newer marker is seen; the total is bounded by `[api_settings] response_cache_mb`.
Requests that miss together on the same key wait for the first one's answer instead of
building it fifty times. Each API process keeps its own answers.

Never decides a rule: the routes still do (RBAC, filters, 404s); this only replays what
they answered for the same caller, request and database state.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.types import Message, Receive, Scope, Send

from ostium.control.api.deps import CTX_SCOPE_KEY, context_of
from ostium.control.db.change_watch import ChangeWatch
from ostium.control.identity.context import RequestContext
from ostium.model.errors import ApiError

CACHED = re.compile(
    r"/v2/lbaas/(?:"
    r"(?:loadbalancers|listeners|pools|healthmonitors|l7policies)(?:/[^/]+)?"
    r"|pools/[^/]+/members(?:/[^/]+)?"
    r"|l7policies/[^/]+/rules(?:/[^/]+)?"
    r"|loadbalancers/[^/]+/status(?:es)?"
    r")"
)
"""The read routes whose answer depends only on the database and the request."""

Key = tuple[str, str, bytes, bytes, str, RequestContext]


@dataclass(frozen=True)
class Answer:
    headers: list[tuple[bytes, bytes]]
    body: bytes
    route: Any
    """The matched route (the metrics' label)."""


class Answers:
    """The kept answers of one marker, least recently used dropped first."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.marker: str | None = None
        self.items: OrderedDict[Key, Answer] = OrderedDict()
        self.size = 0

    def seen(self, marker: str) -> None:
        """A request read `marker`: answers of an older state are of no use now."""
        if marker != self.marker:
            self.marker = marker
            self.items.clear()
            self.size = 0

    def get(self, marker: str, key: Key) -> Answer | None:
        if marker != self.marker:
            return None
        answer = self.items.get(key)
        if answer is not None:
            self.items.move_to_end(key)
        return answer

    def put(self, marker: str, key: Key, answer: Answer) -> None:
        if marker != self.marker or _cost(answer) > self.max_bytes // 4:
            return
        old = self.items.pop(key, None)
        if old is not None:
            self.size -= _cost(old)
        self.items[key] = answer
        self.size += _cost(answer)
        while self.size > self.max_bytes and self.items:
            _, dropped = self.items.popitem(last=False)
            self.size -= _cost(dropped)


def _cost(answer: Answer) -> int:
    """Bytes an answer holds, roughly (its body, headers and key)."""
    return len(answer.body) + 1024


class ReadCache:
    """The ASGI layer (see the module docstring)."""

    def __init__(self, app: FastAPI, watch: ChangeWatch, max_bytes: int) -> None:
        self.app = app
        self.watch = watch
        self.answers = Answers(max_bytes)
        self.building: dict[tuple[str, Key], asyncio.Future[Answer | None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not CACHED.fullmatch(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        ctx = await self._context(scope)
        marker = await self.watch.marker() if ctx is not None else None
        if ctx is None or marker is None:
            await self.app(scope, receive, send)
            return
        self.answers.seen(marker)
        key = _key(scope, ctx)
        answer = self.answers.get(marker, key)
        if answer is None:
            pending = self.building.get((marker, key))
            if pending is not None:
                answer = await asyncio.shield(pending)
        if answer is not None:
            scope["route"] = answer.route
            await _replay(answer, send)
            return
        await self._build(scope, receive, send, marker, key)

    async def _context(self, scope: Scope) -> RequestContext | None:
        """The caller, as the routes see it (kept in the scope for them); None when the
        routes will answer an error instead (401, 400)."""
        state = self.app.state
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        validator = getattr(state, "validator", None)
        try:
            if state.svc.settings.api.auth_strategy == "noauth":
                ctx = context_of(state.svc, validator, headers)
            else:  # a token lookup: database or Keystone
                ctx = await run_in_threadpool(context_of, state.svc, validator, headers)
        except ApiError:
            return None
        scope[CTX_SCOPE_KEY] = ctx
        return ctx

    async def _build(
        self, scope: Scope, receive: Receive, send: Send, marker: str, key: Key
    ) -> None:
        """Run the routes; keep a complete 200 answer."""
        done: asyncio.Future[Answer | None] = asyncio.get_running_loop().create_future()
        self.building[(marker, key)] = done
        status = 0
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        complete = False

        async def capture(message: Message) -> None:
            nonlocal status, complete
            if message["type"] == "http.response.start":
                # Copied now: the layers outside add their own (the request id).
                status = message["status"]
                headers.extend((bytes(k), bytes(v)) for k, v in message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                complete = not message.get("more_body", False)
            await send(message)

        answer: Answer | None = None
        try:
            await self.app(scope, receive, capture)
            if status == 200 and complete:
                answer = Answer(headers, b"".join(chunks), scope.get("route"))
                self.answers.put(marker, key, answer)
        finally:
            if self.building.get((marker, key)) is done:
                del self.building[(marker, key)]
            done.set_result(answer)


def _key(scope: Scope, ctx: RequestContext) -> Key:
    host = b""
    for name, value in scope["headers"]:
        if name == b"host":
            host = value
    return (
        scope["path"],
        str(scope.get("ostium.original_path", scope["path"])),
        scope.get("query_string", b""),
        host,
        str(scope.get("scheme", "http")),
        ctx,
    )


async def _replay(answer: Answer, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": answer.headers})
    await send({"type": "http.response.body", "body": answer.body})
