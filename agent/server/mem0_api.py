"""Mem0's platform API on Engram: the routes Mem0's official clients call, over MemoryService.

`MemoryClient(api_key=<the user's Engram token>, host=<Engram's URL>)` from `mem0ai` works
unchanged (Python 2.2.1 and its `AsyncMemoryClient`; the npm package too). A key (`Token <key>`)
is one of Engram's tokens: one user of one organisation, whose memory every route acts on.
- `user_id` is the key's user: naming another is refused (403) on writes and deletes and finds
  nothing on reads. `agent_id`, `app_id`, `run_id` and `metadata` are kept with a memory added
  with `infer: false` and matched by filters. `categories` is the memory's kind.
- An add with `infer` (default) imports the messages as one conversation
  (MemoryService.import_history); `infer: false` keeps each user message as a stated fact
  (MemoryService.add_stated). Both are done when the call answers (`GET /v1/event/<id>/`).
- Search is Engram's ranking; filters are the service's (bounded, checked before any is read).
Shapes are parsed in agent/server/mem0_shapes.py; every check, limit, write and filter is the
service's. What Engram lacks answers 501 naming the feature; errors are `{"detail": ...}`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent.memory.model.checks import InvalidCorrection
from agent.memory.model.limits import MAX_LISTED
from agent.memory.service import SCOPE_FIELDS, MemoryService
from agent.server.common import memory_route
from agent.server.mem0_shapes import (
    ADD_FIELDS,
    ENTITIES,
    EVENTS,
    LIST_FIELDS,
    SEARCH_FIELDS,
    Unsupported,
    body_of,
    filters_object,
    filters_of,
    mem0_error,
    own_user,
    page_of,
    said_in,
    shown,
)


def mem0_route(
    handler: Callable[[Request, MemoryService], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """A route on the caller's memory (common.memory_route) that answers 501 for Unsupported."""
    async def unsupported_as_501(request: Request, memory: MemoryService) -> Response:
        try:
            return await handler(request, memory)
        except Unsupported as err:
            return mem0_error(f"{err} is not supported by Engram's Mem0-compatible API", 501)

    unsupported_as_501.__doc__ = handler.__doc__
    unsupported_as_501.__name__ = handler.__name__
    return memory_route(unsupported_as_501)


@mem0_route
async def ping(request: Request, memory: MemoryService) -> JSONResponse:
    """Who the key belongs to (Mem0's clients call it when they start)."""
    return JSONResponse({"status": "ok", "org_id": memory.identity.org_id, "project_id": "engram",
                         "user_id": memory.identity.user_id, "user_email": None})


@mem0_route
async def add(request: Request, memory: MemoryService) -> JSONResponse:
    """Add memories from messages, through Engram's write path."""
    body = await body_of(request, ADD_FIELDS)
    named = {**filters_object(body), **{f: body[f] for f in ENTITIES if body.get(f) is not None}}
    own_user(memory, named.get("user_id"))
    said, event_id = said_in(body.get("messages")), str(uuid.uuid4())
    if body.get("infer", True) is not False:
        date = body.get("timestamp")
        when = (datetime.fromtimestamp(float(date), UTC) if isinstance(date, int | float)
                else datetime.now(UTC))
        report = await memory.import_history({"sessions": [{
            "id": f"mem0-{event_id}", "date": when.isoformat(),
            "messages": [{"role": role, "content": text} for role, text in said]}]})
        await memory.record_event(event_id, report.as_dict())
        return JSONResponse({"message": "Memory processed", "status": "SUCCEEDED",
                             "event_id": event_id})
    scope = {field: named[field] for field in SCOPE_FIELDS if named.get(field) is not None}
    written = await memory.add_stated([text for role, text in said if role == "user"],
                                      event_id, scope, body.get("metadata"))
    results = [{"id": op["key"], "memory": op["text"], "event": EVENTS.get(op["action"], "NONE")}
               for op, _ in written]
    await memory.record_event(event_id, results)
    return JSONResponse({"results": results, "status": "SUCCEEDED", "event_id": event_id})


