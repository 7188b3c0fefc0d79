"""The memory console's JSON routes: who is signed in, memories, conversations, health.

Every route runs behind our auth (custom route auth) and acts only on the caller's own memory
namespace, derived from their token, so the console can show nothing the token could not read
through the store API. Approvals need no route of ours: the console reads the caller's
interrupted threads and resumes them through the server's own API, under the same auth.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agent import telemetry
from agent.memory.model.checks import InvalidCorrection
from agent.memory.service import MemoryService, check_limit, check_query
from agent.server.common import json_body, memory_route

# Starlette reads a route's docstring as YAML for the OpenAPI page: keep them plain prose
# (no leading backticks, no "word: text").


def _limit(request: Request, default: int) -> int:
    return check_limit(request.query_params.get("limit"), default)


@memory_route
async def me(request: Request, memory: MemoryService) -> JSONResponse:
    """The signed-in caller: user, organisation, role and memory namespace."""
    return JSONResponse({"user": memory.identity.user_id, "org": memory.identity.org_id,
                         "role": request.user["role"], "namespace": list(memory.namespace)})


@memory_route
async def list_memories(request: Request, memory: MemoryService) -> JSONResponse:
    """List the caller's memories, newest first, or search them with q; kind filters.

    A search ranks as retrieval does and includes the organisation's shared memories, marked
    shared (read-only).
    """
    limit, kind = _limit(request, 50), request.query_params.get("kind") or None
    query = check_query(request.query_params.get("q", ""))
    items = (await memory.search(query, limit, kind, episodes=False) if query
             else await memory.recent(limit, kind))
    return JSONResponse({"query": query, "kind": kind,
                         "memories": await memory.present_with_history(items)})


@memory_route
async def change_memory(request: Request, memory: MemoryService) -> JSONResponse:
    """Give one of the caller's memories a new text (PATCH), or delete it with its history."""
    key = request.path_params["key"]
    if request.method == "DELETE":
        return JSONResponse({"deleted": await memory.delete(key)})
    try:
        body = await json_body(request, 100_000)
    except ValueError as err:
        raise InvalidCorrection(f"the body is not JSON: {err}") from err
    if not isinstance(body, dict) or set(body) != {"text"}:
        raise InvalidCorrection('send a JSON object {"text": "the corrected memory"}')
    item = await memory.edit(key, body["text"])
    return JSONResponse((await memory.present_with_history([item]))[0])


@memory_route
async def list_conversations(request: Request, memory: MemoryService) -> JSONResponse:
    """The threads the caller's episodes came from, most recent first."""
    return JSONResponse({"conversations": await memory.conversations(_limit(request, 50))})


@memory_route
async def conversation(request: Request, memory: MemoryService) -> JSONResponse:
    """One thread's episodes, newest first (`-` names the episodes kept without a thread)."""
    thread = request.path_params["thread_id"]
    found = await memory.episodes(None if thread == "-" else thread, _limit(request, 100))
    return JSONResponse({"thread_id": thread, "episodes": found})


async def health(request: Request) -> JSONResponse:
    """Retrieval health from this server's metrics (organisation admins only)."""
    if request.user["role"] != "admin":
        return JSONResponse({"detail": "health is for organisation admins"}, status_code=403)
    return JSONResponse(telemetry.summary())


routes = [
    Route("/engram/me", me, methods=["GET"]),
    Route("/engram/memories", list_memories, methods=["GET"]),
    Route("/engram/memories/{key}", change_memory, methods=["PATCH", "DELETE"]),
    Route("/engram/conversations", list_conversations, methods=["GET"]),
    Route("/engram/conversations/{thread_id:path}", conversation, methods=["GET"]),
    Route("/engram/health", health, methods=["GET"]),
]
