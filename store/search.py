"""The memory store: AsyncPostgresStore with a vector search that stays right in small namespaces.

pgvector's HNSW index finds the nearest vectors of the whole table first (`hnsw.ef_search` of
them) and the namespace filter runs after: a user holding 1% of the memories gets fewer than
`limit` results, or the wrong ones. Inside a namespace of at most EXACT_MAX memories the search
here is exact (the namespace's rows come from the prefix indexes, then every distance is
computed); above it the HNSW index is used with pgvector's iterative scan, which keeps scanning
until enough rows pass the filter. One SQL statement decides, so the choice costs no round trip.
Searches with value filters, and those without a query, go to the library as is.

Writes get their kind's default TTL (store/retention.py) when they carry none, whether they come
from the graph or the HTTP API, and reads refresh it: a memory expires after its kind's TTL
without being read or rewritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from langgraph.checkpoint.postgres import _ainternal
from langgraph.store.base import Op, Result, SearchOp
from langgraph.store.postgres import AsyncPostgresStore
from langgraph.store.postgres.base import PLACEHOLDER, HNSWConfig, _namespace_prefix_condition

from store.retention import with_default_ttl

EXACT_MAX = 5_000
"""Namespaces up to this many memories are searched exactly (see BENCHMARKS.md for the cost)."""
# Session settings for the approximate branch (pgvector >= 0.8): scan on until `limit` rows pass
# the namespace filter; a wider candidate list for recall. Results are re-sorted by score.
# A generic plan cached for one namespace would be reused for all (exact and HNSW differ): plan
# every search for its own parameters.
SESSION_OPTIONS = ("-c hnsw.iterative_scan=relaxed_order -c hnsw.ef_search=100 "
                   "-c plan_cache_mode=force_custom_plan")
INDEX_PARAMS: HNSWConfig = {"kind": "hnsw", "vector_type": "vector", "m": 16,
                             "ef_construction": 200}
"""The HNSW index: denser graph and a wider build search than pgvector's defaults, for recall."""

_SEARCH = """
WITH size AS MATERIALIZED (
    SELECT count(*) AS n FROM (SELECT 1 FROM store_vectors sv WHERE {ns_sv} LIMIT {cap}) c
), nearest AS (
    -- Scored on the vectors alone, then joined to their items for the best few only.
    SELECT sv.prefix, sv.key, sv.embedding <=> %s::vector AS distance
    FROM store_vectors sv
    WHERE {ns_sv} AND (SELECT n FROM size) <= {exact_max}
    -- "+ 0" hides the distance from the HNSW index: every vector of the namespace is scored.
    ORDER BY (sv.embedding <=> %s::vector) + 0
    LIMIT %s
), exact AS (
    SELECT store.prefix, store.key, store.value, store.created_at, store.updated_at,
        nearest.distance
    FROM nearest JOIN store ON store.prefix = nearest.prefix AND store.key = nearest.key
    WHERE TRUE {expiry}
), approximate AS (
    SELECT store.prefix, store.key, store.value, store.created_at, store.updated_at,
        sv.embedding <=> %s::vector AS distance
    FROM store JOIN store_vectors sv ON store.prefix = sv.prefix AND store.key = sv.key
    WHERE {ns} {expiry} AND (SELECT n FROM size) > {exact_max}
    ORDER BY sv.embedding <=> %s::vector
    LIMIT %s
)
SELECT prefix, key, value, created_at, updated_at, 1 - distance AS score
FROM (
    SELECT DISTINCT ON (prefix, key) * FROM (
        SELECT * FROM exact UNION ALL SELECT * FROM approximate
    ) found ORDER BY prefix, key, distance
) uniq
ORDER BY score DESC
LIMIT %s OFFSET %s
"""

# Our own schema changes, in order; the position is the version. Never edit or reorder.
MIGRATIONS = (
    # The exact search reads a namespace's vectors by prefix (equality, or LIKE for children).
    "CREATE INDEX IF NOT EXISTS store_vectors_prefix_idx ON store_vectors (prefix text_pattern_ops)",
)

_REFRESH = """
WITH search_results AS ({search}), refreshed AS (
    UPDATE store s SET expires_at = NOW() + (s.ttl_minutes || ' minutes')::interval
    FROM search_results sr
    WHERE s.prefix = sr.prefix AND s.key = sr.key AND s.ttl_minutes IS NOT NULL
)
SELECT * FROM search_results
"""


class MemoryStore(AsyncPostgresStore):
    """AsyncPostgresStore whose namespace searches are exact when the namespace is small."""

    async def setup(self) -> None:
        """The library's migrations, then ours (recorded in `engram_migrations`)."""
        await super().setup()
        async with _ainternal.get_connection(self.conn) as conn:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS engram_migrations (v integer PRIMARY KEY)")
            cursor = await conn.execute("SELECT coalesce(max(v), -1) AS v FROM engram_migrations")
            row = await cursor.fetchone()
            done = int(row["v"] if isinstance(row, dict) else row[0]) if row else -1
            for version, statement in enumerate(MIGRATIONS):
                if version > done:
                    await conn.execute(statement)
                    await conn.execute("INSERT INTO engram_migrations (v) VALUES (%s)", (version,))

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Give puts without a TTL their kind's default, then run the batch."""
        return await super().abatch([with_default_ttl(op) for op in ops])

    def _prepare_batch_search_queries(
        self, search_ops: Sequence[tuple[int, SearchOp]]
    ) -> tuple[list[tuple[str, list[Any]]], list[tuple[int, str]]]:
        queries, requests = super()._prepare_batch_search_queries(search_ops)
        if (self.index_config or {}).get("distance_type", "cosine") != "cosine":
            return queries, requests
        for index, (_, op) in enumerate(search_ops):
            if op.query and op.namespace_prefix and not op.filter:
                queries[index] = self._namespace_search(op)
        return queries, requests

    def _namespace_search(self, op: SearchOp) -> tuple[str, list[Any]]:
        ns, ns_params = _namespace_prefix_condition(op.namespace_prefix)
        expiry = (
            "AND (store.expires_at IS NULL OR store.expires_at > NOW())"
            if self._omit_expired else ""
        )
        ns_sv = ns.replace("store.prefix", "sv.prefix")
        sql = _SEARCH.format(ns=ns, ns_sv=ns_sv, expiry=expiry, cap=EXACT_MAX + 1,
                             exact_max=EXACT_MAX)
        # The namespace condition appears three times; the vector four (filled in after
        # embedding, where the library replaces every PLACEHOLDER).
        fetch = op.limit + op.offset
        params: list[Any] = [
            *ns_params,  # size
            PLACEHOLDER, *ns_params, PLACEHOLDER, fetch,  # nearest (exact)
            PLACEHOLDER, *ns_params, PLACEHOLDER, fetch,  # approximate
            op.limit, op.offset,
        ]
        return (_REFRESH.format(search=sql) if op.refresh_ttl else sql), params