@mem0_route
async def event(request: Request, memory: MemoryService) -> JSONResponse:
    """What an add stored (adds are done by the time they answer)."""
    event_id = request.path_params["event_id"]
    return JSONResponse({"id": event_id, **await memory.event(event_id)})


@mem0_route
async def search(request: Request, memory: MemoryService) -> JSONResponse:
    """Search the caller's memories with Engram's ranking; filters, top_k, threshold."""
    body = await body_of(request, SEARCH_FIELDS)
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise InvalidCorrection("`query` must be a non-empty string")
    if body.get("show_expired") or body.get("latest_only") is False:
        raise Unsupported("searching expired or superseded memories")
    top_k, threshold = body.get("top_k", 10), body.get("threshold")
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= MAX_LISTED:
        raise InvalidCorrection(f"`top_k` must be a whole number from 1 to {MAX_LISTED}")
    if threshold is not None and (isinstance(threshold, bool)
                                  or not isinstance(threshold, int | float)):
        raise InvalidCorrection("`threshold` must be a number")
    hits = await memory.search_where(query, top_k, filters_of(body), threshold)
    return JSONResponse({"results": [shown(memory, item, item.score) for item in hits]})


@mem0_route
async def list_memories(request: Request, memory: MemoryService) -> JSONResponse:
    """The caller's memories, newest first, filtered and paginated (page, page_size)."""
    body = await body_of(request, LIST_FIELDS)
    page, size = page_of(request)
    if body.get("show_expired"):
        raise Unsupported("listing expired memories")
    listed = [shown(memory, item) for item in await memory.listing(filters_of(body))]
    start = (page - 1) * size
    return JSONResponse({
        "count": len(listed),
        "next": str(request.url.include_query_params(page=page + 1, page_size=size))
        if start + size < len(listed) else None,
        "previous": str(request.url.include_query_params(page=page - 1, page_size=size))
        if page > 1 else None,
        "results": listed[start:start + size]})


@mem0_route
async def one_memory(request: Request, memory: MemoryService) -> Response:
    """Get (GET), change (PUT: text, metadata) or delete (DELETE) one memory."""
    key = request.path_params["memory_id"]
    item = await memory.get_memory(key)
    if request.method == "GET":
        return JSONResponse(shown(memory, item))
    if request.method == "DELETE":
        deleted = await memory.delete(key)
        return JSONResponse({"message": "Memory deleted successfully!", "deleted": deleted})
    body = await body_of(request, {"text", "metadata", "timestamp", "expiration_date"})
    if body.get("timestamp") is not None:
        raise Unsupported("setting a memory's timestamp")
    if "text" in body:
        item = await memory.edit(key, body["text"])
    if "metadata" in body:
        scope = {f: v for f, v in memory.filter_fields(item).items() if f in SCOPE_FIELDS}
        item = await memory.annotate(key, scope, body["metadata"])
    return JSONResponse(shown(memory, item))


@mem0_route
async def history(request: Request, memory: MemoryService) -> JSONResponse:
    """How a memory came to say what it says: added, then each change, oldest first."""
    key = request.path_params["memory_id"]
    item = await memory.get_memory(key)
    chain = await memory.text_history(item)
    user = memory.identity.user_id
    events = [{"id": f"{key}:0", "memory_id": key, "old_memory": None, "new_memory": chain[0][0],
               "event": "ADD", "created_at": item.created_at.isoformat(), "user_id": user}]
    for index, ((old, when), (new, _)) in enumerate(zip(chain, chain[1:], strict=False),
                                                    start=1):
        events.append({"id": f"{key}:{index}", "memory_id": key, "old_memory": old,
                       "new_memory": new, "event": "UPDATE",
                       "created_at": when or item.updated_at.isoformat(), "user_id": user})
    return JSONResponse(events)


