"""The edge every request crosses first: reviewed routes only, bounded bodies, valid runs, fair share.

`langgraph.json` mounts Engram's app (agent/server/webapp.py) with this middleware around every
route, the server's own included. In order, for each request:
1. Default deny. The path is matched as the app sees it (a mount prefix taken off, as Starlette's
   routing does), against Engram's own routes and the list of the server's routes Engram has
   reviewed (SERVER_ROUTES); anything else answers 404, so a route a server upgrade adds stays
   closed until someone reviews it and adds it here.
2. A fair share. A signed-in member has at most `max_concurrent` expensive requests (anything
   but a read, and the console's search) in flight in this process; past it, 429 with
   `Retry-After`, so one member cannot hold every worker while others wait.
3. Every body is held to its route's size limit (413) before anything reads it, and the bodies
   of the routes that start a run or write a thread's state are validated (422 naming the field).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.server.tokens import InvalidToken, caller_for
from agent.server.validation import (
    InvalidRun,
    validate_run,
    validate_state_update,
    validate_thread_create,
)

READS = ("GET", "HEAD", "OPTIONS")

SERVER_ROUTES: list[tuple[str, str]] = [
    # Health and description (no user data).
    ("GET", "/"), ("GET", "/ok"), ("GET", "/info"), ("GET", "/metrics"), ("GET", "/docs"),
    ("GET", "/openapi.json"),
    # Assistants: read by members, managed by admins (auth.py).
    ("POST", "/assistants"), ("POST", "/assistants/search"), ("POST", "/assistants/count"),
    ("GET", "/assistants/{assistant_id}"), ("PATCH", "/assistants/{assistant_id}"),
    ("DELETE", "/assistants/{assistant_id}"), ("POST", "/assistants/{assistant_id}/latest"),
    ("POST", "/assistants/{assistant_id}/versions"), ("GET", "/assistants/{assistant_id}/graph"),
    ("GET", "/assistants/{assistant_id}/schemas"),
    ("GET", "/assistants/{assistant_id}/subgraphs"),
    ("GET", "/assistants/{assistant_id}/subgraphs/{namespace}"),
    # Threads: the caller's own (auth.py); state writes validated below.
    ("POST", "/threads"), ("POST", "/threads/search"), ("POST", "/threads/count"),
    ("GET", "/threads/{thread_id}"), ("PATCH", "/threads/{thread_id}"),
    ("DELETE", "/threads/{thread_id}"), ("POST", "/threads/{thread_id}/copy"),
    ("GET", "/threads/{thread_id}/state"), ("POST", "/threads/{thread_id}/state"),
    ("GET", "/threads/{thread_id}/state/{checkpoint_id}"),
    ("POST", "/threads/{thread_id}/state/checkpoint"),
    ("GET", "/threads/{thread_id}/history"), ("POST", "/threads/{thread_id}/history"),
    ("GET", "/threads/{thread_id}/stream"),
    # Runs: every body that starts one is validated below.
    ("POST", "/runs"), ("POST", "/runs/wait"), ("POST", "/runs/stream"), ("POST", "/runs/batch"),
    ("POST", "/runs/cancel"),
    ("POST", "/threads/{thread_id}/runs"), ("GET", "/threads/{thread_id}/runs"),
    ("POST", "/threads/{thread_id}/runs/wait"), ("POST", "/threads/{thread_id}/runs/stream"),
    ("GET", "/threads/{thread_id}/runs/{run_id}"), ("DELETE", "/threads/{thread_id}/runs/{run_id}"),
    ("GET", "/threads/{thread_id}/runs/{run_id}/join"),
    ("GET", "/threads/{thread_id}/runs/{run_id}/stream"),
    ("POST", "/threads/{thread_id}/runs/{run_id}/cancel"),
    # Crons: kept routable so auth.py refuses them with the reason (403), not a bare 404.
    ("POST", "/runs/crons"), ("POST", "/runs/crons/search"), ("POST", "/runs/crons/count"),
    ("POST", "/threads/{thread_id}/runs/crons"),
    # The store: the caller's own namespace, checked by auth.py's store handler.
    ("PUT", "/store/items"), ("GET", "/store/items"), ("DELETE", "/store/items"),
    ("POST", "/store/items/search"), ("POST", "/store/namespaces"),
]
"""The server's routes Engram has reviewed (langgraph-api 0.16.7). Left out on purpose: the v2
event-streaming routes (`/threads/{id}/commands`, `/stream/events`, which start runs past the run
validation), `/threads/prune`, `/ui`, `/mcp`, `/a2a`, `/profile` and every WebSocket."""

REVIEWED = [(method, compile_path(path)[0]) for method, path in SERVER_ROUTES]

RUN_PATHS = re.compile(r"^/(?:threads/[^/]+/)?runs(?:/wait|/stream)?/?$")
MAX_BODY_BYTES = 1_000_000
"""Any request body: a run holds at most 20 messages of 32,000 characters."""
MAX_IMPORT_BYTES = 4_000_000
"""An import request (split a larger history into several)."""
MAX_SMALL_BODY_BYTES = 64_000
"""Store, console and MCP requests: their texts are at most a few thousand characters."""
BODY_LIMITS: list[tuple[re.Pattern[str], int]] = [
    (re.compile(r"^/engram/import/?$"), MAX_IMPORT_BYTES),
    (re.compile(r"^/(?:store/|engram/)"), MAX_SMALL_BODY_BYTES),
]
SEARCHES = re.compile(r"^/engram/memories/?$")
"""Reads that cost a search (the console's `?q=`): counted in the fair share like a write."""
DEFAULT_CONCURRENT = 4
CONCURRENCY_ENV = "ENGRAM_MAX_CONCURRENT_PER_USER"


def body_limit(path: str) -> int:
    """The most bytes a request body to `path` (as the app sees it) may have."""
    return next((limit for pattern, limit in BODY_LIMITS if pattern.match(path)), MAX_BODY_BYTES)


def _run_batch(body: Any) -> None:
    for run in body if isinstance(body, list) else []:
        validate_run(run)


VALIDATED: list[tuple[re.Pattern[str], Callable[[Any], None]]] = [
    (RUN_PATHS, validate_run),
    (re.compile(r"^/runs/batch/?$"), _run_batch),
    (re.compile(r"^/threads/?$"), validate_thread_create),
    (re.compile(r"^/threads/[^/]+/state/?$"), validate_state_update),
]
"""The server's routes whose bodies start a run or write a thread's state."""


def max_concurrent() -> int:
    """ENGRAM_MAX_CONCURRENT_PER_USER (default 4): a member's expensive requests at once."""
    raw = os.environ.get(CONCURRENCY_ENV, str(DEFAULT_CONCURRENT))
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{CONCURRENCY_ENV} must be a whole number >= 1, got {raw!r}")
    return int(raw)


def is_reviewed(scope: Scope, own: Sequence[BaseRoute]) -> bool:
    """Whether the request goes to one of Engram's routes or a reviewed route of the server."""
    if scope["type"] != "http":
        return False
    if any(route.matches(scope)[0] != Match.NONE for route in own):
        return True
    path, method = get_route_path(scope), scope["method"]
    wanted = "GET" if method == "HEAD" else method
    return any(pattern.match(path) and (allowed == wanted or method == "OPTIONS")
               for allowed, pattern in REVIEWED)


def member_of(scope: Scope) -> str | None:
    """The signed-in member a request's token proves (None: no or bad token; auth refuses it)."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() not in ("bearer", "token") or not token.strip():
                return None
            try:
                caller = caller_for(token.strip())
            except InvalidToken:
                return None
            return f"{caller.org_id}/{caller.user_id}"
    return None


class Edge:
    """The middleware: see the module's docstring."""

    def __init__(self, app: ASGIApp, own: Sequence[BaseRoute] = (),
                 concurrent: int | None = None) -> None:
        """Wrap `app`, whose own routes are `own`; `concurrent` overrides the fair share."""
        self.app, self.own = app, list(own)
        self.concurrent = concurrent or max_concurrent()
        self.in_flight: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Deny unreviewed routes, share fairly, bound and validate bodies; then pass on."""
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if not is_reviewed(scope, self.own):
            await _not_found(scope, send)
            return
        path = get_route_path(scope)
        expensive = scope["method"] not in READS or bool(SEARCHES.match(path))
        member = member_of(scope) if expensive and not _loopback(scope) else None
        if member is not None and self.in_flight[member] >= self.concurrent:
            await reject(send, 429, f"you have {self.concurrent} requests in progress already: "
                                    "wait for one to finish, then retry",
                         [(b"retry-after", b"1")])
            return
        if member is not None:
            self.in_flight[member] += 1
        try:
            await self._bounded(scope, path, receive, send)
        finally:
            if member is not None:
                self.in_flight[member] -= 1
                if not self.in_flight[member]:
                    del self.in_flight[member]

    async def _bounded(self, scope: Scope, path: str, receive: Receive, send: Send) -> None:
        if scope["method"] in READS:
            await self.app(scope, receive, send)
            return
        limit = body_limit(path)
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await reject(send, 413, f"request body of {declared} bytes is over this route's "
                                    f"limit of {limit} bytes")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                await reject(send, 413, f"request body over this route's limit of {limit} bytes")
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if problem := _invalid(scope, path, body):
            await reject(send, 422, problem)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _invalid(scope: Scope, path: str, body: bytes) -> str | None:
    """Why a run or state body is refused (None: valid, or not one of VALIDATED's routes)."""
    if scope["method"] != "POST":
        return None
    validate = next((check for pattern, check in VALIDATED if pattern.match(path)), None)
    if validate is None:
        return None
    try:
        validate(json.loads(body) if body else None)
    except InvalidRun as err:
        return str(err)
    except RecursionError:
        return "request body is nested too deeply"
    except ValueError:
        return None  # not JSON: the server's own parser answers with its error
    return None


def _loopback(scope: Scope) -> bool:
    """The server's own in-process calls (its SDK loopback), which have no member to share."""
    return str(scope.get("root_path", "")).startswith("/noauth")


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _not_found(scope: Scope, send: Send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})  # refused before the handshake
        return
    await reject(send, 404, f"no route {scope['method']} {get_route_path(scope)} in Engram: the "
                            "API is the LangGraph server's threads, runs, assistants and store "
                            "routes, and Engram's own (/engram/..., Mem0's /v1 and /v3)")


async def reject(send: Send, status: int, detail: str,
                 headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """Answer `status` with `{"detail": ...}`."""
    data = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode()), *headers]})
    await send({"type": "http.response.body", "body": data})
