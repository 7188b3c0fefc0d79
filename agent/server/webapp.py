"""Engram's HTTP additions to the LangGraph server.

Run and state-update validation, import, forget-me, metrics and readiness here; the memory console's page
(`/engram/ui/`, agent/server/console_assets.py) and API (agent/server/console_api.py); the MCP
endpoint (`/engram/mcp`, agent/server/mcp.py).

`langgraph.json` mounts `app`; its middleware sees every request, the server's own routes too.
Its routes are authenticated by our auth (`http.enable_custom_route_auth`); the console's static
files are served by middleware, before auth, since a browser cannot send a token to load a page.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent import telemetry
from agent.memory.model.checks import InvalidCorrection
from agent.memory.service import MemoryService
from agent.server import console_api, mcp, mem0_api
from agent.server.common import json_body, memory_route, refused, server_store
from agent.server.console_assets import ConsoleAssets
from agent.server.validation import (
    InvalidRun,
    validate_run,
    validate_state_update,
    validate_thread_create,
)
from store.pending_vectors import pending_count
from store.search import MemoryStore

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


def body_limit(path: str) -> int:
    """The most bytes a request body to `path` may have."""
    return next((limit for pattern, limit in BODY_LIMITS if pattern.match(path)), MAX_BODY_BYTES)


def _run_batch(body: Any) -> None:
    for run in body if isinstance(body, list) else []:
        validate_run(run)


# The server's routes whose bodies start a run or write a thread's state.
VALIDATED: list[tuple[re.Pattern[str], Callable[[Any], None]]] = [
    (RUN_PATHS, validate_run),
    (re.compile(r"^/runs/batch/?$"), _run_batch),
    (re.compile(r"^/threads/?$"), validate_thread_create),
    (re.compile(r"^/threads/[^/]+/state/?$"), validate_state_update),
]


TURNED_OFF = re.compile(r"^/threads/[^/]+/(?:commands|stream/events)/?$")
"""The event-streaming (v2) routes: they start runs without the run routes' validation (and the
pinned server ignores `http.disable_event_streaming`), so Engram turns them off here."""


def _validator(scope: Scope) -> Callable[[Any], None] | None:
    if scope["method"] != "POST":
        return None
    return next((check for path, check in VALIDATED if path.match(scope["path"])), None)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class RequestValidation:
    """Refuse oversized bodies (413) before anything reads them, and invalid runs (422).

    Every body is held to its route's size limit; a run or state update whose body is invalid
    is refused naming the field. Everything else passes through.
    """

    def __init__(self, app: ASGIApp) -> None:
        """Wrap `app`."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the size of every body, and the content of VALIDATED routes' bodies."""
        if scope["type"] in ("http", "websocket") and TURNED_OFF.match(scope["path"]):
            await _turned_off(scope, send)
            return
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["path"])
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _reject(send, 413, f"request body of {declared} bytes is over this route's "
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
                await _reject(send, 413, f"request body over this route's limit of {limit} "
                                         "bytes")
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if (validate := _validator(scope)) is not None:
            try:
                validate(json.loads(body) if body else None)
            except InvalidRun as err:
                await _reject(send, 422, str(err))
                return
            except RecursionError:
                await _reject(send, 422, "request body is nested too deeply")
                return
            except ValueError:
                pass  # not JSON: the server's own parser answers with its error

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _turned_off(scope: Scope, send: Send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})  # refused before the handshake
        return
    await _reject(send, 404, "the event-streaming routes are turned off in Engram: start runs "
                             "with POST /threads/{id}/runs (or /runs/stream, /runs/wait)")


async def _reject(send: Send, status: int, detail: str) -> None:
    payload: dict[str, Any] = {"detail": detail}
    data = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


@memory_route
async def forget_me(request: Request, memory: MemoryService) -> JSONResponse:
    """Erase the caller: all their memories and threads. Answers what was deleted."""
    from langgraph_sdk import get_client

    # No body, or an empty object: forget-me erases the caller and takes no arguments, so a
    # field it does not know (a `user_id`, say) is refused rather than silently ignored.
    raw = await request.body()
    if raw.strip():
        try:
            body = json.loads(raw)
        except ValueError as err:
            return refused(ValueError(f"the body is not JSON: {err}"), 400)
        if body != {}:
            fields = sorted(body) if isinstance(body, dict) else type(body).__name__
            raise InvalidCorrection(f"forget-me takes no fields, got {fields}: it erases the "
                                    "signed-in caller; send no body (or {})")
    return JSONResponse(await memory.erase(get_client(url=None, api_key=None)))


@memory_route
async def import_history(request: Request, memory: MemoryService) -> JSONResponse:
    """Import conversations into the caller's memory (agent/memory/write/importer.py); answer counts."""
    try:
        body = await json_body(request, MAX_IMPORT_BYTES)
    except OverflowError as err:
        raise OverflowError(f"{err}: split the import into batches") from err
    except ValueError as err:
        return refused(ValueError(f"the body is not JSON: {err}"), 400)
    report = await memory.import_history(body)
    return JSONResponse({"namespace": list(memory.namespace), **report.as_dict()})


async def prometheus(request: Request) -> Response:
    """Prometheus metrics of the memory pipeline (admins and the service role)."""
    if request.user["role"] not in ("admin", "service"):
        return JSONResponse({"detail": "metrics are for admins and the service role"},
                            status_code=403)
    memory_store = await server_store()
    if isinstance(memory_store, MemoryStore):
        worker = memory_store.vector_worker
        telemetry.record_vectors(await pending_count(memory_store.conn),  # type: ignore[arg-type]
                               worker.stats.filled if worker else 0,
                               worker.stats.failures if worker else 0)
    return Response(generate_latest(telemetry.REGISTRY), media_type=CONTENT_TYPE_LATEST)


async def ready(request: Request) -> JSONResponse:
    """Ready when one memory search works: database, pgvector and the embedding model."""
    started = time.perf_counter()
    try:
        await (await server_store()).asearch(("engram", "readiness"), query="ready", limit=1)
    except Exception as err:  # noqa: BLE001 - any failure means not ready; the reason is returned
        return JSONResponse({"ready": False, "error": f"{type(err).__name__}: {err}"},
                            status_code=503)
    return JSONResponse({"ready": True, "search_ms": round((time.perf_counter() - started) * 1000,
                                                           2)})


app = Starlette(
    routes=[
        Route("/engram/import", import_history, methods=["POST"]),
        Route("/engram/forget-me", forget_me, methods=["POST"]),
        Route("/engram/metrics", prometheus, methods=["GET"]),
        Route("/engram/ready", ready, methods=["GET"]),
        *console_api.routes,
        *mem0_api.routes,
        *mcp.app.routes,
    ],
    lifespan=mcp.app.router.lifespan_context,
)
app.add_middleware(RequestValidation)
app.add_middleware(ConsoleAssets)
