"""How often each memory is retrieved, kept beside the memories rather than in them.

Counting inside the memory item would re-embed its text on every put and change the item on every
read; a separate item per memory key is read with the turn's ledger entry and written with its
ledger record (agent/memory/write/turns.py), so counting costs a turn no round trip of its own,
and never one on the retrieve path. Counted once per turn (the turn ledger guards replays).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from langgraph.store.base import GetOp, Item, PutOp

from agent.memory.model.schema import Identity, usage_namespace

Counts = dict[str, Item | None]
"""Usage items by memory key (None: never retrieved yet)."""


def reads(identity: Identity, keys: Sequence[str]) -> list[GetOp]:
    """The reads of these memory keys' counts, to batch with the turn's ledger read."""
    namespace = usage_namespace(identity)
    return [GetOp(namespace, key) for key in dict.fromkeys(keys)]


def counts_of(found: Sequence[Item | None], read: Sequence[GetOp]) -> Counts:
    """The counts by memory key, from what `reads` read."""
    return {op.key: item for op, item in zip(read, found, strict=True)}


def writes(identity: Identity, keys: Sequence[str], counts: Counts) -> list[PutOp]:
    """One retrieval more for each key (as often as it is listed), over the counts read before."""
    namespace = usage_namespace(identity)
    now = datetime.now(UTC).isoformat()
    return [PutOp(namespace, key, {"retrievals": _retrievals(counts.get(key)) + times,
                                   "last_retrieved_at": now}, index=False)
            for key, times in Counter(keys).items()]


def _retrievals(item: Item | None) -> int:
    return int(item.value["retrievals"]) if item is not None else 0
