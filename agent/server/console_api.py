"""The memory console's JSON routes: who is signed in, memories, conversations, health.

Every route runs behind our auth (custom route auth) and acts only on the caller's own memory
namespace, derived from their token, so the console can show nothing the token could not read
through the store API. Approvals need no route of ours: the console reads the caller's
interrupted threads and resumes them through the server's own API, under the same auth.
"""

from __future__ import annotations

from typing import Any

from langgraph.store.base import BaseStore
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agent.memory import browse
from agent.memory.episodes import EPISODE
from agent.memory.schema import Identity, memory_namespace, shared_namespace
from agent.server import metrics
from agent.server.common import caller_of, json_body, server_store
from store import conversations

# Starlette reads a route's docstring as YAML for the OpenAPI page: keep them plain prose
# (no leading backticks, no "word: text").
KINDS = {"preference", "fact", "procedural", "feedback", "summary", EPISODE}
MAX_LIMIT = 200



def _limit(request: Request, default: int) -> int:
    raw = request.query_params.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ValueError(f"`limit` must be a whole number from 1 to {MAX_LIMIT}, got {raw!r}")
    return int(raw)


def _kind(request: Request) -> str | None:
    kind = request.query_params.get("kind") or None
    if kind is not None and kind not in KINDS:
        raise ValueError(f"`kind` must be one of {sorted(KINDS)}, got {kind!r}")
    return kind


def _bad(err: Exception, status: int = 422) -> JSONResponse:
    return JSONResponse({"detail": str(err)}, status_code=status)


def _listing(request: Request, default_limit: int) -> tuple[Identity, int] | JSONResponse:
    """The caller and the `limit` of a listing route, or the response refusing the request."""
    identity = caller_of(request)
    if isinstance(identity, JSONResponse):
        return identity
    try:
        return identity, _limit(request, default_limit)
    except ValueError as err:
        return _bad(err)


async def me(request: Request) -> JSONResponse:
    """The signed-in caller: user, organisation, role and memory namespace."""
    identity = caller_of(request)
    if isinstance(identity, JSONResponse):
        return identity
    return JSONResponse({"user": identity.user_id, "org": identity.org_id,
                         "role": request.user["role"],
                         "namespace": list(memory_namespace(identity))})


async def _present_all(
    store: BaseStore, identity: Identity, items: list[Any]
) -> list[dict[str, Any]]:
    own = memory_namespace(identity)
    shown = []
    for item in items:
        memory = browse.present(item, own)
        memory["superseded"] = [
            browse.present(old, own) for old in await browse.history_of(store, own, item)
        ] if not memory["shared"] else []
        shown.append(memory)
    return shown


async def list_memories(request: Request) -> JSONResponse:
    """List the caller's memories, newest first, or search them with q; kind filters.

    A search ranks as retrieval does and includes the organisation's shared memories, marked
    shared (read-only).
    """
    listing = _listing(request, 50)
    if isinstance(listing, JSONResponse):
        return listing
    identity, limit = listing
    try:
        kind = _kind(request)
    except ValueError as err:
        return _bad(err)
    if len(raw := request.query_params.get("q", "")) > browse.MAX_QUERY_CHARS:
        return _bad(ValueError(f"`q` has {len(raw)} characters; at most {browse.MAX_QUERY_CHARS}"))
    store, query = await server_store(), " ".join(raw.split())
    own = memory_namespace(identity)
    if query:
        items: list[Any] = await browse.search(
            store, [own, shared_namespace(identity.org_id)], query, limit, kind, episodes=False)
    else:
        items = await browse.recent(store, own, limit, kind)
    return JSONResponse({"query": query, "kind": kind,
                         "memories": await _present_all(store, identity, items)})


async def change_memory(request: Request) -> JSONResponse:
    """Give one of the caller's memories a new text (PATCH), or delete it with its history."""
    identity = caller_of(request)
    if isinstance(identity, JSONResponse):
        return identity
    store, own, key = await server_store(), memory_namespace(identity), request.path_params["key"]
    try:
        if request.method == "DELETE":
            return JSONResponse({"deleted": await browse.delete(store, own, key)})
        try:
            body = await json_body(request, 100_000)
        except ValueError as err:
            raise browse.InvalidCorrection(f"the body is not JSON: {err}") from err
        if not isinstance(body, dict) or set(body) != {"text"}:
            raise browse.InvalidCorrection('send a JSON object {"text": "the corrected memory"}')
        item = await browse.edit(store, own, key, body["text"])
    except browse.MemoryNotFound as err:
        return _bad(err, 404)
    except OverflowError as err:
        return _bad(err, 413)
    except (browse.InvalidCorrection, ValueError) as err:
        return _bad(err)
    return JSONResponse((await _present_all(store, identity, [item]))[0])


async def list_conversations(request: Request) -> JSONResponse:
    """The threads the caller's episodes came from, most recent first."""
    listing = _listing(request, 50)
    if isinstance(listing, JSONResponse):
        return listing
    identity, limit = listing
    store = await server_store()
    found = await conversations.threads(store, memory_namespace(identity), limit)
    return JSONResponse({"conversations": found})


async def conversation(request: Request) -> JSONResponse:
    """One thread's episodes, newest first (`-` names the episodes kept without a thread)."""
    listing = _listing(request, 100)
    if isinstance(listing, JSONResponse):
        return listing
    identity, limit = listing
    thread = request.path_params["thread_id"]
    store = await server_store()
    found = await conversations.episodes(store, memory_namespace(identity),
                                         None if thread == "-" else thread, limit)
    return JSONResponse({"thread_id": thread, "episodes": found})


async def health(request: Request) -> JSONResponse:
    """Retrieval health from this server's metrics (organisation admins only)."""
    if request.user["role"] != "admin":
        return JSONResponse({"detail": "health is for organisation admins"}, status_code=403)
    return JSONResponse(metrics.summary())


routes = [
    Route("/engram/me", me, methods=["GET"]),
    Route("/engram/memories", list_memories, methods=["GET"]),
    Route("/engram/memories/{key}", change_memory, methods=["PATCH", "DELETE"]),
    Route("/engram/conversations", list_conversations, methods=["GET"]),
    Route("/engram/conversations/{thread_id:path}", conversation, methods=["GET"]),
    Route("/engram/health", health, methods=["GET"]),
]
