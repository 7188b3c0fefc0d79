"""The turn ledger: which user messages already had their memory operations applied.

A turn is applied at most once. Replaying it later (time travel, a fork that re-runs it, a retry
after a crash) finds it here and writes nothing, even when later turns changed the memories it
touched: re-adding what a later turn deleted would not be a replay but a new write. The ledger
lives in the store under its own namespace, outside memory search and outside the HTTP API's reach.

A turn whose operations wait for a human also keeps its *plan* here: the gated operations and
the turn's episodes, as write_memory planned them. The approval node writes from this plan,
never from the thread's state, which the thread's owner can rewrite through the server's API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from langgraph.store.base import BaseStore, GetOp, Item, PutOp

from agent.memory.model.schema import Identity, ledger_namespace


@dataclass(frozen=True)
class Plan:
    """What a turn would write once a human approves: operations and episodes, as planned."""

    operations: list[dict[str, Any]] = field(default_factory=list)
    """The gated operations (MemoryOperation dumps), scrubbed and checked when planned."""
    episodes: list[dict[str, Any]] = field(default_factory=list)
    """The turn's episodes held back with them: `key` and `value` in the owner's namespace."""
    stated_in: str | None = None
    """Key of the turn's user episode, which the memories it writes link to."""


@dataclass(frozen=True)
class Entry:
    """What the ledger holds for one turn."""

    operations: list[dict[str, Any]]
    """What the turn did (or proposed), as reported to the caller."""
    plan: Plan | None = None
    decided: bool = False
    """Whether a human has answered the plan."""


def turn_key(thread_id: str | None, message_id: str) -> str:
    """A turn is its user message within its thread (clients may reuse ids across threads)."""
    return f"{thread_id or '-'}/{message_id}"


def entry_read(identity: Identity, thread_id: str | None, message_id: str | None) -> GetOp | None:
    """The read of a turn's entry, to batch with others (None: a turn with no message id)."""
    return GetOp(ledger_namespace(identity), turn_key(thread_id, message_id)) if message_id else None


def entry_of(item: Item | None) -> Entry | None:
    """The entry a ledger item holds (None: the turn was never applied)."""
    if item is None:
        return None
    plan = item.value.get("plan")
    return Entry(
        operations=list(item.value["operations"]),
        plan=Plan(list(plan["operations"]), list(plan["episodes"]), plan.get("stated_in"))
        if plan else None,
        decided=bool(item.value.get("decided_at")),
    )


async def entry(
    store: BaseStore, identity: Identity, thread_id: str | None, message_id: str | None
) -> Entry | None:
    """The ledger's entry for this turn, or None if it was never applied."""
    read = entry_read(identity, thread_id, message_id)
    return entry_of(await store.aget(read.namespace, read.key)) if read is not None else None


def record_write(
    identity: Identity, thread_id: str | None, message_id: str | None,
    operations: Sequence[dict[str, Any]], plan: Plan | None = None, decided: bool = False,
) -> PutOp | None:
    """The write that records what a turn did (None: a turn with no message id), to batch."""
    if not message_id:
        return None
    now = datetime.now(UTC).isoformat()
    value: dict[str, Any] = {"operations": list(operations), "recorded_at": now}
    if plan is not None:
        value["plan"] = {"operations": plan.operations, "episodes": plan.episodes,
                         "stated_in": plan.stated_in}
    if decided:
        value["decided_at"] = now
    return PutOp(ledger_namespace(identity), turn_key(thread_id, message_id), value, index=False)


async def record(
    store: BaseStore, identity: Identity, thread_id: str | None, message_id: str | None,
    operations: Sequence[dict[str, Any]], plan: Plan | None = None, decided: bool = False,
) -> None:
    """Record what this turn did to the memories (and the plan a human is asked about)."""
    write = record_write(identity, thread_id, message_id, operations, plan, decided)
    if write is not None:
        await store.aput(write.namespace, write.key, write.value or {}, index=False)


EVENT_PREFIX = "event:"


async def record_event(store: BaseStore, identity: Identity, event_id: str,
                       results: Any) -> None:
    """Record what a client's write request did, for the client to read back by its id."""
    await store.aput(ledger_namespace(identity), EVENT_PREFIX + event_id, {
        "status": "SUCCEEDED", "results": results,
        "created_at": datetime.now(UTC).isoformat()}, index=False)


async def event(store: BaseStore, identity: Identity, event_id: str) -> dict[str, Any] | None:
    """What the write request `event_id` of the caller's did, or None if there was none."""
    item = await store.aget(ledger_namespace(identity), EVENT_PREFIX + event_id)
    return dict(item.value) if item is not None else None
