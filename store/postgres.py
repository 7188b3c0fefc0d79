"""The checkpointer (tier 1) and store (tier 2) factories that `langgraph.json` names.

Both use the official classes, `AsyncPostgresSaver` and `AsyncPostgresStore`, over psycopg pools,
and run their `setup()` migrations on start. `DATABASE_URL` picks the database; without it an
embedded Postgres with pgvector is started in `ENGRAM_DATA_DIR` (default `.engram/postgres`).
The server enters each factory on its own event loop, so pools are created here, never at import.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.store.base import TTLConfig
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from store import embedded
from store.embeddings import EmbeddingModel, load_embedding_model
from store.search import SESSION_OPTIONS, MemoryStore

DEFAULT_DATA_DIR = ".engram/postgres"
# Reads extend a memory's life; expired memories are swept hourly. Kinds' TTLs: store/retention.py.
TTL: TTLConfig = {"refresh_on_read": True, "sweep_interval_minutes": 60}
CONNECT_TIMEOUT_S = 15.0


class DatabaseError(RuntimeError):
    """The database cannot serve Engram; the message says how to fix it."""


async def database_url() -> str:
    """`DATABASE_URL`, or the URL of the embedded Postgres (started if needed)."""
    if url := os.environ.get("DATABASE_URL", "").strip():
        return url
    data_dir = Path(os.environ.get("ENGRAM_DATA_DIR", "").strip() or DEFAULT_DATA_DIR)
    try:
        return await asyncio.to_thread(embedded.ensure_running, data_dir)
    except embedded.EmbeddedPostgresError as err:
        raise DatabaseError(f"cannot start the embedded Postgres in {data_dir}: {err}") from err


def redact(url: str) -> str:
    """The URL with any password masked, fit for an error message."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


@asynccontextmanager
async def connection_pool(
    url: str, *, max_size: int = 10, options: str = ""
) -> AsyncIterator[AsyncConnectionPool[psycopg.AsyncConnection[DictRow]]]:
    """An open pool with the settings both libraries expect, or a DatabaseError naming the fix.

    Args:
        url: libpq URL or conninfo.
        max_size: most connections the pool opens.
        options: server settings for every connection (libpq `options`, e.g. `-c name=value`).
    """
    await _probe(url)
    kwargs: dict[str, Any] = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
    if options:
        kwargs["options"] = options
    pool: AsyncConnectionPool[psycopg.AsyncConnection[DictRow]] = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        open=False,
        kwargs=kwargs,
        # Check a connection before lending it, so a restarted database costs no failed run.
        check=AsyncConnectionPool.check_connection,
    )
    try:
        await pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
    except PoolTimeout as err:
        await pool.close()
        raise DatabaseError(
            f"no connection to Postgres at {redact(url)} within {CONNECT_TIMEOUT_S:.0f} s. "
            "Check the database's load and max_connections."
        ) from err
    try:
        yield pool
    finally:
        await pool.close()


async def _probe(url: str) -> None:
    """Connect once, so an unreachable database fails now with its own reason, not a timeout."""
    try:
        async with await psycopg.AsyncConnection.connect(url, connect_timeout=5):
            return
    except psycopg.Error as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DatabaseError(
            f"cannot reach Postgres at {redact(url)}: {reason}. Start the database or fix "
            "DATABASE_URL (unset it to use the embedded Postgres)."
        ) from err


async def require_pgvector(pool: AsyncConnectionPool[psycopg.AsyncConnection[DictRow]]) -> None:
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


async def stored_dims(pool: AsyncConnectionPool[psycopg.AsyncConnection[DictRow]]) -> int | None:
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
    pool: AsyncConnectionPool[psycopg.AsyncConnection[DictRow]], model: EmbeddingModel
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


@asynccontextmanager
async def checkpointer() -> AsyncIterator[AsyncPostgresSaver]:
    """Tier 1: every step of every thread, checkpointed in Postgres.

    Threads are pruned to their newest ENGRAM_KEEP_CHECKPOINTS checkpoints (default 50) every
    ENGRAM_PRUNE_INTERVAL_S seconds (default 600; 0 turns it off).
    """
    from store.maintenance import prune_forever

    keep = _int_setting("ENGRAM_KEEP_CHECKPOINTS", 50)
    interval = _int_setting("ENGRAM_PRUNE_INTERVAL_S", 600)
    async with connection_pool(await database_url()) as pool:
        saver = AsyncPostgresSaver(pool)
        await saver.setup()
        pruning = asyncio.create_task(prune_forever(pool, keep, interval)) if interval > 0 else None
        try:
            yield saver
        finally:
            if pruning:
                pruning.cancel()


@asynccontextmanager
async def store() -> AsyncIterator[MemoryStore]:
    """Tier 2: memories in Postgres with a pgvector HNSW index over their text."""
    model = await asyncio.to_thread(configured_model)
    async with connection_pool(await database_url(), options=SESSION_OPTIONS) as pool:
        await require_pgvector(pool)
        await require_dims(pool, model)
        memory_store = MemoryStore(pool, index=model.index_config(), ttl=TTL)
        await memory_store.setup()
        # The LangGraph server does not sweep a custom store: expired memories are ours to delete.
        await memory_store.start_ttl_sweeper()
        try:
            yield memory_store
        finally:
            await memory_store.stop_ttl_sweeper(timeout=5)
