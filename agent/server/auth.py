"""Who is calling, and what they may touch. Enforced by the LangGraph server on every route.

Tokens are verified by `agent.server.tokens` (JWTs, or static tokens in explicit dev mode). Threads are
stamped with their owner and organisation and filtered by them; store access is confined to the
caller's own memories (read and write) and their organisation's shared memories (read; admins
write), and what is written there passes the checks of Engram's own writes; assistants are seen
within their organisation (the deployed ones by all) and managed by its admins; scheduled runs
(crons) are refused; everything without a handler is denied.
"""

from __future__ import annotations

from typing import Any

from langgraph_sdk import Auth

from agent.memory.model.checks import InvalidCorrection, check_search_text, client_memory
from agent.memory.model.limits import MAX_STORE_SEARCH
from agent.memory.model.schema import memory_namespace, shared_namespace
from agent.memory.service import MemoryService
from agent.server.common import server_store
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
    """Map `Authorization: Bearer <token>` to a caller.

    `Token <token>` is taken the same way: it is how Mem0's clients send their key, and their
    key is the user's Engram token (agent/server/mem0_api.py).
    """
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() not in ("bearer", "token") or not token.strip():
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


SYSTEM_ASSISTANTS = {"created_by": "system"}
"""The metadata the server gives the assistants it deploys from langgraph.json."""


def _visible_assistants(ctx: Auth.types.AuthContext) -> dict[str, Any]:
    return {"$or": [{"org": _caller(ctx).org_id}, SYSTEM_ASSISTANTS]}


@auth.on.assistants.read
async def on_assistant_read(ctx: Auth.types.AuthContext, value: Any) -> dict[str, Any]:
    """Anyone signed in may read (and run) the deployed assistants and their organisation's."""
    return _visible_assistants(ctx)


@auth.on.assistants.search
async def on_assistant_search(ctx: Auth.types.AuthContext, value: Any) -> dict[str, Any]:
    """Anyone signed in may list the deployed assistants and their organisation's."""
    return _visible_assistants(ctx)


@auth.on.assistants
async def on_assistant_change(ctx: Auth.types.AuthContext, value: Any) -> dict[str, str]:
    """Creating, changing or deleting assistants: admins, within their organisation."""
    caller = _caller(ctx)
    if caller.role != "admin":
        raise _forbidden("only organisation admins manage assistants")
    if isinstance(value, dict) and ctx.action in ("create", "update"):
        # Stamped with the organisation (in place: the server keeps the dict it passed);
        # "created_by" is the server's mark of the assistants every organisation sees.
        if not isinstance(value.get("metadata"), dict):
            value["metadata"] = {}
        value["metadata"].pop("created_by", None)
        value["metadata"]["org"] = caller.org_id
    return {"org": caller.org_id}


@auth.on.crons
async def on_crons(ctx: Auth.types.AuthContext, value: Any) -> bool:
    """Scheduled runs are refused: the scheduler starts them without the caller's organisation."""
    raise _forbidden("scheduled runs (crons) are not supported by Engram: the scheduler would run "
                     "them without your organisation; call runs.wait from your own scheduler")


def _within(namespace: tuple[str, ...], root: tuple[str, ...]) -> bool:
    return namespace[: len(root)] == root


def _invalid(detail: str) -> Auth.exceptions.HTTPException:
    return Auth.exceptions.HTTPException(status_code=422, detail=detail)


MAX_KEY_CHARS = 256
MAX_SEARCH_LIMIT = MAX_STORE_SEARCH
INDEXED_FIELDS = (None, False, ["text"])
"""What a write may ask to embed: the default (`text`), nothing, or `text` by name."""


def _check_write(value: dict[str, Any]) -> None:
    """A store put: a memory as Engram writes them (checked, completed and scrubbed), or 422."""
    if not isinstance(value.get("key"), str) or len(value["key"]) > MAX_KEY_CHARS:
        raise _invalid(f"`key` must be a string of at most {MAX_KEY_CHARS} characters")
    if value.get("index") not in INDEXED_FIELDS:
        raise _invalid(f"`index` is {value.get('index')!r}: a memory embeds its text; send no "
                       'index, false, or ["text"]')
    try:
        value["value"] = client_memory(value.get("value"))
    except InvalidCorrection as err:
        raise _invalid(str(err)) from err


def _check_search(value: dict[str, Any]) -> None:
    query = value.get("query")
    if query is not None:
        try:
            check_search_text(query)
        except InvalidCorrection as err:
            raise _invalid(str(err)) from err
    if not 0 < int(value.get("limit") or 10) <= MAX_SEARCH_LIMIT:
        raise _invalid(f"`limit` must be from 1 to {MAX_SEARCH_LIMIT}")


@auth.on.store()
async def on_store(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> bool:
    """Own memories: read and write. Organisation's shared memories: read; admins write.

    Whose namespace it is is decided first (403), then what is sent is checked (422): a write
    holds one memory as Engram's own writes do, a search a query of bounded size.
    """
    caller = _caller(ctx)
    if caller.role == "service":
        raise _forbidden("the service role has no access to memories")
    own, shared = memory_namespace(caller.identity), shared_namespace(caller.org_id)
    namespace = tuple(value.get("namespace") or ())
    if _within(namespace, shared) and ctx.action not in READS and caller.role != "admin":
        raise _forbidden("only organisation admins write the shared memories")
    if ctx.action in ("search", "list_namespaces") and not _within(namespace, own) \
            and not _within(namespace, shared) and _within(own, namespace):
        value["namespace"] = own  # a search from a parent prefix is narrowed to the caller's own
    elif not _within(namespace, own) and not _within(namespace, shared):
        raise _forbidden(f"store namespace {list(namespace)} is not yours")
    if ctx.action == "put":
        _check_write(value)
        try:
            memory = MemoryService(await server_store(), caller.identity)
            await memory.check_write_namespace(namespace)
        except InvalidCorrection as err:
            raise _invalid(str(err)) from err
    elif ctx.action == "search":
        _check_search(value)
    return True


@auth.on
async def deny_everything_else(ctx: Auth.types.AuthContext, value: Any) -> bool:
    """Default deny for anything without its own handler."""
    raise _forbidden("not allowed")
