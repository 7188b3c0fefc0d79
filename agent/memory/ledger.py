"""The turn ledger: which user messages already had their memory operations applied.

A turn is applied at most once. Replaying it later (time travel, a fork that re-runs it, a retry
after a crash) finds it here and writes nothing, even when later turns changed the memories it
touched: re-adding what a later turn deleted would not be a replay but a new write. The ledger
lives in the store under its own namespace, outside memory search and outside the HTTP API's reach.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from langgraph.store.base import BaseStore

from agent.memory.schema import Identity, ledger_namespace


def turn_key(thread_id: str | None, message_id: str) -> str:
    """A turn is its user message within its thread (clients may reuse ids across threads)."""
    return f"{thread_id or '-'}/{message_id}"


async def applied_operations(
    store: BaseStore, identity: Identity, thread_id: str | None, message_id: str | None
) -> list[dict[str, Any]] | None:
    """The operations recorded for this turn, or None if it was never applied."""
    if not message_id:
        return None
    item = await store.aget(ledger_namespace(identity), turn_key(thread_id, message_id))
    return list(item.value["operations"]) if item else None


async def record(
    store: BaseStore, identity: Identity, thread_id: str | None, message_id: str | None,
    operations: Sequence[dict[str, Any]],
) -> None:
    """Record what this turn did to the memories."""
    if not message_id:
        return
    value = {"operations": list(operations), "recorded_at": datetime.now(UTC).isoformat()}
    await store.aput(ledger_namespace(identity), turn_key(thread_id, message_id), value,
                     index=False)
