"""An HNSW index of its own for each large namespace, built in the background.

A namespace of at most `EXACT_MAX` memories is searched exactly: its vectors sit together in the
covering index (store/search.py), and scoring all of them costs a few milliseconds. A larger
namespace gets a partial HNSW index, `... WHERE prefix = '<namespace>'`, that holds only its own
vectors, so an approximate search never wades through other users' candidates and its cost
follows the namespace, not the table. The index is built on the namespace's partition of the
table (store/vector_partitions.py): a build reads that partition, not every user's vectors.
Until its index is built, a large namespace is searched exactly (slower, never wrong).

The store factory runs `maintain_forever`: at start and every `interval_s` it builds the index
of each namespace that has grown past `store.search.EXACT_MAX` (CREATE INDEX CONCURRENTLY: writes go on) and
drops those of namespaces that have shrunk below half of it (or were forgotten), so a namespace
hovering near the threshold does not flap. The round reads the sizes writes keep
(store/namespace_sizes.py), first folding in the changes since the last round, and only those of
namespaces past half the threshold: its cost follows the large namespaces and the writes since,
not the number of users.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from store import half_precision, namespace_sizes, search, vector_partitions
from store.database import Pool
from store.embeddings import INDEX_PARAMS

logger = logging.getLogger(__name__)

INDEX_PREFIX = "engram_ns_hnsw_"
MAINTENANCE_LOCK = 7_310_592_042
"""Advisory lock held by the one process running a maintenance round."""
BUILD_MEMORY = "1GB"
"""maintenance_work_mem for a build: a 100k-memory namespace's 384-d graph takes about 200 MB."""

_BUILT = f"""
SELECT c.relname AS name, i.indisvalid AS valid, pg_get_expr(i.indpred, i.indrelid) AS predicate
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid IN ({vector_partitions.TABLES}) AND c.relname LIKE %(pattern)s
"""


def index_name(prefix: str) -> str:
    """The partial index of one namespace (a digest: prefixes are user data)."""
    return INDEX_PREFIX + hashlib.sha256(prefix.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Plan:
    """What one maintenance round does."""

    build: list[str]
    """Namespaces that need an index."""
    drop: list[str]
    """Indexes no longer needed (their namespace shrank or is gone), or left invalid."""


async def built_indexes(pool: Pool) -> dict[str, bool]:
    """The namespace indexes that exist, by name, and whether each is valid."""
    async with pool.connection() as conn:
        rows = await (await conn.execute(
            _BUILT, {"pattern": INDEX_PREFIX.replace("_", r"\_") + "%"})).fetchall()
    return {str(row["name"]): bool(row["valid"]) for row in rows}


def plan(sizes: dict[str, int], built: dict[str, bool], threshold: int) -> Plan:
    """Indexes to build (past `threshold`) and to drop (below half of it, or invalid).

    `sizes` needs only the namespaces past half the threshold: any other index is dropped.
    """
    wanted = {index_name(p): p for p, n in sizes.items() if n > threshold}
    kept = {index_name(p) for p, n in sizes.items() if n > threshold // 2}
    drop = [name for name, valid in built.items() if name not in kept or not valid]
    build = [prefix for name, prefix in wanted.items() if name not in built or not built[name]]
    return Plan(build=sorted(build), drop=sorted(drop))


async def build_index(pool: Pool, prefix: str) -> str:
    """Build the namespace's partial HNSW index without blocking writes; return its name.

    The index is built on the namespace's partition (store/vector_partitions.py), so the build
    reads that partition's rows, not the table's. (The pool's connections are in autocommit,
    which CONCURRENTLY needs.)
    """
    name = index_name(prefix)
    async with pool.connection() as conn:
        table = await vector_partitions.table_of(conn, prefix)
        if table is None:
            return name  # the namespace was emptied since the round read its size
        stored, _ = await half_precision.stored_type(conn)
        statement = sql.SQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} "
            "USING hnsw (embedding {ops}) WITH (m = {m}, ef_construction = {ef}) "
            "WHERE prefix = {prefix}"
        ).format(name=sql.Identifier(name), table=sql.Identifier(table),
                 ops=sql.SQL(half_precision.operator_class(stored)),
                 m=sql.Literal(INDEX_PARAMS["m"]), ef=sql.Literal(INDEX_PARAMS["ef_construction"]),
                 prefix=sql.Literal(prefix))
        # The graph being built must fit in memory, or the build slows down many times.
        await conn.execute(sql.SQL("SET maintenance_work_mem = {}").format(
            sql.Literal(BUILD_MEMORY)))
        try:
            await conn.execute(statement)
        finally:
            await conn.execute("RESET maintenance_work_mem")
    return name


async def drop_index(pool: Pool, name: str) -> None:
    """Drop one namespace index without blocking searches."""
    async with pool.connection() as conn:
        await conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(
            sql.Identifier(name)))


async def maintain(pool: Pool, threshold: int | None = None,
                   only: Sequence[str] | None = None) -> Plan:
    """One round: build the indexes large namespaces need, drop the ones no longer needed.

    `only` limits the builds to these namespaces (the drops still cover all).
    """
    threshold = search.EXACT_MAX if threshold is None else threshold
    async with pool.connection() as conn:
        await namespace_sizes.fold(conn)
    sizes = await namespace_sizes.larger_than(pool, threshold // 2)
    todo = plan(sizes, await built_indexes(pool), threshold)
    if only is not None:
        todo = Plan(build=[p for p in todo.build if p in set(only)], drop=todo.drop)
    for name in todo.drop:
        await drop_index(pool, name)
    for prefix in todo.build:
        logger.info("vector_index building for a namespace past %d memories: %s", threshold,
                    index_name(prefix))
        await build_index(pool, prefix)
    return todo


async def maintain_if_free(pool: Pool) -> Plan | None:
    """One round, unless another process is running one (None then).

    Replicas all run the maintenance; one at a time, or one would see the other's index still
    being built (not yet valid) and drop it.
    """
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT pg_try_advisory_lock(%s) AS got",
                                        (MAINTENANCE_LOCK,))).fetchone()
        if not row or not row["got"]:
            return None
        try:
            return await maintain(pool)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (MAINTENANCE_LOCK,))


async def maintain_forever(pool: Pool, interval_s: float) -> None:
    """Run a maintenance round now and every `interval_s` seconds until cancelled."""
    while True:
        try:
            done = await maintain_if_free(pool)
        except psycopg.Error as err:
            # A database restart or a failed build: the next round tries again.
            logger.warning("vector index maintenance failed: %s", err)
        else:
            if done and (done.build or done.drop):
                logger.info("vector_indexes built=%d dropped=%d", len(done.build), len(done.drop))
        await asyncio.sleep(interval_s)
