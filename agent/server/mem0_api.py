"""Mem0's platform API on Engram: the routes Mem0's official clients call, over MemoryService.

`MemoryClient(api_key=<the user's Engram token>, host=<Engram's URL>)` from `mem0ai` works
unchanged (tested with 2.2.1, and its `AsyncMemoryClient`). The client sends
`Authorization: Token <key>`; Engram's auth takes `Token` as it takes `Bearer`, so a key is one
of Engram's tokens and maps to exactly one user of one organisation, and every route acts on
that user's memory only.

What maps to what:
- `user_id`: the key's user. A request naming another user is refused (403) when it writes or
  deletes; a search or listing filtered on another user finds nothing.
- `agent_id`, `app_id`, `run_id` and `metadata`: kept with a memory added with `infer: false`
  (`value.scope`, `value.metadata`) and matched by filters; memories Engram extracts (`infer`,
  the default) belong to the user alone.
- Memories are Engram's memories (not the conversation's episodes): `categories` is the kind.
- Add with `infer` (default) is an import of the messages as one conversation: scrubbed,
  extracted, reconciled and kept as episodes (MemoryService.import_history), done by the time the
  call answers; the event (`GET /v1/event/<id>/`) says what it stored. `infer: false` keeps each
  message's text as a memory, through the same reconciliation.
- Search is Engram's ranking (meaning and words); `threshold` cuts on its score, `top_k` (default
  10) limits. Filters: `user_id`, `agent_id`, `app_id`, `run_id` (a value, `"*"`, or
  `{"in": [...]}`), `categories` (`{"in"|"contains": ...}`), `created_at` / `updated_at`
  (`gte`, `gt`, `lte`, `lt`), `metadata` (fields equal), combined with `AND`, `OR`, `NOT`.

Not supported, answered 501 naming the feature: graph memory, custom categories and
instructions, structured data, expiration dates, setting timestamps on update, choosing the
fields returned, searching expired or superseded memories, webhooks, exports, batches,
summaries, feedback, profiles, projects and organisations. Errors have Mem0's shape,
`{"detail": ...}`.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from langgraph.store.base import Item
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent.memory.model.checks import InvalidCorrection
from agent.memory.model.episodes import is_episode
from agent.memory.model.schema import MemoryCandidate, Source, Stored, ledger_namespace
from agent.memory.read.browse import MemoryNotFound
from agent.memory.service import MemoryService, NotYours
from agent.server.common import json_body, memory_route

ENTITIES = ("user_id", "agent_id", "app_id", "run_id")
MAX_BODY = 1_000_000
"""A Mem0 request body (an add carries a conversation)."""
PAGE_SIZE, MAX_PAGE_SIZE = 100, 200
LISTED = 1_000
"""The most memories a listing, a filtered search or a delete-all reads."""
EVENT_PREFIX = "mem0-event:"

ADD_FIELDS = {"messages", "metadata", "infer", "filters", "timestamp", "async_mode", "version",
              "output_format", *ENTITIES}
SEARCH_FIELDS = {"query", "filters", "top_k", "threshold", "rerank", "keyword_search",
                 "latest_only", "version", "output_format", "metadata", "categories",
                 "show_expired", *ENTITIES}
LIST_FIELDS = {"filters", "start_date", "end_date", "categories", "latest_only", "version",
               "output_format", "show_expired", *ENTITIES}
UNSUPPORTED_ADD = {"enable_graph": "graph memory", "custom_categories": "custom categories",
                   "custom_instructions": "custom instructions",
                   "agent_custom_instructions": "custom instructions",
                   "structured_data_schema": "structured data", "includes": "custom instructions",
                   "excludes": "custom instructions", "expiration_date": "expiration dates",
                   "fields": "choosing the fields returned"}


class Unsupported(Exception):
    """A Mem0 feature Engram does not have (answered 501 naming it)."""


def _mem0_error(detail: str, status: int) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def mem0_route(
    handler: Callable[[Request, MemoryService], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """A route on the caller's memory (common.memory_route) that answers 501 for Unsupported."""
    async def unsupported_as_501(request: Request, memory: MemoryService) -> Response:
        try:
            return await handler(request, memory)
        except Unsupported as err:
            return _mem0_error(f"{err} is not supported by Engram's Mem0-compatible API", 501)

    unsupported_as_501.__doc__ = handler.__doc__
    unsupported_as_501.__name__ = handler.__name__
    return memory_route(unsupported_as_501)


