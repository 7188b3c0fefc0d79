"""Mem0's request and answer shapes: what agent/server/mem0_api.py's routes parse and render.

Only shapes: which fields a route takes, what Engram lacks (501), how top-level fields fold
into a filter, a memory in Mem0's form. Every check of what is stored, every limit and every
filter's evaluation is MemoryService's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from langgraph.store.base import Item
from starlette.requests import Request
from starlette.responses import JSONResponse

from agent.memory.model.checks import InvalidCorrection
from agent.memory.model.limits import MAX_LISTED
from agent.memory.model.schema import Stored
from agent.memory.service import FILTER_ENTITIES, SCOPE_FIELDS, MemoryService, NotYours
from agent.server.common import json_body

ENTITIES = FILTER_ENTITIES
MAX_BODY = 1_000_000
"""A Mem0 request body (an add carries a conversation)."""
PAGE_SIZE = 100

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
EVENTS = {"add": "ADD", "update": "UPDATE", "supersede": "UPDATE", "delete": "DELETE"}


class Unsupported(Exception):
    """A Mem0 feature Engram does not have (answered 501 naming it)."""


def mem0_error(detail: str, status: int) -> JSONResponse:
    """An error in Mem0's shape: `{"detail": ...}`."""
    return JSONResponse({"detail": detail}, status_code=status)


async def body_of(request: Request, allowed: set[str]) -> dict[str, Any]:
    """The request's JSON object, refusing Mem0 features Engram lacks and unknown fields."""
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


def own_user(memory: MemoryService, named: Any) -> None:
    """Refuse a `user_id` other than the key's own (NotYours)."""
    if named is not None and str(named) != memory.identity.user_id:
        raise NotYours(f"user_id {named!r} is not yours: this key belongs to user "
                       f"{memory.identity.user_id!r}")


def filters_object(body: Mapping[str, Any]) -> dict[str, Any]:
    """The request's `filters` (an object; none: `{}`), not yet checked."""
    filters = body.get("filters") or {}
    if not isinstance(filters, dict):
        raise InvalidCorrection("`filters` must be an object")
    return filters


def filters_of(body: Mapping[str, Any]) -> dict[str, Any]:
    """A search's or a listing's `filters` with its top-level fields folded in (not yet checked).

    Entity ids, `categories`, `metadata`, and a listing's `start_date` / `end_date`.
    """
    parts = [filters_object(body), *({field: body[field]} for field in ENTITIES
                                     if body.get(field) is not None)]
    if body.get("categories") is not None:
        parts.append({"categories": {"in": body["categories"]}})
    if body.get("metadata") is not None:
        parts.append({"metadata": body["metadata"]})
    for bound, op in (("start_date", "gte"), ("end_date", "lte")):
        if body.get(bound):
            parts.append({"created_at": {op: body[bound]}})
    parts = [part for part in parts if part]
    return {"AND": parts} if len(parts) > 1 else (parts[0] if parts else {})


def shown(memory: MemoryService, item: Item, score: float | None = None) -> dict[str, Any]:
    """An Engram memory in Mem0's shape."""
    stored, fields = Stored(item.value), memory.filter_fields(item)
    result: dict[str, Any] = {
        "id": item.key, "memory": stored.text, "user_id": memory.identity.user_id,
        **{field: fields[field] for field in SCOPE_FIELDS},
        "hash": hashlib.md5(stored.text.encode()).hexdigest(),  # noqa: S324 - Mem0's field
        "metadata": fields["metadata"], "categories": fields["categories"],
        "created_at": fields["created_at"], "updated_at": fields["updated_at"],
    }
    if score is not None:
        result["score"] = round(score, 4)
    return result


def said_in(messages: Any) -> list[tuple[str, str]]:
    """(role, text) of each message of an add (a string is one user message)."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    if not isinstance(messages, list) or not messages:
        raise InvalidCorrection('`messages` must be a non-empty list of {"role", "content"}')
    if not all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages):
        raise InvalidCorrection('each message must be {"role": "user" | "assistant", '
                                '"content": "text"}')
    return [(str(m.get("role", "user")), m["content"]) for m in messages]


def page_of(request: Request) -> tuple[int, int]:
    """A listing's `page` and `page_size` query parameters."""
    try:
        page = int(request.query_params.get("page", "1"))
        size = int(request.query_params.get("page_size", str(PAGE_SIZE)))
    except ValueError as err:
        raise InvalidCorrection("`page` and `page_size` must be whole numbers") from err
    if page < 1 or not 1 <= size <= MAX_LISTED:
        raise InvalidCorrection(f"`page` starts at 1; `page_size` is from 1 to {MAX_LISTED}")
    return page, size
