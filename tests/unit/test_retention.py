"""Memory TTLs by kind, applied to every write that names none, refreshed by reads."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from agent.memory.model.kinds import KINDS
from store.retention import DAY, HISTORY_TTL_MINUTES


async def ttl_of(database_url: str, prefix: str, key: str) -> tuple[float | None, Any]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        row = await (await conn.execute(
            "SELECT ttl_minutes, expires_at FROM store WHERE prefix = %s AND key = %s",
            (prefix, key))).fetchone()
    assert row is not None
    return row[0], row[1]


async def test_writes_get_their_kinds_ttl_and_reads_extend_it(
    memory_store: Any, database_url: str
) -> None:
    namespace = ("memories", "acme", f"u{uuid.uuid4().hex[:8]}")
    prefix = ".".join(namespace)
    await memory_store.aput(namespace, "fb", {"text": "Answers were too long.", "kind": "feedback"})
    await memory_store.aput(namespace, "pref", {"text": "Likes tea.", "kind": "preference"})
    await memory_store.aput(namespace, "old", {"text": "Lived in Paris.", "kind": "fact",
                                               "invalid_at": "2026-01-01T00:00:00+00:00"})
    await memory_store.aput(namespace, "mine", {"text": "x", "kind": "feedback"}, ttl=5)

    feedback_ttl, first_expiry = await ttl_of(database_url, prefix, "fb")
    assert feedback_ttl == KINDS["feedback"].ttl_minutes == 90 * DAY
    assert (await ttl_of(database_url, prefix, "pref"))[0] is None
    assert (await ttl_of(database_url, prefix, "old"))[0] == HISTORY_TTL_MINUTES
    assert (await ttl_of(database_url, prefix, "mine"))[0] == 5

    found = await memory_store.asearch(namespace, query="answer length", limit=5)
    assert "fb" in {item.key for item in found}
    # Just written: a read leaves the expiry as it is (no write, so no wait for the disk) ...
    assert (await ttl_of(database_url, prefix, "fb"))[1] == first_expiry
    # ... once 1% of the TTL has passed, a read extends the memory's life to its full TTL again.
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute("UPDATE store SET expires_at = expires_at - interval '2 days' "
                           "WHERE prefix = %s AND key = 'fb'", (prefix,))
    await memory_store.asearch(namespace, query="answer length", limit=5)
    assert (await ttl_of(database_url, prefix, "fb"))[1] > first_expiry