async def _body(request: Request, allowed: set[str]) -> dict[str, Any]:
    try:
        body = await json_body(request, MAX_BODY)
    except ValueError as err:
        raise InvalidCorrection(f"the body is not JSON: {err}") from err
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InvalidCorrection("the body must be a JSON object")
    for field, feature in UNSUPPORTED_ADD.items():
        if body.get(field):
            raise Unsupported(feature)
    if unknown := sorted(set(body) - allowed - set(UNSUPPORTED_ADD)):
        raise InvalidCorrection(f"unknown fields {unknown}: this route takes {sorted(allowed)}")
    return body


def _own_user(memory: MemoryService, named: Any) -> None:
    if named is not None and str(named) != memory.identity.user_id:
        raise NotYours(f"user_id {named!r} is not yours: this key belongs to user "
                       f"{memory.identity.user_id!r}")


def _scope(body: Mapping[str, Any]) -> dict[str, str]:
    """agent_id, app_id and run_id of a write, from the top level or `filters`."""
    filters = _entity_filters(body)
    scope = {}
    for field in ENTITIES[1:]:
        value = filters.get(field)
        if value is not None:
            if not isinstance(value, str) or not value.strip() or len(value) > 200:
                raise InvalidCorrection(f"`{field}` must be a non-empty string of at most 200 "
                                        "characters")
            scope[field] = value
    return scope


def _scope_of(item: Item) -> dict[str, Any]:
    scope = item.value.get("scope")
    return scope if isinstance(scope, dict) else {}


def shown(memory: MemoryService, item: Item, score: float | None = None) -> dict[str, Any]:
    """An Engram memory in Mem0's shape."""
    stored = Stored(item.value)
    scope = _scope_of(item)
    result: dict[str, Any] = {
        "id": item.key, "memory": stored.text, "user_id": memory.identity.user_id,
        **{field: scope.get(field) for field in ENTITIES[1:]},
        "hash": hashlib.md5(stored.text.encode()).hexdigest(),  # noqa: S324 - Mem0's field
        "metadata": item.value.get("metadata"), "categories": [stored.kind],
        "created_at": item.created_at.isoformat(), "updated_at": item.updated_at.isoformat(),
    }
    if score is not None:
        result["score"] = round(score, 4)
    return result


def _entity_matches(value: Any, condition: Any) -> bool:
    if condition == "*":
        return value is not None
    if isinstance(condition, dict):
        if set(condition) == {"in"} and isinstance(condition["in"], list):
            return value in condition["in"]
        if set(condition) == {"ne"}:
            return bool(value != condition["ne"])
        raise InvalidCorrection(f"unsupported entity condition {condition!r}: use a value, '*', "
                                "{'in': [...]} or {'ne': ...}")
    return bool(value == condition)


def _date_matches(value: str, condition: Any) -> bool:
    if not isinstance(condition, dict) or not set(condition) <= {"gte", "gt", "lte", "lt"}:
        raise InvalidCorrection("a date filter is {'gte'|'gt'|'lte'|'lt': 'YYYY-MM-DD...'}")
    checks = {"gte": value >= str(condition.get("gte", "")),
              "gt": value > str(condition.get("gt", "")),
              "lte": value[:len(str(condition.get("lte", "")))] <= str(condition.get("lte", "")),
              "lt": value < str(condition.get("lt", ""))}
    return all(checks[op] for op in condition)


def matches(filters: Any, fields: Mapping[str, Any]) -> bool:
    """Whether a memory (its Mem0 fields) passes Mem0 `filters` (checked by check_filters)."""
    if not filters:
        return True
    for key, condition in filters.items():
        if key in ("AND", "OR"):
            results = [matches(part, fields) for part in condition]
            if not (all(results) if key == "AND" else any(results)):
                return False
        elif key == "NOT":
            parts = condition if isinstance(condition, list) else [condition]
            if any(matches(part, fields) for part in parts):
                return False
        elif key in ENTITIES:
            if not _entity_matches(fields.get(key), condition):
                return False
        elif key in ("created_at", "updated_at"):
            if not _date_matches(str(fields.get(key, "")), condition):
                return False
        elif key == "categories":
            kinds = fields.get("categories") or []
            wanted = condition.get("in", condition.get("contains")) if isinstance(
                condition, dict) else condition
            wanted = wanted if isinstance(wanted, list) else [wanted]
            if not set(kinds) & set(wanted):
                return False
        elif key == "metadata":
            metadata = fields.get("metadata") or {}
            if not isinstance(condition, dict) or any(
                    metadata.get(k) != v for k, v in condition.items()):
                return False
    return True


