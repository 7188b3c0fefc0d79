"""Who is calling, and what they may touch. Enforced by the LangGraph server on every route.

Tokens are verified by `agent.server.tokens` (JWTs, or static tokens in explicit dev mode). Threads are
stamped with their owner and organisation and filtered by them; store access is confined to the
caller's own memories (read and write) and their organisation's shared memories (read; admins
write); assistants and crons are writable by admins only; everything without a handler is denied.
"""

from __future__ import annotations

from typing import Any

from langgraph_sdk import Auth

from agent.memory.schema import memory_namespace, shared_namespace
from agent.memory.scrub import scrub_value
from agent.server.tokens import Caller, InvalidToken, caller_for, settings

# Resolve the settings now, so a server with missing or contradictory auth settings fails to
# start with the reason instead of refusing every request later.
settings()

auth = Auth()
READS = {"get", "search", "list_namespaces"}


def _forbidden(detail: str) -> Auth.exceptions.HTTPException:
    return Auth.exceptions.HTTPException(status_code=403, detail=detail)


@auth.authenticate
async def authenticate(authorization: str | None) -> dict[str, str]:
    """Map `Authorization: Bearer <token>` to a caller."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Auth.exceptions.HTTPException(
            status_code=401, detail="missing bearer token: send `Authorization: Bearer <token>`"
        )
    try:
        caller = caller_for(token.strip())
    except InvalidToken as err:
        raise Auth.exceptions.HTTPException(status_code=401, detail=str(err)) from err
    return {"identity": caller.user_id, "org_id": caller.org_id, "role": caller.role}


def _caller(ctx: Auth.types.AuthContext) -> Caller:
    return Caller(ctx.user.identity, str(ctx.user["org_id"]), ctx.user["role"])


def _owner(ctx: Auth.types.AuthContext) -> dict[str, str]:
    caller = _caller(ctx)
    return {"owner": caller.user_id, "org": caller.org_id}


@auth.on.threads.create
async def on_thread_create(ctx: Auth.types.AuthContext, value: Any) -> dict[str, str]:
    """Stamp a new thread with its owner and organisation."""
    if _caller(ctx).role == "service":
        raise _forbidden("the service role may only list, read and delete threads")
    value.setdefault("metadata", {}).update(_owner(ctx))
    return _owner(ctx)


SERVICE_THREAD_ACTIONS = {"search", "read", "delete"}


@auth.on.threads
async def on_threads(ctx: Auth.types.AuthContext, value: Any) -> dict[str, str] | bool:
    """Every other thread and run operation sees only the caller's own threads.

    The retention job's `service` role may list, read and delete any thread, and nothing else.
    """
    if _caller(ctx).role == "service":
        if ctx.action in SERVICE_THREAD_ACTIONS:
            return True
        raise _forbidden("the service role may only list, read and delete threads")
    if isinstance(value, dict) and isinstance(value.get("metadata"), dict):
        value["metadata"].update(_owner(ctx))  # nobody re-assigns a thread by metadata
    return _owner(ctx)


@auth.on.assistants.read
async def on_assistant_read(ctx: Auth.types.AuthContext, value: Any) -> bool:
    """Anyone signed in may read the deployed assistants (to run them)."""
    return True


@auth.on.assistants.search
async def on_assistant_search(ctx: Auth.types.AuthContext, value: Any) -> bool:
    """Anyone signed in may list the deployed assistants."""
    return True


@auth.on.assistants
async def on_assistant_change(ctx: Auth.types.AuthContext, value: Any) -> dict[str, str]:
    """Creating, changing or deleting assistants: admins, within their organisation."""
    caller = _caller(ctx)
    if caller.role != "admin":
        raise _forbidden("only organisation admins manage assistants")
    if isinstance(value, dict) and ctx.action == "create":
        value.setdefault("metadata", {})["org"] = caller.org_id
    return {"org": caller.org_id}


@auth.on.crons
async def on_crons(ctx: Auth.types.AuthContext, value: Any) -> dict[str, str]:
    """Scheduled runs: admins, within their organisation."""
    caller = _caller(ctx)
    if caller.role != "admin":
        raise _forbidden("only organisation admins manage crons")
    if isinstance(value, dict) and isinstance(value.get("metadata"), dict | None):
        value["metadata"] = {**(value.get("metadata") or {}), **_owner(ctx)}
    return {"org": caller.org_id}


def _within(namespace: tuple[str, ...], root: tuple[str, ...]) -> bool:
    return namespace[: len(root)] == root


@auth.on.store()
async def on_store(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> bool:
    """Own memories: read and write. Organisation's shared memories: read; admins write."""
    caller = _caller(ctx)
    if caller.role == "service":
        raise _forbidden("the service role has no access to memories")
    own, shared = memory_namespace(caller.identity), shared_namespace(caller.org_id)
    namespace = tuple(value.get("namespace") or ())
    if isinstance(value.get("value"), dict):
        # Writes through the HTTP API are scrubbed like the graph's own.
        cleaned, counts = scrub_value(value["value"])
        value["value"] = {**cleaned, "scrubbed": counts} if counts else cleaned
    if _within(namespace, own):
        return True
    if _within(namespace, shared):
        if ctx.action in READS or caller.role == "admin":
            return True
        raise _forbidden("only organisation admins write the shared memories")
    if ctx.action in ("search", "list_namespaces") and _within(own, namespace):
        value["namespace"] = own  # a search from a parent prefix is narrowed to the caller's own
        return True
    raise _forbidden(f"store namespace {list(namespace)} is not yours")


@auth.on
async def deny_everything_else(ctx: Auth.types.AuthContext, value: Any) -> bool:
    """Default deny for anything without its own handler."""
    raise _forbidden("not allowed")
