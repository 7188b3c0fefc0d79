"""The database Engram runs on: its URL (or the embedded Postgres) and connection pools.

`DATABASE_URL` picks the database; without it an embedded Postgres with pgvector is started in
`ENGRAM_DATA_DIR` (default `.engram/postgres`). Errors name the fix.
"""

from __future__ import annotations

import asyncio
import os
import re
import select
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from store import embedded

DEFAULT_DATA_DIR = ".engram/postgres"
CONNECT_TIMEOUT_S = 15.0
Pool = AsyncConnectionPool[psycopg.AsyncConnection[DictRow]]
"""A pool of autocommit connections whose rows are dicts (what both LangGraph libraries expect)."""


class DatabaseError(RuntimeError):
    """The database cannot serve Engram; the message says how to fix it."""


QUIET_CHECK_S = 30.0
"""A connection idle in the pool longer than this is checked with a round trip before use."""
_lent_at: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], float] = (
    weakref.WeakKeyDictionary())


async def check_connection(conn: psycopg.AsyncConnection[Any]) -> None:
    """Make sure a pooled connection still works before it is lent; raise when it does not.

    A server that restarted, or that ended the session, closes the socket: the connection then
    has something to read (its goodbye, or the end of the stream) while it should have
    nothing. Such a connection, one the driver saw break, and one not lent for QUIET_CHECK_S
    (a network that dropped it silently) get the pool's round-trip check; the others, lent
    moments ago, are lent without one: a turn borrows a connection a dozen times, and a round
    trip each was a tenth of its memory work.
    """
    now = time.monotonic()
    lent, _lent_at[conn] = _lent_at.get(conn), now
    if (conn.broken or lent is None or now - lent > QUIET_CHECK_S
            or _readable(conn.fileno())):
        await AsyncConnectionPool.check_connection(conn)


def _readable(fd: int) -> bool:
    """Whether a socket has something to read, or was closed (without waiting)."""
    if hasattr(select, "poll"):  # any descriptor number, unlike select()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])


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
        check=check_connection,
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


MIGRATION_LOCK = 7_310_592_041
"""The advisory lock key that serialises migrations (any fixed number, the same everywhere)."""


@asynccontextmanager
async def migrations_locked(pool: Pool, poll_s: float = 0.1) -> AsyncIterator[None]:
    """Hold the migration lock: replicas started together migrate one after the other.

    The lock is held on a connection of its own, so the migrations may use the pool's others;
    each replica then finds what the first applied and applies nothing twice. A waiting
    replica polls, in autocommit, instead of blocking in a statement: a waiting statement (or
    an open transaction) would hold a snapshot that the first replica's `CREATE INDEX
    CONCURRENTLY` waits for, while it waits for the lock: neither would ever finish.
    """
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        try:
            while True:
                cursor = await conn.execute("SELECT pg_try_advisory_lock(%s) AS ok",
                                            (MIGRATION_LOCK,))
                row = await cursor.fetchone()
                if row and row["ok"]:
                    break
                await asyncio.sleep(poll_s)
            try:
                yield
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        finally:
            await conn.set_autocommit(False)