FILTER_KEYS = {*ENTITIES, "categories", "created_at", "updated_at", "metadata"}


def check_filters(filters: Any) -> None:
    """Refuse a filter Engram cannot evaluate, before any is evaluated (InvalidCorrection)."""
    if not isinstance(filters, dict):
        raise InvalidCorrection("`filters` must be an object")
    for key, condition in filters.items():
        if key in ("AND", "OR", "NOT"):
            parts = condition if isinstance(condition, list) else [condition]
            if key != "NOT" and not isinstance(condition, list):
                raise InvalidCorrection(f"`{key}` takes a list of filters")
            for part in parts:
                check_filters(part)
        elif key not in FILTER_KEYS:
            raise InvalidCorrection(f"unsupported filter {key!r}: Engram filters on "
                                    f"{sorted(FILTER_KEYS)} with AND, OR and NOT")
        elif key in ENTITIES:
            _entity_matches(None, condition)  # refuses a condition of an unknown shape
        elif key in ("created_at", "updated_at"):
            _date_matches("", condition)


def _entity_filters(body: Mapping[str, Any]) -> dict[str, Any]:
    """`filters`, checked, with what a request gives at its top level folded in.

    Entity ids, and for a search or a listing `categories` and `metadata` (an add's metadata is
    what it stores).
    """
    filters = dict(body.get("filters") or {}) if isinstance(body.get("filters") or {}, dict) \
        else None
    if filters is None:
        raise InvalidCorrection("`filters` must be an object")
    for field in ENTITIES:
        if body.get(field) is not None:
            filters[field] = body[field]
    extra = []
    if body.get("categories") is not None and "messages" not in body:
        extra.append({"categories": {"in": body["categories"]}})
    if body.get("metadata") is not None and "messages" not in body:  # an add's is its own
        extra.append({"metadata": body["metadata"]})
    if extra:
        filters = {"AND": [filters, *extra]}
    check_filters(filters)
    return filters


def _message_text(message: Any) -> tuple[str, str]:
    if not isinstance(message, dict) or not isinstance(message.get("content"), str):
        raise InvalidCorrection('each message must be {"role": "user" | "assistant", '
                                '"content": "text"}')
    return str(message.get("role", "user")), message["content"]


async def _record_event(memory: MemoryService, event_id: str, results: Any) -> None:
    await memory.store.aput(ledger_namespace(memory.identity), EVENT_PREFIX + event_id, {
        "status": "SUCCEEDED", "results": results,
        "created_at": datetime.now(UTC).isoformat()}, index=False)


@mem0_route
async def ping(request: Request, memory: MemoryService) -> JSONResponse:
    """Who the key belongs to (Mem0's clients call it when they start)."""
    return JSONResponse({"status": "ok", "org_id": memory.identity.org_id, "project_id": "engram",
                         "user_id": memory.identity.user_id, "user_email": None})


@mem0_route
async def add(request: Request, memory: MemoryService) -> JSONResponse:
    """Add memories from messages, through Engram's write path."""
    body = await _body(request, ADD_FIELDS)
    _own_user(memory, _entity_filters(body).get("user_id"))
    messages = body.get("messages")
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    if not isinstance(messages, list) or not messages:
        raise InvalidCorrection('`messages` must be a non-empty list of {"role", "content"}')
    said = [_message_text(message) for message in messages]
    scope, metadata = _scope(body), body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidCorrection("`metadata` must be an object")
    event_id = str(uuid.uuid4())
    if body.get("infer", True) is not False:
        date = body.get("timestamp")
        when = (datetime.fromtimestamp(float(date), UTC) if isinstance(date, int | float)
                else datetime.now(UTC))
        report = await memory.import_history({"sessions": [{
            "id": f"mem0-{event_id}", "date": when.isoformat(),
            "messages": [{"role": role, "content": text} for role, text in said]}]})
        await _record_event(memory, event_id, report.as_dict())
        return JSONResponse({"message": "Memory processed", "status": "SUCCEEDED",
                             "event_id": event_id})
    candidates = [MemoryCandidate(kind="fact", subject=" ".join(text.split())[:200],
                                  text=text[:2000], importance=0.5, confidence=1.0)
                  for role, text in said if role == "user" and text.strip()]
    source = Source(thread_id=f"mem0-{event_id}", message_id=event_id)
    entry, _ = await memory.write_stated(candidates, source, gated=False)
    results = []
    for op in entry.operations:
        item = await memory.store.aget(memory.namespace, op["key"])
        if item is not None and op["action"] != "noop" and (scope or metadata):
            await memory.store.aput(memory.namespace, item.key, {
                **item.value, "scope": scope or None, "metadata": metadata})
        results.append({"id": op["key"], "memory": op["text"],
                        "event": {"add": "ADD", "update": "UPDATE", "supersede": "UPDATE",
                                  "delete": "DELETE"}.get(op["action"], "NONE")})
    await _record_event(memory, event_id, results)
    return JSONResponse({"results": results, "status": "SUCCEEDED", "event_id": event_id})


