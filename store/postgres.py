"""The checkpointer (tier 1) and store (tier 2) factories that `langgraph.json` names.

Both use the official classes, `AsyncPostgresSaver` and `AsyncPostgresStore`, over psycopg pools
(store/database.py picks the database), and run their `setup()` migrations on start. The server
enters each factory on its own event loop, so pools are created here, never at import.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.store.base import TTLConfig

from store.database import DatabaseError, Pool, connection_pool, database_url, migrations_locked
from store.embeddings import EmbeddingModel, load_embedding_model
from store.maintenance import prune_forever
from store.retention import DAY, KIND_TTL_MINUTES
from store.search import SESSION_OPTIONS, MemoryStore
from store.vector_indexes import maintain_forever

# Reads extend a memory's life; expired memories are swept hourly. Kinds' TTLs: store/retention.py.
TTL: TTLConfig = {"refresh_on_read": True, "sweep_interval_minutes": 60}


async def require_pgvector(pool: Pool) -> None:
    """Fail with the fix when the pgvector extension is not available in this Postgres."""
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
            )
        ).fetchone()
    if row is None:
        raise DatabaseError(
            "pgvector is not installed in this Postgres (no `vector` extension available). "
            "Install it (Debian/Ubuntu: postgresql-<version>-pgvector; or the pgvector/pgvector "
            "image), or unset DATABASE_URL to use the embedded Postgres that ships with it."
        )


async def stored_dims(pool: Pool) -> int | None:
    """The vector size of the existing `store_vectors.embedding` column, if the table exists."""
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT a.atttypmod AS dims FROM pg_attribute a "
                "WHERE a.attrelid = to_regclass('store_vectors') AND a.attname = 'embedding'"
            )
        ).fetchone()
    return int(row["dims"]) if row else None


async def require_dims(
    pool: Pool, model: EmbeddingModel
) -> None:
    """Refuse a store whose vectors were made by a model of another size."""
    dims = await stored_dims(pool)
    if dims is not None and dims != model.dims:
        raise DatabaseError(
            f"the store holds {dims}-d vectors but EMBEDDINGS={model.name} gives {model.dims}-d. "
            "Re-embed every memory with the configured model: `python -m store.reindex` "
            "(or set EMBEDDINGS back to the model the store was built with)."
        )


def configured_model() -> EmbeddingModel:
    """The embedding model named by `EMBEDDINGS` / `EMBEDDING_DIMS`."""
    dims = os.environ.get("EMBEDDING_DIMS", "").strip()
    return load_embedding_model(os.environ.get("EMBEDDINGS", "").strip() or None,
                                int(dims) if dims else None)


def _int_setting(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    try:
        return int(value) if value else default
    except ValueError as err:
        raise DatabaseError(f"{name}={value!r} is not a whole number") from err


def vector_worker_on() -> bool:
    """Whether this process fills in episodes' vectors (ENGRAM_VECTOR_WORKER, on by default)."""
    value = os.environ.get("ENGRAM_VECTOR_WORKER", "").strip().lower() or "on"
    if value not in ("on", "off"):
        raise DatabaseError(f"ENGRAM_VECTOR_WORKER={value!r}: use on (default) or off")
    return value == "on"


@asynccontextmanager
async def checkpointer() -> AsyncIterator[AsyncPostgresSaver]:
    """Tier 1: every step of every thread, checkpointed in Postgres.

    Threads are pruned to their newest ENGRAM_KEEP_CHECKPOINTS checkpoints (default 50) every
    ENGRAM_PRUNE_INTERVAL_S seconds (default 600; 0 turns it off).
    """
    keep = _int_setting("ENGRAM_KEEP_CHECKPOINTS", 50)
    interval = _int_setting("ENGRAM_PRUNE_INTERVAL_S", 600)
    async with connection_pool(await database_url()) as pool:
        saver = AsyncPostgresSaver(pool)
        async with migrations_locked(pool):
            await saver.setup()
        pruning = asyncio.create_task(prune_forever(pool, keep, interval)) if interval > 0 else None
        try:
            yield saver
        finally:
            if pruning:
                pruning.cancel()


@asynccontextmanager
async def store() -> AsyncIterator[MemoryStore]:
    """Tier 2: memories in Postgres, searched by meaning and words per namespace.

    Facts are embedded as they are written; episodes are stored at once and embedded moments
    later by a background worker (store/pending_vectors.py). Namespaces past
    store.search.EXACT_MAX memories get an HNSW index of their own, built in the background every
    ENGRAM_VECTOR_INDEX_INTERVAL_S seconds (default 300; 0 turns it off).
    """
    model = await asyncio.to_thread(configured_model)
    fill_vectors_here = vector_worker_on()  # a bad setting fails before anything starts
    async with connection_pool(await database_url(), options=SESSION_OPTIONS) as pool:
        await require_pgvector(pool)
        await require_dims(pool, model)
        memory_store = MemoryStore(pool, index=model.index_config(), ttl=TTL)
        if episode_days := _int_setting("ENGRAM_EPISODE_TTL_DAYS", 0):
            memory_store.kind_ttl = {**KIND_TTL_MINUTES, "episode": episode_days * DAY}
        async with migrations_locked(pool):
            await memory_store.setup()
        # The LangGraph server does not sweep a custom store: expired memories are ours to delete.
        await memory_store.start_ttl_sweeper()
        # Episodes' vectors are filled in here unless a separate worker does it
        # (`python -m store.pending_vectors`, with ENGRAM_VECTOR_WORKER=off on the server).
        if fill_vectors_here:
            memory_store.start_vector_worker()
        interval = _int_setting("ENGRAM_VECTOR_INDEX_INTERVAL_S", 300)
        indexing = asyncio.create_task(maintain_forever(pool, interval)) if interval > 0 else None
        try:
            yield memory_store
        finally:
            if indexing:
                indexing.cancel()
            await memory_store.stop_vector_worker()
            await memory_store.stop_ttl_sweeper(timeout=5)
