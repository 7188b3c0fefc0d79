"""Who is calling, and what they may touch. Enforced by the LangGraph server on every route.

Tokens: `ENGRAM_DEV_TOKENS="token=user@org,..."` maps static bearer tokens to users, for local
use and tests. Threads are stamped with their owner and filtered by it; store access is confined to
the caller's own memory namespace; everything without a handler is denied.
"""

from __future__ import annotations

import hmac
import os
from functools import cache
from typing import Any

from langgraph_sdk import Auth

from agent.memory import Identity, memory_namespace
from agent.scrub import scrub_value

auth = Auth()


@cache
def dev_tokens() -> dict[str, Identity]:
    """Parse `ENGRAM_DEV_TOKENS` once (a server setting, not a per-run one)."""
    tokens: dict[str, Identity] = {}
    for entry in os.environ.get("ENGRAM_DEV_TOKENS", "").split(","):
        if not entry.strip():
            continue
        token, _, who = entry.strip().partition("=")
        user, _, org = who.partition("@")
        if not token or not user or not org:
            raise ValueError(
                f"ENGRAM_DEV_TOKENS entry {entry.strip()!r} is not `token=user@org`"
            )
        tokens[token] = Identity(user_id=user, org_id=org)
    return tokens


def _lookup(token: str) -> Identity | None:
    # Compare every token in constant time so a timing probe learns nothing.
    found = None
    for known, identity in dev_tokens().items():
        if hmac.compare_digest(known.encode(), token.encode()):
            found = identity
    return found


@auth.authenticate
async def authenticate(authorization: str | None) -> dict[str, str]:
    """Map `Authorization: Bearer <token>` to a user."""
    if not dev_tokens():
        raise Auth.exceptions.HTTPException(
            status_code=401,
            detail="no tokens configured on the server: set ENGRAM_DEV_TOKENS (see .env.example)",
        )
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Auth.exceptions.HTTPException(
            status_code=401, detail="missing bearer token: send `Authorization: Bearer <token>`"
        )
    identity = _lookup(token.strip())
    if identity is None:
        raise Auth.exceptions.HTTPException(status_code=401, detail="invalid token")
    return {"identity": identity.user_id, "org_id": identity.org_id, "role": "member"}


def _caller(ctx: Auth.types.AuthContext) -> Identity:
    return Identity(user_id=ctx.user.identity, org_id=str(ctx.user["org_id"]))


def _owner_filter(ctx: Auth.types.AuthContext) -> dict[str, str]:
    caller = _caller(ctx)
    return {"owner": caller.user_id, "org": caller.org_id}


@auth.on.threads.create
async def on_thread_create(ctx: Auth.types.AuthContext, value: Any) -> dict[str, str]:
    """Stamp a new thread with its owner."""
    owner = _owner_filter(ctx)
    metadata = value.setdefault("metadata", {})
    metadata.update(owner)
    return owner


@auth.on.threads
async def on_threads(ctx: Auth.types.AuthContext, value: Any) -> dict[str, str]:
    """Every other thread and run operation sees only the caller's threads."""
    if isinstance(value, dict) and isinstance(value.get("metadata"), dict):
        value["metadata"].update(_owner_filter(ctx))
    return _owner_filter(ctx)


@auth.on.assistants.read
async def on_assistant_read(ctx: Auth.types.AuthContext, value: Any) -> bool:
    """Anyone signed in may read the deployed assistants (to run them)."""
    return True


@auth.on.assistants.search
async def on_assistant_search(ctx: Auth.types.AuthContext, value: Any) -> bool:
    """Anyone signed in may list the deployed assistants."""
    return True


@auth.on.store()
async def on_store(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> bool:
    """Confine every store access to the caller's own memory namespace."""
    own = memory_namespace(_caller(ctx))
    namespace = tuple(value.get("namespace") or ())
    if isinstance(value.get("value"), dict):
        # Writes through the HTTP API are scrubbed like the graph's own.
        cleaned, counts = scrub_value(value["value"])
        value["value"] = {**cleaned, "scrubbed": counts} if counts else cleaned
    if namespace[: len(own)] == own:
        return True
    if own[: len(namespace)] == namespace:
        # A prefix of the caller's namespace (a search or listing from the root): narrow it.
        value["namespace"] = own
        return True
    raise Auth.exceptions.HTTPException(
        status_code=403, detail=f"store namespace {list(namespace)} is not yours"
    )


@auth.on
async def deny_everything_else(ctx: Auth.types.AuthContext, value: Any) -> bool:
    """Default deny: assistants' writes, crons and anything without its own handler."""
    raise Auth.exceptions.HTTPException(status_code=403, detail="not allowed")