@mem0_route
async def event(request: Request, memory: MemoryService) -> JSONResponse:
    """What an add stored (adds are done by the time they answer)."""
    event_id = request.path_params["event_id"]
    item = await memory.store.aget(ledger_namespace(memory.identity), EVENT_PREFIX + event_id)
    if item is None:
        return _mem0_error(f"no event {event_id!r} of yours", 404)
    return JSONResponse({"id": event_id, **item.value})


async def _memories(memory: MemoryService, body: Mapping[str, Any]) -> list[Item]:
    filters = _entity_filters(body)
    items = await memory.recent(LISTED)
    return [item for item in items if matches(filters, shown(memory, item))]


@mem0_route
async def search(request: Request, memory: MemoryService) -> JSONResponse:
    """Search the caller's memories with Engram's ranking; filters, top_k, threshold."""
    body = await _body(request, SEARCH_FIELDS)
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise InvalidCorrection("`query` must be a non-empty string")
    if body.get("show_expired") or body.get("latest_only") is False:
        raise Unsupported("searching expired or superseded memories")
    top_k, threshold = body.get("top_k", 10), body.get("threshold")
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= MAX_PAGE_SIZE:
        raise InvalidCorrection(f"`top_k` must be a whole number from 1 to {MAX_PAGE_SIZE}")
    if threshold is not None and not isinstance(threshold, int | float):
        raise InvalidCorrection("`threshold` must be a number")
    filters = _entity_filters(body)
    # Filtering comes after ranking: look deeper when there is something to filter on.
    hits = await memory.search(query, LISTED if filters else top_k, episodes=False)
    results = [shown(memory, item, item.score) for item in hits
               if threshold is None or (item.score or 0) >= threshold]
    results = [r for r in results if matches(filters, r)][:top_k]
    return JSONResponse({"results": results})


@mem0_route
async def list_memories(request: Request, memory: MemoryService) -> JSONResponse:
    """The caller's memories, newest first, filtered and paginated (page, page_size)."""
    body = await _body(request, LIST_FIELDS)
    try:
        page = int(request.query_params.get("page", "1"))
        size = int(request.query_params.get("page_size", str(PAGE_SIZE)))
    except ValueError as err:
        raise InvalidCorrection("`page` and `page_size` must be whole numbers") from err
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidCorrection(f"`page` starts at 1; `page_size` is from 1 to {MAX_PAGE_SIZE}")
    if body.get("show_expired"):
        raise Unsupported("listing expired memories")
    for bound, field in (("start_date", "created_at"), ("end_date", "created_at")):
        if body.get(bound):
            body = {**body, "filters": {"AND": [body.get("filters") or {}, {field: {
                "gte" if bound == "start_date" else "lte": body[bound]}}]}}
    listed = [shown(memory, item) for item in await _memories(memory, body)]
    start = (page - 1) * size
    return JSONResponse({
        "count": len(listed),
        "next": str(request.url.include_query_params(page=page + 1, page_size=size))
        if start + size < len(listed) else None,
        "previous": str(request.url.include_query_params(page=page - 1, page_size=size))
        if page > 1 else None,
        "results": listed[start:start + size]})


async def _current(memory: MemoryService, key: str) -> Item:
    """The caller's memory `key`; MemoryNotFound (404) for none, or for a conversation's episode."""
    item: Item = await memory.get(key)
    if is_episode(item.value):
        raise MemoryNotFound(f"no memory with key {key!r} is yours: episodes are not Mem0 memories")
    return item


