"""A user's conversations as the store keeps them: episodes grouped by thread, newest first.

The LangGraph store can filter only on top-level value fields; an episode's thread is in its
`source`. These two reads are plain SQL over the store's table, inside one namespace (its prefix
index), so they stay cheap for a user with many episodes and include threads whose checkpoints
were deleted or that came from an import.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.postgres import _ainternal
from langgraph.store.base import BaseStore
from langgraph.store.postgres import AsyncPostgresStore
from psycopg.rows import dict_row

_LIVE = "(expires_at IS NULL OR expires_at > NOW())"
_OPENING_CHARS = 80

_THREADS = f"""
SELECT value->'source'->>'thread_id' AS thread_id, count(*) AS episodes,
       min(value->>'said_at') AS first_said_at, max(value->>'said_at') AS last_said_at,
       -- What tells threads apart at a glance: how the user opened it.
       (array_agg(left(value->>'text', {_OPENING_CHARS}) ORDER BY value->>'said_at', key)
        FILTER (WHERE value->>'role' = 'user'))[1] AS opening
FROM store
WHERE prefix = %s AND value->>'kind' = 'episode' AND {_LIVE}
GROUP BY 1
ORDER BY max(value->>'said_at') DESC NULLS LAST
LIMIT %s
"""

_EPISODES = f"""
SELECT key, value, created_at, updated_at
FROM store
WHERE prefix = %s AND value->>'kind' = 'episode' AND {_LIVE}
  AND value->'source'->>'thread_id' IS NOT DISTINCT FROM %s
ORDER BY value->>'said_at' DESC, value->>'role' ASC
LIMIT %s
"""


def _prefix(namespace: tuple[str, ...]) -> str:
    return ".".join(namespace)


def _postgres(store: BaseStore) -> AsyncPostgresStore:
    if not isinstance(store, AsyncPostgresStore):
        raise TypeError(f"conversations are read from the Postgres store, not {type(store).__name__}")
    return store


async def threads(
    store: BaseStore, namespace: tuple[str, ...], limit: int
) -> list[dict[str, Any]]:
    """The threads with episodes in `namespace`, most recently spoken in first.

    Each with its episode count, first and last dates, and its opening user message (cut).
    """
    async with _ainternal.get_connection(_postgres(store).conn) as conn, conn.cursor(
        row_factory=dict_row
    ) as cursor:
        await cursor.execute(_THREADS, (_prefix(namespace), limit))
        return list(await cursor.fetchall())


async def episodes(
    store: BaseStore, namespace: tuple[str, ...], thread_id: str | None, limit: int
) -> list[dict[str, Any]]:
    """A thread's episodes in `namespace`, newest first (`None`: those kept without a thread)."""
    async with _ainternal.get_connection(_postgres(store).conn) as conn, conn.cursor(
        row_factory=dict_row
    ) as cursor:
        await cursor.execute(_EPISODES, (_prefix(namespace), thread_id, limit))
        return [{"key": row["key"], **row["value"]} for row in await cursor.fetchall()]
