"""What Engram's custom routes share: the signed-in caller and a size-limited JSON body."""

from __future__ import annotations

import json
from typing import Any, cast

from langgraph.store.base import BaseStore
from starlette.requests import Request
from starlette.responses import JSONResponse

from agent.memory.schema import Identity


def caller_of(request: Request) -> Identity | JSONResponse:
    """The signed-in user of a request, or the response refusing it."""
    user = request.user
    if not getattr(user, "is_authenticated", False) or not user.identity:
        return JSONResponse({"detail": "sign in first (Authorization: Bearer <token>)"},
                            status_code=401)
    if user["role"] == "service":
        return JSONResponse({"detail": "a service token has no user memory"}, status_code=403)
    return Identity(user_id=str(user.identity), org_id=str(user["org_id"]))


async def json_body(request: Request, limit: int) -> Any:
    """The request's JSON, read up to `limit` bytes; ValueError says what is wrong."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise OverflowError(f"request body over {limit} bytes")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except RecursionError as err:
        raise ValueError("request body is nested too deeply") from err


async def server_store() -> BaseStore:
    """The store the LangGraph server runs with (ours, from langgraph.json)."""
    from langgraph_api.store import get_store

    return cast(BaseStore, await get_store())