@mem0_route
async def one_memory(request: Request, memory: MemoryService) -> Response:
    """Get (GET), change (PUT: text, metadata) or delete (DELETE) one memory."""
    key = request.path_params["memory_id"]
    item = await _current(memory, key)
    if request.method == "GET":
        return JSONResponse(shown(memory, item))
    if request.method == "DELETE":
        deleted = await memory.delete(key)
        return JSONResponse({"message": "Memory deleted successfully!", "deleted": deleted})
    body = await _body(request, {"text", "metadata", "timestamp", "expiration_date"})
    if body.get("timestamp") is not None:
        raise Unsupported("setting a memory's timestamp")
    if "text" in body:
        item = await memory.edit(key, body["text"])
    if "metadata" in body:
        if body["metadata"] is not None and not isinstance(body["metadata"], dict):
            raise InvalidCorrection("`metadata` must be an object")
        value = {k: v for k, v in item.value.items() if k != "_match"}
        await memory.store.aput(memory.namespace, key, {**value, "metadata": body["metadata"]})
        item = await _current(memory, key)
    return JSONResponse(shown(memory, item))


@mem0_route
async def history(request: Request, memory: MemoryService) -> JSONResponse:
    """How a memory came to say what it says: added, then each change, oldest first."""
    key = request.path_params["memory_id"]
    item = await _current(memory, key)
    texts = [(str(old.value.get("text", "")), old.value.get("invalid_at"))
             for old in await memory.history(item)]
    texts += [(str(h.get("text", "")), h.get("until")) for h in item.value.get("history", [])]
    texts.sort(key=lambda pair: str(pair[1] or ""))
    chain = [text for text, _ in texts] + [Stored(item.value).text]
    events = [{"id": f"{key}:0", "memory_id": key, "old_memory": None, "new_memory": chain[0],
               "event": "ADD", "created_at": item.created_at.isoformat(),
               "user_id": memory.identity.user_id}]
    for index, (old, new) in enumerate(zip(chain, chain[1:], strict=False), start=1):
        events.append({"id": f"{key}:{index}", "memory_id": key, "old_memory": old,
                       "new_memory": new, "event": "UPDATE",
                       "created_at": str(texts[index - 1][1] or item.updated_at.isoformat()),
                       "user_id": memory.identity.user_id})
    return JSONResponse(events)


async def _delete_matching(memory: MemoryService, filters: dict[str, Any]) -> int:
    deleted = 0
    for item in await memory.recent(LISTED):
        if matches(filters, shown(memory, item)):
            deleted += len(await memory.delete(item.key))
    return deleted


@mem0_route
async def delete_all(request: Request, memory: MemoryService) -> JSONResponse:
    """Delete every memory of an entity (user_id, agent_id, app_id or run_id, as parameters)."""
    params = dict(request.query_params)
    if unknown := sorted(set(params) - set(ENTITIES)):
        raise InvalidCorrection(f"unknown parameters {unknown}: name the entity with "
                                f"{list(ENTITIES)} (filters are not taken here)")
    if not params:
        raise InvalidCorrection(f"name the entity whose memories to delete: one of {list(ENTITIES)}")
    _own_user(memory, params.get("user_id"))
    deleted = await _delete_matching(memory, params)
    return JSONResponse({"message": "Memories deleted successfully!", "deleted": deleted})


@mem0_route
async def entities(request: Request, memory: MemoryService) -> JSONResponse:
    """The entities the key holds memories of: its user, and the agents, apps and runs named."""
    items = await memory.recent(LISTED)
    found = [{"type": "user", "name": memory.identity.user_id, "total_memories": len(items)}]
    for field, kind in (("agent_id", "agent"), ("app_id", "app"), ("run_id", "run")):
        names = sorted({str(_scope_of(i)[field]) for i in items if _scope_of(i).get(field)})
        found += [{"type": kind, "name": name} for name in names]
    return JSONResponse({"results": found})


@mem0_route
async def delete_entity(request: Request, memory: MemoryService) -> JSONResponse:
    """Delete the memories of one entity (a user is the key's own)."""
    kind, name = request.path_params["entity_type"], request.path_params["entity_id"]
    if kind not in ("user", "agent", "app", "run"):
        raise InvalidCorrection("entity type is user, agent, app or run")
    if kind == "user":
        _own_user(memory, name)
    deleted = await _delete_matching(memory, {f"{kind}_id": name})
    return JSONResponse({"message": "Entity deleted successfully.", "deleted": deleted})


def _not_supported(feature: str) -> Callable[[Request], Awaitable[Response]]:
    async def answer(request: Request) -> Response:
        return _mem0_error(f"{feature} is not supported by Engram's Mem0-compatible API", 501)

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
