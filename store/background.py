"""Every background task of a server process, in one place: started together, stopped cleanly.

- TTL sweeper: deletes expired memories (the server does not sweep a custom store), hourly.
- Vector worker: fills in messages' vectors (store/pending_vectors.py); ENGRAM_VECTOR_WORKER.
- Namespace indexes: builds and drops large namespaces' HNSW (store/vector_indexes.py);
  ENGRAM_VECTOR_INDEX_INTERVAL_S.
- Checkpoint pruning: keeps each thread's newest checkpoints (store/maintenance.py);
  ENGRAM_KEEP_CHECKPOINTS, ENGRAM_PRUNE_INTERVAL_S.

The factories that `langgraph.json` names (store/postgres.py) run their tasks for as long as
the server holds them: `memory_work` beside the store, `checkpoint_work` beside the
checkpointer. Settings are read, and refused when malformed, before anything starts.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from store.database import DatabaseError, Pool
from store.maintenance import prune_forever
from store.search import MemoryStore
from store.vector_indexes import maintain_forever


def int_setting(name: str, default: int) -> int:
    """A whole-number setting from the environment (`default` when unset)."""
    value = os.environ.get(name, "").strip()
    try:
        return int(value) if value else default
    except ValueError as err:
        raise DatabaseError(f"{name}={value!r} is not a whole number") from err


def vector_worker_on() -> bool:
    """Whether this process fills in messages' vectors (ENGRAM_VECTOR_WORKER, on by default).

    Off when a worker of its own does it (the application runs one; Engram's:
    `python -m agent.stores`).
    """
    value = os.environ.get("ENGRAM_VECTOR_WORKER", "").strip().lower() or "on"
    if value not in ("on", "off"):
        raise DatabaseError(f"ENGRAM_VECTOR_WORKER={value!r}: use on (default) or off")
    return value == "on"


@dataclass(frozen=True)
class MemoryWork:
    """What runs beside the memory store, as configured."""

    fill_vectors: bool
    index_interval_s: int

    @classmethod
    def configured(cls) -> MemoryWork:
        """From the environment (DatabaseError names a malformed setting)."""
        return cls(vector_worker_on(), int_setting("ENGRAM_VECTOR_INDEX_INTERVAL_S", 300))


@asynccontextmanager
async def _tasks(*loops: Coroutine[Any, Any, None] | None) -> AsyncIterator[None]:
    """Run the given loops as tasks until the block ends, then cancel them."""
    tasks = [asyncio.create_task(loop) for loop in loops if loop is not None]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@asynccontextmanager
async def memory_work(
    memory_store: MemoryStore, pool: Pool, work: MemoryWork,
) -> AsyncIterator[None]:
    """The TTL sweeper, the vector worker and namespace-index upkeep, for the block's length."""
    await memory_store.start_ttl_sweeper()
    if work.fill_vectors:
        memory_store.start_vector_worker()
    interval = work.index_interval_s
    try:
        async with _tasks(maintain_forever(pool, interval) if interval > 0 else None):
            yield
    finally:
        await memory_store.stop_vector_worker()
        await memory_store.stop_ttl_sweeper(timeout=5)


@asynccontextmanager
async def checkpoint_work(pool: Pool, keep: int, interval_s: int) -> AsyncIterator[None]:
    """Checkpoint pruning every `interval_s` seconds (0: none), for the block's length."""
    async with _tasks(prune_forever(pool, keep, interval_s) if interval_s > 0 else None):
        yield
