"""Bring a populated store's vectors to the current layout online: `python -m store.convert_vectors`.

The layout: half precision (store/half_precision.py), in hash partitions by namespace
(store/vector_partitions.py). A new store starts in it; a store filled by an older release is
converted once, with the servers going on reading and writing while this runs:
1. the new table is made, empty, partitioned and with its keys and covering index, and a trigger
   mirrors into it every write `store_vectors` takes from then on;
2. the rows are copied over in batches (each batch locks its rows against a delete only while it
   copies them; a row the trigger wrote meanwhile is not overwritten);
3. the HNSW index of each namespace that has one is built on its partition of the new table,
   without blocking its writes;
4. one short transaction swaps the tables: the old one is renamed away, the new one takes its
   name, its indexes' names and its triggers. Searches and writes wait for this step only (the
   lock is held while the swap checks the new table's row count against the kept sizes,
   store/namespace_sizes.py, and renames); the old table is dropped after.
Stopped half-way, it leaves the store's data as it was; run again, it starts over.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from store import vector_indexes, vector_partitions
from store.database import DatabaseError, Pool, connection_pool, database_url
from store.embeddings import INDEX_PARAMS
from store.half_precision import stored_type
from store.namespace_sizes import TRIGGERS, VECTOR_TRIGGERS
from store.postgres import configured_model, require_dims, require_pgvector
from store.search import COVERING_MAX_DIMS, MemoryStore
from store.vector_indexes import INDEX_PREFIX

logger = logging.getLogger(__name__)

COPY = "engram_vectors_new"
"""The new table while a conversion runs."""
OLD = "engram_vectors_old"
"""The old table after the swap, until it is dropped."""
EARLIER = ("engram_vectors_half", "engram_vectors_full")
"""What a stopped conversion of the release before (to half precision only) may have left."""
BATCH = 10_000
"""Rows copied a transaction."""
BATCH_TRIES = 5
SWAP_LOCK_TIMEOUT = "1s"
"""How long the swap waits for the table before it gives up and tries again (searches and writes
queue behind a waiting lock)."""
SWAP_TRIES = 20

_MIRROR_FUNCTION = f"""
CREATE OR REPLACE FUNCTION engram_mirror_vectors() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM {COPY}
        WHERE prefix = OLD.prefix AND key = OLD.key AND field_name = OLD.field_name;
        RETURN NULL;
    END IF;
    INSERT INTO {COPY} (prefix, key, field_name, embedding, created_at, updated_at)
    VALUES (NEW.prefix, NEW.key, NEW.field_name, NEW.embedding, NEW.created_at, NEW.updated_at)
    ON CONFLICT (prefix, key, field_name) DO UPDATE
    SET embedding = EXCLUDED.embedding, created_at = EXCLUDED.created_at,
        updated_at = EXCLUDED.updated_at;
    RETURN NULL;
END $$
"""

_PREPARE = (
    # What a conversion that stopped half-way left, trigger first (it writes into the copy).
    "DROP TRIGGER IF EXISTS engram_mirror_vectors ON store_vectors",
    f"DROP TABLE IF EXISTS {COPY}, {', '.join(EARLIER)}",
    # The new table, defined where a new store's migration defines it.
    f"SELECT engram_create_vector_table('{COPY}', {{dims}}, {vector_partitions.PARTITIONS}, "
    f"{{covering}}, 'store_vectors')",
    _MIRROR_FUNCTION,
    "CREATE OR REPLACE TRIGGER engram_mirror_vectors AFTER INSERT OR UPDATE OR DELETE "
    "ON store_vectors FOR EACH ROW EXECUTE FUNCTION engram_mirror_vectors()",
)

# One batch, in primary-key order from where the last one ended. FOR KEY SHARE keeps a delete of
# these rows waiting until they are copied (so the trigger's delete then finds them); an update
# meanwhile is the trigger's to copy, and DO NOTHING keeps its newer value.
_COPY_BATCH = f"""
WITH batch AS (
    SELECT prefix, key, field_name, embedding, created_at, updated_at FROM store_vectors
    WHERE (prefix, key, field_name) > (%(prefix)s, %(key)s, %(field)s)
    ORDER BY prefix, key, field_name LIMIT %(batch)s
    FOR KEY SHARE
), copied AS (
    INSERT INTO {COPY} (prefix, key, field_name, embedding, created_at, updated_at)
    SELECT prefix, key, field_name, embedding, created_at, updated_at FROM batch
    ON CONFLICT DO NOTHING
)
SELECT count(*) AS n,
    (array_agg(prefix ORDER BY prefix DESC, key DESC, field_name DESC))[1] AS prefix,
    (array_agg(key ORDER BY prefix DESC, key DESC, field_name DESC))[1] AS key,
    (array_agg(field_name ORDER BY prefix DESC, key DESC, field_name DESC))[1] AS field
