"""Each namespace's size, kept as writes happen instead of counted by every search.

A search chooses between scoring all of a namespace's vectors and its own HNSW index by how many
vectors the namespace holds, and BM25 takes its document count from the same number; the
maintenance round (store/vector_indexes.py) finds the namespaces that need an index by it.
Counted, it cost what the namespace holds (about 2.5 ms of a search in a 10,000-memory
namespace) and a probe of every namespace a round; kept, it costs two index lookups, and the
round reads only the namespaces large enough to matter.

Statement triggers on `store` and `store_vectors` append each statement's change per namespace
(memories and vectors, + inserted, - deleted) to `engram_namespace_size_changes`, in the
transaction that writes: in every snapshot the kept count is the true count. Appending never
waits for another writer. (One row per namespace, updated by every write, would queue a
namespace's writers behind each other's commits, an organisation's namespace behind all its
users', and two transactions writing two namespaces in opposite orders would deadlock.)

A namespace's size is its row in `engram_namespace_sizes` plus its changes since. The
maintenance round folds the changes into those rows (`fold`, one statement: a search sees the
sizes before or after it, never half of it) and deletes the rows of namespaces left empty, so a
forgotten namespace leaves no name behind; `MemoryStore.fold_sizes` does it at once.
"""

from __future__ import annotations

from typing import Any

import psycopg

from store.database import Pool

EVENTS = ("insert", "delete", "truncate")
TRIGGERS = tuple((table, f"engram_count_{name}_{event}")
                 for table, name in (("store", "store"), ("store_vectors", "vectors"))
                 for event in EVENTS)
"""Every counting trigger, as (table, trigger name)."""


def _count_triggers(table: str) -> tuple[str, ...]:
    """The statements that make one table's counting triggers."""
    insert, delete, truncate = (name for of, name in TRIGGERS if of == table)
    return (
        f"CREATE OR REPLACE TRIGGER {insert} AFTER INSERT ON {table} "
        "REFERENCING NEW TABLE AS changed FOR EACH STATEMENT "
        "EXECUTE FUNCTION engram_count_changes()",
        f"CREATE OR REPLACE TRIGGER {delete} AFTER DELETE ON {table} "
        "REFERENCING OLD TABLE AS changed FOR EACH STATEMENT "
        "EXECUTE FUNCTION engram_count_changes()",
        f"CREATE OR REPLACE TRIGGER {truncate} AFTER TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION engram_count_truncate()",
    )


VECTOR_TRIGGERS = _count_triggers("store_vectors")
"""What counts the vectors (made again when the table is replaced: store/convert_vectors.py)."""

MIGRATIONS = (
    """
    CREATE TABLE IF NOT EXISTS engram_namespace_sizes (
        prefix text PRIMARY KEY,
        memories bigint NOT NULL,
        vectors bigint NOT NULL
    )
    """,
    # The round reads the namespaces past a size, and finds the emptied ones, by this index.
    "CREATE INDEX IF NOT EXISTS engram_namespace_sizes_vectors_idx "
    "ON engram_namespace_sizes (vectors, memories)",
    """
    CREATE TABLE IF NOT EXISTS engram_namespace_size_changes (
        prefix text NOT NULL,
        memories bigint NOT NULL,
        vectors bigint NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS engram_namespace_size_changes_prefix_idx "
    "ON engram_namespace_size_changes (prefix) INCLUDE (memories, vectors)",
    # One function for both tables and both directions: the rows a statement inserted or
    # deleted (its transition table, `changed`), counted per namespace.
    """
    CREATE OR REPLACE FUNCTION engram_count_changes() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        sign bigint := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
        of_store bigint := (TG_TABLE_NAME = 'store')::int;
    BEGIN
        INSERT INTO engram_namespace_size_changes (prefix, memories, vectors)
        SELECT prefix, sign * count(*) * of_store, sign * count(*) * (1 - of_store)
        FROM changed GROUP BY prefix;
        RETURN NULL;
    END $$
    """,
    # TRUNCATE deletes without a transition table: what the truncated table counted goes.
    """
    CREATE OR REPLACE FUNCTION engram_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_TABLE_NAME = 'store' THEN
            DELETE FROM engram_namespace_sizes;
            DELETE FROM engram_namespace_size_changes;
        ELSE
            UPDATE engram_namespace_sizes SET vectors = 0 WHERE vectors <> 0;
            UPDATE engram_namespace_size_changes SET vectors = 0 WHERE vectors <> 0;
        END IF;
        RETURN NULL;
    END $$
    """,
    # The triggers and the first count in one transaction: creating a trigger holds the table's
    # writes (not its reads) until the count is in, so no write is counted twice or missed.
    "DO $$ BEGIN " + "; ".join(_count_triggers("store") + VECTOR_TRIGGERS) + """;
        DELETE FROM engram_namespace_size_changes;
        DELETE FROM engram_namespace_sizes;
        INSERT INTO engram_namespace_sizes (prefix, memories, vectors)
        SELECT prefix, sum(memories), sum(vectors) FROM (
            SELECT prefix, count(*) AS memories, 0 AS vectors FROM store GROUP BY prefix
            UNION ALL
            SELECT prefix, 0, count(*) FROM store_vectors GROUP BY prefix
        ) counted GROUP BY prefix;
    END $$
    """,
)
"""Schema of the kept sizes, appended to the store's own migrations (store/search.py)."""

SCOPE_VECTORS = """
    SELECT coalesce(sum(kept.vectors), 0) AS n FROM {scope} CROSS JOIN LATERAL (
        SELECT s.vectors FROM engram_namespace_sizes s WHERE s.prefix = {scope}.prefix
        UNION ALL
        SELECT c.vectors FROM engram_namespace_size_changes c WHERE c.prefix = {scope}.prefix
    ) kept
"""
"""SQL: how many vectors the namespaces of `{scope}` (a relation with a `prefix`) hold."""

# The changes taken out and added to the sizes in one statement. Rows appended meanwhile are not
# in this statement's snapshot: they stay for the next fold.
_FOLD = """
WITH taken AS (
    DELETE FROM engram_namespace_size_changes RETURNING prefix, memories, vectors
)
INSERT INTO engram_namespace_sizes AS s (prefix, memories, vectors)
SELECT prefix, sum(memories), sum(vectors) FROM taken GROUP BY prefix ORDER BY prefix
ON CONFLICT (prefix) DO UPDATE
SET memories = s.memories + excluded.memories, vectors = s.vectors + excluded.vectors
"""
_EMPTIED = "DELETE FROM engram_namespace_sizes WHERE vectors = 0 AND memories = 0"

_LARGER = """
SELECT prefix, vectors FROM engram_namespace_sizes WHERE vectors > %(floor)s
"""


async def fold(conn: psycopg.AsyncConnection[Any]) -> None:
    """Add the changes appended since the last fold to the sizes; forget emptied namespaces."""
    await conn.execute(_FOLD)
    await conn.execute(_EMPTIED)


async def larger_than(pool: Pool, floor: int) -> dict[str, int]:
    """Namespaces holding more than `floor` vectors, with their number (after a `fold`)."""
    async with pool.connection() as conn:
        rows = await (await conn.execute(_LARGER, {"floor": floor})).fetchall()
    return {str(row["prefix"]): int(row["vectors"]) for row in rows}
