"""How often each memory is retrieved, kept beside the memories rather than in them.

Counting inside the memory item would re-embed its text on every put and change the item on every
read; a separate item per memory key costs one batched get and one batched put per turn, done by
write_memory after the answer, never on the retrieve path. Counted once per turn (the turn ledger
guards replays).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from langgraph.store.base import BaseStore

from agent.memory.model.schema import Identity, usage_namespace


async def record_retrievals(store: BaseStore, identity: Identity, keys: Sequence[str]) -> None:
    """Add one retrieval to each memory key and stamp `last_retrieved_at`."""
    if not keys:
        return
    namespace = usage_namespace(identity)
    found = await asyncio.gather(*(store.aget(namespace, key) for key in keys))
    now = datetime.now(UTC).isoformat()
    await asyncio.gather(*(
        store.aput(namespace, key,
                   {"retrievals": int(item.value["retrievals"]) + 1 if item else 1,
                    "last_retrieved_at": now},
                   index=False)
        for key, item in zip(keys, found, strict=True)
    ))