@mem0_route
async def delete_all(request: Request, memory: MemoryService) -> JSONResponse:
    """Delete every memory of an entity (user_id, agent_id, app_id or run_id, as parameters)."""
    params = dict(request.query_params)
    if unknown := sorted(set(params) - set(ENTITIES)):
        raise InvalidCorrection(f"unknown parameters {unknown}: name the entity with "
                                f"{list(ENTITIES)} (filters are not taken here)")
    if not params:
        raise InvalidCorrection(f"name the entity whose memories to delete: one of {list(ENTITIES)}")
    own_user(memory, params.get("user_id"))
    deleted = await memory.delete_where(params)
    return JSONResponse({"message": "Memories deleted successfully!", "deleted": deleted})


@mem0_route
async def entities(request: Request, memory: MemoryService) -> JSONResponse:
    """The entities the key holds memories of: its user, and the agents, apps and runs named."""
    fields = [memory.filter_fields(item) for item in await memory.listing()]
    found = [{"type": "user", "name": memory.identity.user_id, "total_memories": len(fields)}]
    for field in SCOPE_FIELDS:
        names = sorted({str(f[field]) for f in fields if f.get(field)})
        found += [{"type": field.removesuffix("_id"), "name": name} for name in names]
    return JSONResponse({"results": found})


@mem0_route
async def delete_entity(request: Request, memory: MemoryService) -> JSONResponse:
    """Delete the memories of one entity (a user is the key's own)."""
    kind, name = request.path_params["entity_type"], request.path_params["entity_id"]
    if kind not in ("user", "agent", "app", "run"):
        raise InvalidCorrection("entity type is user, agent, app or run")
    if kind == "user":
        own_user(memory, name)
    deleted = await memory.delete_where({f"{kind}_id": name})
    return JSONResponse({"message": "Entity deleted successfully.", "deleted": deleted})


def _not_supported(feature: str) -> Callable[[Request], Awaitable[Response]]:
    async def answer(request: Request) -> Response:
        return mem0_error(f"{feature} is not supported by Engram's Mem0-compatible API", 501)

    answer.__doc__ = f"Not supported: {feature} (501)."
    return answer


ANY = ["GET", "POST", "PUT", "PATCH", "DELETE"]
routes = [
    Route("/v1/ping/", ping, methods=["GET"]),
    Route("/v3/memories/add/", add, methods=["POST"]),
    Route("/v1/memories/", add, methods=["POST"]),
    Route("/v1/memories/", delete_all, methods=["DELETE"]),
    Route("/v3/memories/search/", search, methods=["POST"]),
    Route("/v3/memories/", list_memories, methods=["POST"]),
    Route("/v1/memories/{memory_id}/", one_memory, methods=["GET", "PUT", "DELETE"]),
    Route("/v1/memories/{memory_id}/history/", history, methods=["GET"]),
    Route("/v1/event/{event_id}/", event, methods=["GET"]),
    Route("/v1/entities/", entities, methods=["GET"]),
    Route("/v2/entities/{entity_type}/{entity_id}/", delete_entity, methods=["DELETE"]),
    Route("/v2/entities/{entity_type}/{entity_id}/profile/", _not_supported("profiles"),
          methods=ANY),
    Route("/v2/profiles/{rest:path}", _not_supported("profiles"), methods=ANY),
    Route("/v1/batch/", _not_supported("batch updates and deletes"), methods=ANY),
    Route("/v1/exports/{rest:path}", _not_supported("memory exports"), methods=ANY),
    Route("/v1/summary/", _not_supported("summaries"), methods=ANY),
    Route("/v1/feedback/", _not_supported("feedback"), methods=ANY),
    Route("/api/v1/webhooks/{rest:path}", _not_supported("webhooks"), methods=ANY),
    Route("/api/v1/orgs/{rest:path}", _not_supported("organisations and projects"),
          methods=ANY),
]
