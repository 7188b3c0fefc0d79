"""Checkpoint retention: keep the latest K checkpoints of each thread, delete idle threads.

    python -m store.maintenance --keep 20 --idle-days 7 [--server URL --token TOKEN]

AsyncPostgresSaver can prune a thread to its single latest checkpoint or delete it; keeping the
latest K (so recent time travel still works) is ours. Idle threads are deleted through the
server's API when `--server` is given (a token with the `service` role), so the server forgets its
thread records too; without it only their checkpoints are deleted. The checkpointer factory also
prunes in the background (ENGRAM_KEEP_CHECKPOINTS, ENGRAM_PRUNE_INTERVAL_S).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import UTC, datetime, timedelta

import psycopg
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

from store.database import Pool, connection_pool, database_url

logger = logging.getLogger(__name__)

# Checkpoint ids are time-ordered (uuid6), so the newest K sort last. Writes of deleted
# checkpoints go with them; a blob goes when no remaining checkpoint of its thread uses it.
_PRUNE = (
    """
    CREATE TEMP TABLE doomed ON COMMIT DROP AS
    SELECT thread_id, checkpoint_ns, checkpoint_id FROM (
        SELECT thread_id, checkpoint_ns, checkpoint_id, row_number() OVER (
            PARTITION BY thread_id, checkpoint_ns ORDER BY checkpoint_id DESC) AS newest
        FROM checkpoints WHERE thread_id = ANY(%(threads)s)
    ) ranked WHERE newest > %(keep)s
    """,
    """
    DELETE FROM checkpoint_writes w USING doomed d
    WHERE w.thread_id = d.thread_id AND w.checkpoint_ns = d.checkpoint_ns
      AND w.checkpoint_id = d.checkpoint_id
    """,
    """
    DELETE FROM checkpoints c USING doomed d
    WHERE c.thread_id = d.thread_id AND c.checkpoint_ns = d.checkpoint_ns
      AND c.checkpoint_id = d.checkpoint_id
    """,
    """
    DELETE FROM checkpoint_blobs b
    WHERE b.thread_id = ANY(%(threads)s) AND NOT EXISTS (
        SELECT 1 FROM checkpoints c
        WHERE c.thread_id = b.thread_id AND c.checkpoint_ns = b.checkpoint_ns
          AND c.checkpoint -> 'channel_versions' ->> b.channel = b.version)
    """,
)


async def threads_over(pool: Pool, keep: int) -> list[str]:
    """Threads with more than `keep` checkpoints in some namespace."""
    async with pool.connection() as conn:
        rows = await (await conn.execute(
            "SELECT DISTINCT thread_id FROM checkpoints GROUP BY thread_id, checkpoint_ns "
            "HAVING count(*) > %s", (keep,))).fetchall()
    return [str(row["thread_id"]) for row in rows]


async def prune_checkpoints(pool: Pool, keep: int, threads: list[str] | None = None) -> int:
    """Keep the newest `keep` checkpoints of each thread; return how many were deleted.

    Each thread is pruned in its own transaction; runs appending meanwhile are safe (their new
    checkpoints are newer than any deleted one). Resuming from the latest checkpoint and time
    travel to the kept ones keep working; the oldest kept checkpoint loses its parent.
    """
    if keep < 1:
        raise ValueError("keep at least the latest checkpoint (keep >= 1)")
    deleted = 0
    for thread in threads if threads is not None else await threads_over(pool, keep):
        async with pool.connection() as conn, conn.transaction():
            params = {"threads": [thread], "keep": keep}
            await conn.execute(_PRUNE[0], params)
            row = await (await conn.execute("SELECT count(*) AS n FROM doomed")).fetchone()
            for statement in _PRUNE[1:]:
                await conn.execute(statement, params)
        deleted += int(row["n"]) if row else 0
    return deleted


async def idle_threads(pool: Pool, before: datetime) -> list[str]:
    """Threads whose latest checkpoint was written before `before`."""
    async with pool.connection() as conn:
        rows = await (await conn.execute(
            "SELECT thread_id FROM checkpoints WHERE checkpoint_ns = '' GROUP BY thread_id "
            "HAVING max((checkpoint ->> 'ts')::timestamptz) < %s", (before,))).fetchall()
    return [str(row["thread_id"]) for row in rows]


async def delete_threads(
    pool: Pool, threads: list[str], *, server: str | None = None, token: str | None = None
) -> int:
    """Delete threads and their checkpoints (and the server's records, when it is given)."""
    if not threads:
        return 0
    if server:
        from langgraph_sdk import get_client

        client = get_client(url=server, headers={"Authorization": f"Bearer {token}"})
        for thread in threads:
            await client.threads.delete(thread)
    await AsyncPostgresSaver(pool).aprune(threads, strategy="delete")
    return len(threads)


async def prune_forever(pool: Pool, keep: int, interval_s: float) -> None:
    """Prune every `interval_s` seconds until cancelled (the checkpointer factory runs this)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            deleted = await prune_checkpoints(pool, keep)
        except psycopg.Error as err:
            # A concurrent prune or a database restart: the next round tries again.
            logger.warning("checkpoint pruning failed: %s", err)
        else:
            logger.info("checkpoint_pruning deleted=%d keep=%d", deleted, keep)


async def main() -> int:
    """Run retention once."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=int, default=20, help="checkpoints kept per thread")
    parser.add_argument("--idle-days", type=float, default=7.0,
                        help="delete threads with no checkpoint for this many days")
    parser.add_argument("--server", help="LangGraph server URL, to delete its thread records too")
    parser.add_argument("--token", help="bearer token with the service role (with --server)")
    args = parser.parse_args()
    if args.server and not args.token:
        parser.error("--server needs --token (a token with the service role)")
    async with connection_pool(await database_url()) as pool:
        idle = await idle_threads(pool, datetime.now(UTC) - timedelta(days=args.idle_days))
        removed = await delete_threads(pool, idle, server=args.server, token=args.token)
        pruned = await prune_checkpoints(pool, args.keep)
    print(f"deleted {removed} idle threads; pruned {pruned} checkpoints (kept {args.keep} per "
          "thread)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
