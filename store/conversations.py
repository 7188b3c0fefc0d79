"""A user's conversations as the store keeps them: messages grouped by thread, newest first.

The messages are the values of the application's message kind (`KindPolicy.messages`; Engram's
episodes), each with its thread in `source.thread_id`, when it was said in `said_at`, its `role`
and its `text` (the search, store/search.py, also reads its `position` in the thread and its
`speaker`, when known). The LangGraph store can filter only on top-level value fields; a message's
thread is in its `source`. These two reads are plain SQL over the store's table, inside one
namespace (its prefix index), so they stay cheap for a user with many messages and include
threads whose checkpoints were deleted or that came from an import.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.postgres import _ainternal
from langgraph.store.base import BaseStore
from psycopg.rows import dict_row

from store.search import MemoryStore

_LIVE = "(expires_at IS NULL OR expires_at > NOW())"
_OPENING_CHARS = 80

_THREADS = f"""
SELECT value->'source'->>'thread_id' AS thread_id, count(*) AS episodes,
       min(value->>'said_at') AS first_said_at, max(value->>'said_at') AS last_said_at,
       -- What tells threads apart at a glance: how the user opened it.
       (array_agg(left(value->>'text', {_OPENING_CHARS}) ORDER BY value->>'said_at', key)
        FILTER (WHERE value->>'role' = 'user'))[1] AS opening
FROM store
WHERE prefix = %(prefix)s AND value->>'kind' = %(kind)s AND {_LIVE}
GROUP BY 1
ORDER BY max(value->>'said_at') DESC NULLS LAST
LIMIT %(limit)s
"""

_EPISODES = f"""
SELECT key, value, created_at, updated_at
FROM store
WHERE prefix = %(prefix)s AND value->>'kind' = %(kind)s AND {_LIVE}
  AND value->'source'->>'thread_id' IS NOT DISTINCT FROM %(thread)s
ORDER BY value->>'said_at' DESC, value->>'role' ASC
LIMIT %(limit)s
"""


def _messages(store: BaseStore) -> tuple[MemoryStore, str]:
    """The memory store and the kind its messages are kept as, or the reason it has none."""
    if not isinstance(store, MemoryStore):
        raise TypeError(f"conversations are read from the memory store, not {type(store).__name__}")
    if store.kinds.messages is None:
        raise ValueError("this store keeps no conversations: open it with a KindPolicy whose "
                         "`messages` names their kind (the application's store factory does)")
    return store, store.kinds.messages.name


async def threads(
    store: BaseStore, namespace: tuple[str, ...], limit: int
) -> list[dict[str, Any]]:
    """The threads with messages in `namespace`, most recently spoken in first.

    Each with its message count (`episodes`), first and last dates, and its opening user
    message (cut).
    """
    memory_store, kind = _messages(store)
    async with _ainternal.get_connection(memory_store.conn) as conn, conn.cursor(
        row_factory=dict_row
    ) as cursor:
        await cursor.execute(_THREADS, {"prefix": ".".join(namespace), "kind": kind,
                                        "limit": limit})
        return list(await cursor.fetchall())


async def episodes(
    store: BaseStore, namespace: tuple[str, ...], thread_id: str | None, limit: int
) -> list[dict[str, Any]]:
    """A thread's messages in `namespace`, newest first (`None`: those kept without a thread)."""
    memory_store, kind = _messages(store)
    async with _ainternal.get_connection(memory_store.conn) as conn, conn.cursor(
        row_factory=dict_row
    ) as cursor:
        await cursor.execute(_EPISODES, {"prefix": ".".join(namespace), "kind": kind,
                                         "thread": thread_id, "limit": limit})
        return [{"key": row["key"], **row["value"]} for row in await cursor.fetchall()]