FROM batch
"""

_NAMESPACE_INDEXES = rf"""
SELECT c.relname AS name, pg_get_expr(i.indpred, i.indrelid) AS predicate
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid IN ({vector_partitions.TABLES}) AND i.indisvalid
  AND c.relname LIKE 'engram\_ns\_hnsw\_%'
"""

# The new table's own indexes, renamed at the swap to the names a new store has (its partitions
# and theirs have them already).
_NEW_NAMES = r"""
SELECT c.relname AS name, c.relkind IN ('i', 'I') AS index
FROM pg_class c
WHERE c.relname LIKE 'engram\_vectors\_new%' OR c.relname LIKE 'engram\_ns\_hnsw\_%\_new'
ORDER BY c.relname
"""

_KEPT_VECTORS = """
SELECT (SELECT coalesce(sum(vectors), 0) FROM engram_namespace_sizes)
     + (SELECT coalesce(sum(vectors), 0) FROM engram_namespace_size_changes) AS kept,
       (SELECT count(*) FROM {copy}) AS copied
"""


@dataclass
class Conversion:
    """What a conversion did, and how long each step took (seconds)."""

    rows: int = 0
    batches: int = 0
    indexes: list[str] = field(default_factory=list)
    steps: dict[str, float] = field(default_factory=dict)
    swap_tries: int = 0
    already: bool = False


async def convert(pool: Pool, batch: int = BATCH,
                  between: Callable[[str], Any] | None = None) -> Conversion:
    """Convert a populated store's vectors to the current layout online (see the module's text).

    `between(step)` is awaited after each step (tests write meanwhile; the command logs).
    """
    done = Conversion()
    async with pool.connection() as conn:
        ready = await (await conn.execute(
            "SELECT to_regclass('engram_namespace_sizes') IS NOT NULL "
            "AND to_regprocedure('engram_create_vector_table(text, integer, integer, boolean, "
            "text)') "
            "IS NOT NULL AS ready")).fetchone()
        if not ready or not ready["ready"]:
            raise RuntimeError("the store predates this release: open it once with this release "
                               "(its migrations keep the sizes the conversion checks), then convert")
        await _drop_old(conn)  # what a conversion that stopped after its swap left
        kind, dims = await stored_type(conn)
        if kind == "halfvec" and await vector_partitions.is_partitioned(conn):
            done.already = True
            return done
        # One round of the namespace indexes at a time: none is built on the old table now.
        await conn.execute("SELECT pg_advisory_lock(%s)", (vector_indexes.MAINTENANCE_LOCK,))
        try:
            started = time.perf_counter()
            for statement in _PREPARE:
                await conn.execute(statement.format(
                    dims=int(dims), covering=str(dims <= COVERING_MAX_DIMS).lower()))
            done.steps["prepare_s"] = time.perf_counter() - started
            await _step(between, "prepared")

            started = time.perf_counter()
            last = {"prefix": "", "key": "", "field": "", "batch": batch}
            while True:
                row = await _copy_batch(conn, last)
                if row is None or not row["n"]:
                    break
                done.rows += int(row["n"])
                done.batches += 1
                last.update(prefix=row["prefix"], key=row["key"], field=row["field"])
                await _step(between, "batch")
            done.steps["copy_s"] = time.perf_counter() - started
            await _step(between, "copied")

            started = time.perf_counter()
            await conn.execute(f"VACUUM (ANALYZE) {COPY}")
            for index in await (await conn.execute(_NAMESPACE_INDEXES)).fetchall():
                if await _namespace_index(conn, str(index["name"]), str(index["predicate"])):
                    done.indexes.append(str(index["name"]))
            done.steps["namespace_indexes_s"] = time.perf_counter() - started
            await _step(between, "indexed")

            started = time.perf_counter()
            done.swap_tries = await _swap(conn)
            done.steps["swap_s"] = time.perf_counter() - started
            await _step(between, "swapped")
            started = time.perf_counter()
            await _drop_old(conn)
            done.steps["drop_old_s"] = time.perf_counter() - started
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)",
                               (vector_indexes.MAINTENANCE_LOCK,))
    return done


async def _copy_batch(conn: psycopg.AsyncConnection[Any], last: dict[str, Any]) -> Any:
    """Copy the next batch; a batch that lost a deadlock to a writer is tried again."""
    for attempt in range(1, BATCH_TRIES + 1):
        try:
            return await (await conn.execute(_COPY_BATCH, last)).fetchone()
        except psycopg.errors.DeadlockDetected:
            # A writer updated a row of the batch (its trigger holds the copy's row) and then
            # waited to delete another: Postgres chose this batch to give way.
            if attempt == BATCH_TRIES:
                raise
            logger.warning("convert_vectors: a batch gave way to a writer; copying it again")
    return None


async def _step(between: Callable[[str], Any] | None, step: str) -> None:
    if between is not None:
        await between(step)


async def _namespace_index(conn: psycopg.AsyncConnection[Any], name: str, predicate: str) -> bool:
    """Build one namespace's HNSW index, as the old table's, on its partition of the new table.

    False if the namespace has no vectors left.
    """
    part = await (await conn.execute(sql.SQL(
        "SELECT c.relname AS name FROM pg_class c "
        "WHERE c.oid = (SELECT tableoid FROM {copy} WHERE {predicate} LIMIT 1)").format(
            copy=sql.Identifier(COPY), predicate=sql.SQL(predicate)))).fetchone()
    if part is None:
        return False
    await conn.execute(sql.SQL("SET maintenance_work_mem = {}").format(
        sql.Literal(vector_indexes.BUILD_MEMORY)))
    try:
        await conn.execute(sql.SQL(
            "CREATE INDEX CONCURRENTLY {name} ON {part} USING hnsw (embedding halfvec_cosine_ops) "
            "WITH (m = {m}, ef_construction = {ef}) WHERE {predicate}").format(
                name=sql.Identifier(name + "_new"), part=sql.Identifier(str(part["name"])),
                m=sql.Literal(INDEX_PARAMS["m"]), ef=sql.Literal(INDEX_PARAMS["ef_construction"]),
                predicate=sql.SQL(predicate)))  # the old index's own predicate, read from Postgres
    finally:
        await conn.execute("RESET maintenance_work_mem")
    return True


async def _swap(conn: psycopg.AsyncConnection[Any]) -> int:
    """Swap the new table in, in one short transaction; return how many tries the lock took.

    The old table is renamed, not dropped, here: dropping it takes a lock on `store` too (its
    foreign key's triggers live there), which a writer holding `store` and waiting for the vectors
    would deadlock with. It is dropped after, on its own (`_drop_old`).
    """
    for attempt in range(1, SWAP_TRIES + 1):
        try:
            async with conn.transaction():
                await conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(
                    sql.Literal(SWAP_LOCK_TIMEOUT)))
                # In the order a delete cascades into them (the table's foreign key is older).
                await conn.execute(
                    f"LOCK TABLE store_vectors, {COPY} IN ACCESS EXCLUSIVE MODE")
                counts = await (await conn.execute(
                    _KEPT_VECTORS.format(copy=COPY))).fetchone()
                if counts is None or int(counts["kept"]) != int(counts["copied"]):
                    raise RuntimeError(f"the copy holds {counts and counts['copied']} vectors, the "
                                       f"store {counts and counts['kept']}: nothing swapped")
                old = await (await conn.execute(
                    "SELECT c.relname AS name, c.relkind IN ('i', 'I') AS index FROM pg_class c "
                    "WHERE c.oid IN (SELECT indexrelid FROM pg_index "
                    f"WHERE indrelid IN ({vector_partitions.TABLES})) "
                    "OR c.oid IN (SELECT inhrelid FROM pg_inherits "
                    "WHERE inhparent = 'store_vectors'::regclass)")).fetchall()
                await conn.execute(f"ALTER TABLE store_vectors RENAME TO {OLD}")
                await _rename(conn, [(str(r["name"]), f"{r['name']}_old", bool(r["index"]))
                                     for r in old])
                for trigger in ("engram_mirror_vectors",
                                *(name for table, name in TRIGGERS if table == "store_vectors")):
                    await conn.execute(sql.SQL("DROP TRIGGER {} ON {}").format(
                        sql.Identifier(trigger), sql.Identifier(OLD)))
                await conn.execute(f"ALTER TABLE {COPY} RENAME TO store_vectors")
                new = await (await conn.execute(_NEW_NAMES)).fetchall()
                await _rename(conn, [(str(r["name"]), _final_name(str(r["name"])), bool(r["index"]))
                                     for r in new])
                await conn.execute(f"ALTER TABLE store_vectors RENAME CONSTRAINT "
                                   f"{COPY}_prefix_key_fkey TO store_vectors_prefix_key_fkey")
                for statement in VECTOR_TRIGGERS:
                    await conn.execute(statement)
                await conn.execute("DROP FUNCTION engram_mirror_vectors()")
                await conn.execute("DROP FUNCTION engram_stored_vector(vector)")
                await conn.execute(
                    "CREATE FUNCTION engram_stored_vector(v vector) RETURNS halfvec "
                    "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE RETURN v::halfvec")
            return attempt
        except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected):
            # A long write held the table, or a delete cascading into both tables locked the
            # copy first: nothing was changed; the next try waits for it again.
            logger.warning("convert_vectors: the tables stayed busy for %s; trying again",
                           SWAP_LOCK_TIMEOUT)
    raise RuntimeError(f"the table stayed busy {SWAP_TRIES} times; run the conversion again")


def _final_name(name: str) -> str:
    """A new table index's name as a new store has it."""
    if name.startswith(INDEX_PREFIX):
        return name.removesuffix("_new")
    return "store_vectors" + name.removeprefix(COPY)


async def _rename(conn: psycopg.AsyncConnection[Any],
                  renames: list[tuple[str, str, bool]]) -> None:
    """Rename tables and indexes: (name, new name, whether it is an index)."""
    for before, after, index in renames:
        await conn.execute(sql.SQL("ALTER {} {} RENAME TO {}").format(
            sql.SQL("INDEX" if index else "TABLE"), sql.Identifier(before),
            sql.Identifier(after)))


async def _drop_old(conn: psycopg.AsyncConnection[Any]) -> None:
    """Drop the table a swap left (it is nobody's now), waiting for `store`."""
    for attempt in range(1, SWAP_TRIES + 1):
        try:
            async with conn.transaction():
                await conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(
                    sql.Literal(SWAP_LOCK_TIMEOUT)))
                await conn.execute(f"DROP TABLE IF EXISTS {OLD}, {EARLIER[1]}")
            return
        except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected):
            if attempt == SWAP_TRIES:
                raise


async def main() -> int:
    """Convert the store of DATABASE_URL (or the embedded Postgres) to the current layout."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=BATCH, help="rows copied a transaction")
    args = parser.parse_args()
    if args.batch < 1:
        parser.error("--batch must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    async def progress(step: str) -> None:
        if step != "batch":
            logger.info("convert_vectors: %s", step)

    model = configured_model()
    try:
        async with connection_pool(await database_url()) as pool:
            # This release's schema first (the kept sizes the swap checks against), as a
            # server's start would make it.
            await require_pgvector(pool)
            await require_dims(pool, model)
            await MemoryStore(pool, index=model.index_config()).setup()
            done = await convert(pool, args.batch, progress)
    except (DatabaseError, RuntimeError) as err:
        print(f"not converted: {err}", file=sys.stderr)
        return 2
    if done.already:
        print("the store's vectors are in the current layout already")
    else:
        print(f"{done.rows} vectors now half precision, partitioned by namespace "
              f"({len(done.indexes)} namespace indexes "
              f"rebuilt); " + ", ".join(f"{k} {v:.1f}" for k, v in done.steps.items()))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
