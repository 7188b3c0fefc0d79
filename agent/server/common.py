"""What Engram's custom routes share: the signed-in caller, their memory, a size-limited body.

`memory_route` turns a handler of (request, the caller's MemoryService) into a Starlette route:
it refuses a request without a user (401, 403 for a service token), opens the caller's memory in
the server's store, and answers a refusal of the service with its status and message.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any, cast

from langgraph.store.base import BaseStore
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agent.memory.model.schema import Identity
from agent.memory.service import MemoryService, status_of


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


def refused(err: Exception, status: int) -> JSONResponse:
    """The answer to a refused request: `{"detail": what is wrong and what to send}`."""
    return JSONResponse({"detail": str(err)}, status_code=status)


def memory_route(
    handler: Callable[[Request, MemoryService], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """A route acting on the signed-in caller's memory (see the module's docstring)."""

    @functools.wraps(handler)  # keeps the docstring: Starlette's OpenAPI page reads it
    async def route(request: Request) -> Response:
        identity = caller_of(request)
        if isinstance(identity, JSONResponse):
            return identity
        try:
            return await handler(request, MemoryService(await server_store(), identity))
        except Exception as err:
            if (status := status_of(err)) is None:
                raise
            return refused(err, status)

    return route
