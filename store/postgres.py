"""The checkpointer (tier 1) and store (tier 2) factories (langgraph.json names agent/stores.py).

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

from store.background import MemoryWork, checkpoint_work, int_setting, memory_work
from store.database import DatabaseError, Pool, connection_pool, database_url, migrations_locked
from store.embeddings import EmbeddingModel, load_embedding_model
from store.retention import KindPolicy
from store.search import SESSION_OPTIONS, MemoryStore

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


@asynccontextmanager
async def checkpointer() -> AsyncIterator[AsyncPostgresSaver]:
    """Tier 1: every step of every thread, checkpointed in Postgres.

    Threads are pruned to their newest ENGRAM_KEEP_CHECKPOINTS checkpoints (default 50) every
    ENGRAM_PRUNE_INTERVAL_S seconds (default 600; 0 turns it off).
    """
    keep = int_setting("ENGRAM_KEEP_CHECKPOINTS", 50)
    interval = int_setting("ENGRAM_PRUNE_INTERVAL_S", 600)
    async with connection_pool(await database_url()) as pool:
        saver = AsyncPostgresSaver(pool)
        async with migrations_locked(pool):
            await saver.setup()
        async with checkpoint_work(pool, keep, interval):
            yield saver


@asynccontextmanager
async def store(
    kinds: KindPolicy | None = None, work: MemoryWork | None = None,
) -> AsyncIterator[MemoryStore]:
    """Tier 2: memories in Postgres, searched by meaning and words per namespace.

    Values are embedded as they are written, except the messages (`kinds.messages`): those are
    stored at once and embedded moments later by a background worker (store/pending_vectors.py).
    Namespaces past store.search.EXACT_MAX memories get an HNSW index of their own, built in the
    background every ENGRAM_VECTOR_INDEX_INTERVAL_S seconds (default 300; 0 turns it off).

    Args:
        kinds: what a value's `kind` means to the store (default TTLs, ranking bonuses, the
            messages); the application's (Engram's: agent/stores.py). None: no kind is treated
            specially.
        work: what runs beside the store (None: as the environment configures it).
    """
    model = await asyncio.to_thread(configured_model)
    work = work or MemoryWork.configured()  # a bad setting fails before anything starts
    async with connection_pool(await database_url(), options=SESSION_OPTIONS) as pool:
        await require_pgvector(pool)
        await require_dims(pool, model)
        memory_store = MemoryStore(pool, index=model.index_config(), ttl=TTL,
                                   kinds=kinds or KindPolicy())
        async with migrations_locked(pool):
            await memory_store.setup()
        async with memory_work(memory_store, pool, work):  # store/background.py
            yield memory_store
