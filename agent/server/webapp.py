"""Engram's HTTP additions to the LangGraph server.

Import, forget-me, metrics and readiness here (the edge middleware: agent/server/edge.py); the
memory console's page (`/engram/ui/`, agent/server/console_assets.py) and API
(agent/server/console_api.py); the MCP endpoint (`/engram/mcp`, agent/server/mcp.py).

`langgraph.json` mounts `app`; its middleware sees every request, the server's own routes too.
Its routes are authenticated by our auth (`http.enable_custom_route_auth`); the console's static
files are served by middleware, before auth, since a browser cannot send a token to load a page.
"""

from __future__ import annotations

import json
import logging
import time

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent import telemetry
from agent.memory.model.checks import InvalidCorrection
from agent.memory.service import MemoryService
from agent.server import console_api, mcp, mem0_api
from agent.server.common import json_body, memory_route, refused, server_store
from agent.server.console_assets import ConsoleAssets
from agent.server.edge import MAX_IMPORT_BYTES, Edge
from store.pending_vectors import pending_count
from store.search import MemoryStore

logger = logging.getLogger(__name__)

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


NOT_READY = ("the memory store does not answer a search (its database, pgvector or the "
             "embedding model): an operator finds the reason in the server's log")


async def ready(request: Request) -> JSONResponse:
    """Ready when one memory search works: database, pgvector and the embedding model."""
    started = time.perf_counter()
    try:
        await (await server_store()).asearch(("engram", "readiness"), query="ready", limit=1)
    except Exception as err:  # noqa: BLE001 - any failure means not ready; the reason is logged
        logger.warning("not ready: %s: %s", type(err).__name__, err)
        if request.user["role"] in ("admin", "service"):  # operators see the reason
            return JSONResponse({"ready": False, "error": f"{type(err).__name__}: {err}"},
                                status_code=503)
        return JSONResponse({"ready": False, "error": NOT_READY}, status_code=503)
    return JSONResponse({"ready": True, "search_ms": round((time.perf_counter() - started) * 1000,
                                                           2)})


ROUTES = [
    Route("/engram/import", import_history, methods=["POST"]),
    Route("/engram/forget-me", forget_me, methods=["POST"]),
    Route("/engram/metrics", prometheus, methods=["GET"]),
    Route("/engram/ready", ready, methods=["GET"]),
    *console_api.routes,
    *mem0_api.routes,
    *mcp.app.routes,
]
app = Starlette(routes=ROUTES, lifespan=mcp.app.router.lifespan_context)
app.add_middleware(Edge, own=ROUTES)
app.add_middleware(ConsoleAssets)
