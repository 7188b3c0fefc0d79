"""Benchmark memory search: `MemoryStore.asearch` latency as the table grows around a namespace.

Each case `table:namespace` (default 100k:1k, 100k:10k, 1M:1k, 1M:10k, 1M:100k) makes a fresh
database `engram_bench_retrieval_*` on the embedded Postgres, opens the store with the project's
own factory `agent.stores.store()` (its migrations create the schema), and fills it in SQL on
the server: the searched user's namespace holds `namespace` distinct memories, other users'
namespaces of at most `--other-size` memories fill the table. Rows go in interleaved, as users
write at the same time (ordered by each memory's place in its own namespace's history, then by
namespace), so no namespace's rows are contiguous in the table. Memories are deterministic
synthetic facts (seeded template combinations; 20 "planted" facts with a known question), at
most `--distinct` of them, embedded once with the store's model and cached in
`.engram/bench-cache/`; other namespaces reuse them. Secondary indexes are dropped for the load
and re-created from their own definitions, the namespaces past `EXACT_MAX` get their own HNSW
index (`store/vector_indexes.py`), then `VACUUM ANALYZE` runs. Bytes per item are read from
Postgres.

Measured, after warm-up searches, over `--queries` distinct natural-language questions (limit
10): `search` (asearch end to end: query embedding, the hybrid SQL, TTL refresh), `embed` (the
model alone), `db` (asearch with the query vector precomputed), `sql_exec` (server time from
EXPLAIN ANALYZE), `search_p50_over_embed_p50`; `maintenance_round_ms`, a round of the
namespace indexes' upkeep with nothing to build (store/vector_indexes.py); `own_index_build_s`,
the searched namespace's own HNSW index dropped and built again as the round builds it (median
of `--rebuilds`; `own_index_build_ratio` divides the largest table's by the smallest's with the
same namespace, in the same run). Recall@10 is against
the same searches with the namespace searched exactly (`EXACT_MAX` raised); `planted_top5`
counts planted facts whose question finds them in the top 5. `plan` lists the executed plan nodes.

    .venv/bin/python bench/retrieval.py [--cases 100000:1000,1000000:1000] [--distinct 12000]
        [--settings "factory;hnsw.ef_search=200"] [--exact-max 0] [--keep | --reuse]

`--settings` variants are added after the factory's session options (the later `-c` wins).
`--reuse` builds each case's tables once, in a database named after what they depend on
(`engram_bench_retrieval_<n>_<namespace>_<digest>` of the layout, corpus, model and migrations),
and later runs measure those tables without loading them again (the 1M and 3M cases take
minutes to build, seconds to search); the rows `--after-writes` adds are deleted again after.
Progress goes to stderr; the result is one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import re
import struct
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from _common import (
    PLANTED,
    ROOT,
    VECTORS_HEAP,
    VECTORS_INDEXES,
    default_data_dir,
    distinct_queries,
    emit,
    fresh_database,
    log,
    machine,
    named_database,
    offline_env,
    percentiles_ms,
    synthetic_memory,
)
from langchain_core.embeddings import Embeddings
from langgraph.store.base import SearchOp
from langgraph.store.postgres.base import PLACEHOLDER
from psycopg import sql

from agent.memory.model.schema import Identity, MemoryValue, Source, memory_namespace
from agent.stores import kind_policy
from store.search import MemoryStore

HNSW_PREFIX = "engram_ns_hnsw_"
TARGET = Identity(user_id="bench-user", org_id="bench")
GOAL_P50_MS, GOAL_P95_MS = 15.0, 40.0
Matrix = npt.NDArray[np.float32]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--cases", default="100000:1000,100000:10000,1000000:1000,1000000:10000,1000000:100000",
        help="comma-separated table:namespace sizes (memories in the table, in the searched "
             "namespace)")
    parser.add_argument("--other-size", type=int, default=10_000,
                        help="most memories in each other user's namespace (at most the searched "
                             "namespace's)")
    parser.add_argument("--queries", type=int, default=200, help="timed searches")
    parser.add_argument("--warmup", type=int, default=20, help="untimed searches first")
    parser.add_argument("--limit", type=int, default=10, help="search limit")
    parser.add_argument("--distinct", type=int, default=100_000,
                        help="distinct memories embedded; larger tables reuse them, with noise, "
                             "in the other users' namespaces (the searched one stays distinct)")
    parser.add_argument("--explain-queries", type=int, default=50,
                        help="searches run again under EXPLAIN ANALYZE for server time")
    parser.add_argument(
        "--settings", default="factory",
        help="';'-separated session settings to compare, each 'factory' (the factory's session "
             "options as they are) or 'guc=value,...' applied on top of them "
             "(e.g. 'factory;hnsw.ef_search=200;hnsw.iterative_scan=off')",
    )
    parser.add_argument(
        "--exact-max", type=int, default=None,
        help="experiment: search namespaces up to this many memories exactly instead of "
             "store.search.EXACT_MAX (0 sends every search to the namespace's HNSW index)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rebuilds", type=int, default=3,
                        help="times the searched namespace's own index is built again (0: none)")
    parser.add_argument("--embed-chunk", type=int, default=2048,
                        help="texts per aembed_documents call while loading")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".engram" / "bench-cache",
                        help="where embedded memories are cached between runs")
    parser.add_argument("--data-dir", type=Path, default=default_data_dir(),
                        help="embedded Postgres cluster")
    parser.add_argument("--after-writes", type=float, default=0.05,
                        help="then write this share of the table again (every namespace, "
                             "interleaved, no VACUUM) and measure again (0: skip)")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--reuse", action="store_true",
                        help="build each case's tables once, in a database named after what "
                             "they depend on, and measure them again on later runs")
    parser.add_argument("--database",
                        help="measure this kept database's tables (one case), e.g. one "
                             "bench/vector_migration.py converted; implies --reuse")
    args = parser.parse_args()
    args.reuse = args.reuse or bool(args.database)
    return args


@dataclass(frozen=True)
class Corpus:
    """The synthetic memories, their vectors, and the planted facts' positions."""

    kinds: list[str]
    subjects: list[str]
    texts: list[str]
    vectors: Matrix


class Precomputed(Embeddings):
    """Embeddings that return vectors computed beforehand, to time the store without the model."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        """Serve these vectors, keyed by text."""
        self._vectors = vectors

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """The stored vectors of these texts."""
        return [self._vectors[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        """The stored vector of this text."""
        return self._vectors[text]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """The stored vectors, with no thread hop."""
        return self.embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        """The stored vector, with no thread hop."""
        return self.embed_query(text)


def parse_settings(spec: str) -> list[dict[str, str]]:
    variants: list[dict[str, str]] = []
    for part in (p.strip() for p in spec.split(";")):
        if not part or part in ("factory", "default"):
            variants.append({})
            continue
        pairs = (item.split("=", 1) for item in part.split(","))
        variants.append({k.strip(): v.strip() for k, v in pairs})
    return variants


def variant_name(settings: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in settings.items()) or "factory"


def session_options(settings: dict[str, str]) -> str:
    """The factory's session options with the variant's settings after them (the later wins).

    The factory passes its options to the pool as a connection argument, which replaces any
    `options` in DATABASE_URL, so a variant has to go through the factory's own string.
    """
    from store.search import SESSION_OPTIONS

    return " ".join([SESSION_OPTIONS, *(f"-c {k}={v}" for k, v in settings.items())]).strip()


def generate(n: int, seed: int) -> tuple[list[str], list[str], list[str]]:
    rng = random.Random(seed)
    kinds, subjects, texts = [], [], []
    for _ in range(n):
        kind, subject, text = synthetic_memory(rng)
        kinds.append(kind)
        subjects.append(subject)
        texts.append(text)
    return kinds, subjects, texts


async def build_corpus(n: int, args: argparse.Namespace, embeddings: Embeddings,
                       model_name: str) -> Corpus:
    """Generate N memories plus the planted ones and embed them (or read the cache)."""
    kinds, subjects, texts = generate(n, args.seed)
    planted = [text for text, _ in PLANTED]
    all_texts = texts + planted
    digest = hashlib.sha256(json.dumps([model_name, all_texts]).encode()).hexdigest()[:16]
    cache = args.cache_dir / f"retrieval-{model_name}-{n}-{digest}.npy"
    if cache.exists():
        vectors: Matrix = np.load(cache)
        log(f"{len(all_texts)} vectors read from {cache}")
    else:
        started = time.perf_counter()
        parts = []
        for start in range(0, len(all_texts), args.embed_chunk):
            chunk = all_texts[start : start + args.embed_chunk]
            parts.append(np.asarray(await embeddings.aembed_documents(chunk), dtype=np.float32))
            done = start + len(chunk)
            rate = done / (time.perf_counter() - started)
            log(f"embedded {done}/{len(all_texts)} ({rate:.0f} texts/s)")
        vectors = np.concatenate(parts)
        args.cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(cache, vectors)
    # Six decimals: the values written to Postgres as text, so the exact search sees the same.
    vectors = np.round(vectors, 6).astype(np.float32)
    return Corpus(kinds + ["fact"] * len(planted), subjects + [f"planted {i}" for i in
                  range(len(planted))], all_texts, vectors)


@dataclass(frozen=True)
class Layout:
    """A table of N memories: the searched namespace's T, the rest in other users' namespaces."""

    n: int
    target: int
    """Memories in the searched namespace."""
    other_size: int
    """Memories in each other namespace (the last one takes the remainder)."""
    planted: list[int]
    """Positions (0..target-1) in the searched namespace that hold the planted facts."""

    @property
    def others(self) -> int:
        """How many other namespaces fill the table."""
        return -(-(self.n - self.target) // self.other_size) if self.n > self.target else 0


def make_layout(n: int, target: int, other_size: int, corpus: Corpus) -> Layout:
    distinct = len(corpus.texts) - len(PLANTED)
    if target > distinct or other_size > distinct:
        raise SystemExit(f"namespaces of {max(target, other_size)} memories need --distinct >= "
                         f"that; it is {distinct}")
    if target < len(PLANTED):
        raise SystemExit(f"the searched namespace needs at least {len(PLANTED)} memories for the "
                         "planted facts")
    step = target // len(PLANTED)
    return Layout(n, target, max(1, other_size), [j * step for j in range(len(PLANTED))])


# Rows are made by Postgres from the corpus (staged once per database): position p < target
# is the searched namespace's p-th memory, the others fill namespace (p - target) / other_size.
# Within a namespace, corpus rows are distinct; across namespaces they repeat (each user's copy
# is its own row). Rows go in interleaved, as users write at the same time, so no namespace's
# rows are contiguous in the table.
_ROWS = """
CREATE UNLOGGED TABLE bench_rows AS
SELECT p, prefix, 'bench-' || md5(prefix || '/' || p) AS key,
    CASE WHEN p < %(target)s THEN coalesce(planted.i, p) ELSE p %% %(distinct)s END AS corpus_i,
    (CASE WHEN p < %(target)s THEN p::float8 / %(target)s
          ELSE ((p - %(target)s) %% %(other_size)s)::float8 / %(other_size)s END) AS turn
FROM generate_series(0, %(n)s - 1) AS p
CROSS JOIN LATERAL (SELECT CASE WHEN p < %(target)s THEN %(target_ns)s
    ELSE %(other_ns)s || lpad(((p - %(target)s) / %(other_size)s)::text, 5, '0') END AS prefix) ns
LEFT JOIN unnest(%(planted)s::int[]) WITH ORDINALITY AS planted_at(position, j)
    ON p = planted_at.position
LEFT JOIN LATERAL (SELECT %(distinct)s + planted_at.j::int - 1 AS i) planted ON TRUE
"""
_STORE_ROWS = """
INSERT INTO store (prefix, key, value, created_at, updated_at, expires_at, ttl_minutes)
SELECT r.prefix, r.key, %(template)s::jsonb || jsonb_build_object(
        'text', c.body, 'kind', c.kind, 'subject', c.subject,
        'source', jsonb_build_object('thread_id', 'synthetic-' || (r.p %% 997))),
    now(), now(), now() + (t.ttl || ' minutes')::interval, t.ttl
FROM bench_rows r JOIN bench_corpus c ON c.i = r.corpus_i
LEFT JOIN bench_ttl t ON t.kind = c.kind
ORDER BY r.turn, r.prefix
"""
_VECTOR_ROWS = """
INSERT INTO store_vectors (prefix, key, field_name, embedding)
SELECT r.prefix, r.key, 'text', c.embedding
FROM bench_rows r JOIN bench_corpus c ON c.i = r.corpus_i
ORDER BY r.turn, r.prefix
"""
SIZES = f"""SELECT pg_table_size('store'), pg_indexes_size('store'),
    pg_relation_size('store_words_idx'), {VECTORS_HEAP}, {VECTORS_INDEXES}"""
"""Table (with TOAST) and index sizes; the word index is part of the store's indexes."""


def binary_copy(corpus: Corpus) -> bytes:
    """The corpus as one COPY ... (FORMAT BINARY) stream: index, kind, subject, text, vector."""
    out = [b"PGCOPY\n\xff\r\n\x00", struct.pack(">ii", 0, 0)]
    dims = corpus.vectors.shape[1]
    vector_head = struct.pack(">iHH", 4 + 4 * dims, dims, 0)
    big_endian = corpus.vectors.astype(">f4")
    for i, (kind, subject, text) in enumerate(zip(corpus.kinds, corpus.subjects, corpus.texts,
                                                  strict=True)):
        out.append(struct.pack(">hii", 5, 4, i))
        for field in (kind, subject, text):
            data = field.encode()
            out.append(struct.pack(">i", len(data)) + data)
        out.append(vector_head + big_endian[i].tobytes())
    out.append(struct.pack(">h", -1))
    return b"".join(out)


async def stage(conn: psycopg.AsyncConnection[Any], corpus: Corpus) -> None:
    """Copy the corpus (with its vectors) and each kind's TTL into the database once."""
    dims = corpus.vectors.shape[1]
    await conn.execute(
        f"CREATE UNLOGGED TABLE bench_corpus (i int PRIMARY KEY, kind text, subject text, "
        f"body text, embedding vector({dims}))")
    async with conn.cursor() as cur, cur.copy("COPY bench_corpus FROM STDIN (FORMAT BINARY)") as copy:
        await copy.write(binary_copy(corpus))
    policy = kind_policy()
    ttls = {kind: policy.default_ttl(memory_namespace(TARGET), {"kind": kind})
            for kind in set(corpus.kinds)}
    await conn.execute("CREATE UNLOGGED TABLE bench_ttl (kind text PRIMARY KEY, ttl int)")
    async with conn.cursor() as cur:
        await cur.executemany("INSERT INTO bench_ttl VALUES (%s, %s)",
                              [(k, None if v is None else int(v)) for k, v in ttls.items()])


async def load(url: str, layout: Layout, corpus: Corpus) -> dict[str, Any]:
    """Fill the store's tables server-side, then rebuild their indexes and the namespace ones."""
    from store import vector_indexes
    from store.database import connection_pool

    now = datetime.now(UTC).isoformat()
    template = MemoryValue(text="", kind="fact", subject="", importance=0.6, confidence=0.9,
                           source=Source(thread_id="synthetic"), created_at=now,
                           updated_at=now).model_dump(mode="json")
    target_ns = ".".join(memory_namespace(TARGET))
    other_ns = ".".join(memory_namespace(Identity("user-", TARGET.org_id)))
    timings: dict[str, float] = {}
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        await stage(conn, corpus)
        timings["stage_s"] = time.perf_counter() - started
        # Secondary indexes are dropped for the load and re-created from their own definitions.
        rows = await (await conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i JOIN pg_class c "
            "ON c.relname = i.indexname JOIN pg_index x ON x.indexrelid = c.oid "
            "WHERE i.tablename IN ('store', 'store_vectors') AND NOT x.indisprimary")).fetchall()
        for name, _ in rows:
            await conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        started = time.perf_counter()
        await conn.execute("SET work_mem = '256MB'")
        await conn.execute(_ROWS, {
            "n": layout.n, "target": layout.target, "other_size": layout.other_size,
            "distinct": len(corpus.texts) - len(PLANTED), "target_ns": target_ns,
            "other_ns": other_ns, "planted": layout.planted})
        await conn.execute(_STORE_ROWS, {"template": json.dumps(template)})
        timings["store_rows_s"] = time.perf_counter() - started
        started = time.perf_counter()
        await conn.execute(_VECTOR_ROWS)
        timings["vector_rows_s"] = time.perf_counter() - started
        log(f"{layout.n} rows written in {timings['store_rows_s'] + timings['vector_rows_s']:.0f} s")
        started = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '2GB'")
        for name, definition in rows:
            began = time.perf_counter()
            # A partitioned table's index is defined `ON ONLY` the table: made so, it would
            # cover no partition.
            await conn.execute(str(definition).replace(" ON ONLY ", " ON ", 1).encode())
            log(f"{name} rebuilt in {time.perf_counter() - began:.1f} s")
        timings["indexes_s"] = time.perf_counter() - started
        await conn.execute("VACUUM (ANALYZE) store")
        await conn.execute("VACUUM (ANALYZE) store_vectors")
        planted = await (await conn.execute(
            "SELECT r.key FROM bench_rows r WHERE r.p = ANY(%s) ORDER BY array_position(%s, r.p)",
            (layout.planted, layout.planted))).fetchall()
        await conn.execute("DROP TABLE bench_rows, bench_corpus, bench_ttl")
    started = time.perf_counter()
    async with connection_pool(url) as pool:
        built = await vector_indexes.maintain(pool)
    timings["namespace_indexes_s"] = time.perf_counter() - started
    log(f"{len(built.build)} namespace HNSW indexes built in {timings['namespace_indexes_s']:.1f} s")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("VACUUM (ANALYZE) store_vectors")
        sizes = await (await conn.execute(SIZES)).fetchone()
    assert sizes is not None
    bytes_per_item = {name: round(int(value) / layout.n) for name, value in zip(
        ("store_heap", "store_indexes", "word_index", "vectors_heap", "vector_indexes"),
        sizes, strict=True)}
    bytes_per_item["total"] = sum(bytes_per_item.values()) - bytes_per_item["word_index"]
    return {**{k: round(v, 1) for k, v in timings.items()}, "bytes_per_item": bytes_per_item,
            "namespace_indexes": len(built.build), "planted_keys": [str(r[0]) for r in planted]}


def plan_summary(plan: dict[str, Any]) -> list[str]:
    """The plan's executed node types, depth first, with the index each scan uses.

    MemoryStore's statement holds both an exact and an HNSW branch; the one the namespace size
    rules out is never executed (zero loops) and is left out here.
    """
    out = []
    stack = [plan]
    while stack:
        node = stack.pop()
        if node.get("Actual Loops", 1) == 0:
            continue
        label = str(node.get("Node Type", "?"))
        if "Index Name" in node:
            label += f" using {node['Index Name']}"
        out.append(label)
        stack.extend(reversed(node.get("Plans", [])))
    return out


async def explain(url: str, memory_store: MemoryStore, namespace: tuple[str, ...],
                  queries: Sequence[str], vectors: dict[str, list[float]],
                  limit: int) -> dict[str, Any]:
    """EXPLAIN ANALYZE the SQL the store runs for these searches: server time and plan shape."""
    times, first_plan, first_text = [], [], ""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for i, query in enumerate(queries):
            op = SearchOp(namespace_prefix=namespace, filter=None, limit=limit, offset=0,
                          query=query)
            prepared, _ = memory_store._prepare_batch_search_queries([(0, op)])
            statement, params = prepared[0]
            bound = [vectors[query] if p is PLACEHOLDER else p for p in params]
            async with conn.cursor(binary=True) as cur:
                await cur.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement}", bound)
                row = await cur.fetchone()
                assert row is not None
                result = row[0] if not isinstance(row[0], str) else json.loads(row[0])
                if i == 0:
                    first_plan = plan_summary(result[0]["Plan"])
                    await cur.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", bound)
                    first_text = "\n".join(str(r[0]) for r in await cur.fetchall())
            times.append(float(result[0]["Execution Time"]) / 1000.0)
    first_text = re.sub(r"'\[[^']{40,}\]'", "'[...]'", first_text)
    log(f"EXPLAIN ANALYZE of the store's search SQL (first query):\n{first_text}")
    return {**percentiles_ms(times, "sql_exec"), "plan": first_plan,
            "uses_hnsw": any(HNSW_PREFIX in step for step in first_plan)}


async def measure(
    layout: Layout, planted_keys: list[str], settings: dict[str, str],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Time searches in the target namespace through a store opened by the project's factory."""
    from agent import stores
    from store import postgres as factory
    from store import search

    if args.exact_max is not None:
        search.EXACT_MAX = args.exact_max  # read when each search statement is built
    options = session_options(settings)
    url = psycopg.conninfo.make_conninfo(os.environ["DATABASE_URL"], options=options)
    namespace = memory_namespace(TARGET)
    queries = distinct_queries(args.warmup + args.queries, args.seed + 1)
    warmup, timed = queries[: args.warmup], queries[args.warmup :]
    planted_questions = [question for _, question in PLANTED]
    factory_options: str = getattr(factory, "SESSION_OPTIONS")  # noqa: B009
    setattr(factory, "SESSION_OPTIONS", options)  # noqa: B010  # the factory's pool options
    try:
        async with stores.store() as memory_store:
            for query in warmup:
                await memory_store.asearch(namespace, query=query, limit=args.limit)
            search_s, found = [], []
            for query in timed:
                started = time.perf_counter()
                items = await memory_store.asearch(namespace, query=query, limit=args.limit)
                search_s.append(time.perf_counter() - started)
                found.append([item.key for item in items])
            log(f"{variant_name(settings)}: {len(timed)} searches end to end, "
                f"p50 {np.percentile(search_s, 50) * 1000:.1f} ms")
            embeddings = memory_store.embeddings
            assert embeddings is not None
            # The model itself, not its cache of recent texts (which now holds these queries).
            model: Embeddings = getattr(embeddings, "inner", embeddings)
            embed_s, vectors = [], {}
            for query in timed + planted_questions:
                started = time.perf_counter()
                vector = (await model.aembed_documents([query]))[0]
                if query in timed:
                    embed_s.append(time.perf_counter() - started)
                vectors[query] = vector
            memory_store.embeddings = Precomputed(vectors)
            db_s = []
            try:
                for query in timed:
                    started = time.perf_counter()
                    await memory_store.asearch(namespace, query=query, limit=args.limit)
                    db_s.append(time.perf_counter() - started)
                planted_found = [
                    [item.key for item in await memory_store.asearch(
                        namespace, query=question, limit=args.limit)]
                    for question in planted_questions]
                # The reference: the same searches, with the namespace searched exactly.
                configured = search.EXACT_MAX
                search.EXACT_MAX = max(configured, layout.target)
                try:
                    exact_found = [[item.key for item in await memory_store.asearch(
                        namespace, query=query, limit=args.limit)] for query in timed]
                    exact_planted = [[item.key for item in await memory_store.asearch(
                        namespace, query=question, limit=args.limit)]
                        for question in planted_questions]
                finally:
                    search.EXACT_MAX = configured
            finally:
                memory_store.embeddings = embeddings
            plans = await explain(url, memory_store, namespace,
                                  timed[: args.explain_queries], vectors, args.limit)
    finally:
        setattr(factory, "SESSION_OPTIONS", factory_options)  # noqa: B010

    recall = [len(set(got) & set(truth)) / len(truth)
              for got, truth in zip(found, exact_found, strict=True) if truth]
    planted_hits = sum(key in got[:5] for key, got in zip(planted_keys, planted_found, strict=True))
    planted_exact = sum(key in got[:5] for key, got in zip(planted_keys, exact_planted,
                                                          strict=True))
    search_p50 = float(np.percentile(search_s, 50))
    return {
        "settings": variant_name(settings),
        "session_options": options,
        "exact_max": search.EXACT_MAX,
        **percentiles_ms(search_s, "search"),
        **percentiles_ms(embed_s, "embed"),
        **percentiles_ms(db_s, "db"),
        "search_p50_over_embed_p50": round(search_p50 / float(np.percentile(embed_s, 50)), 2),
        **plans,
        f"recall_at_{args.limit}_vs_exact_branch": round(float(np.mean(recall)), 3),
        "short_results": sum(len(got) < args.limit for got in found),
        "planted_top5": planted_hits,
        "planted_exact_branch_top5": planted_exact,
        "planted": len(PLANTED),
    }


_WRITE_MORE = (
    # A sample of every namespace's memories, written again under new keys in random order
    # (every user writing at once), with no VACUUM after: the table as it is in use.
    "CREATE TEMP TABLE more AS SELECT prefix, key FROM store TABLESAMPLE BERNOULLI (%(percent)s) "
    "ORDER BY random()",
    "INSERT INTO store (prefix, key, value, created_at, updated_at, expires_at, ttl_minutes) "
    "SELECT s.prefix, s.key || '-again', s.value, now(), now(), s.expires_at, s.ttl_minutes "
    "FROM more m JOIN store s USING (prefix, key)",
    "INSERT INTO store_vectors (prefix, key, field_name, embedding) "
    "SELECT v.prefix, v.key || '-again', v.field_name, v.embedding "
    "FROM more m JOIN store_vectors v USING (prefix, key)",
)


async def write_more(url: str, share: float) -> int:
    """Write `share` of the table again, interleaved across namespaces; return how many rows."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        sample, *writes = _WRITE_MORE
        await conn.execute(sample, {"percent": share * 100})
        for statement in writes:
            await conn.execute(statement)
        row = await (await conn.execute("SELECT count(*) FROM more")).fetchone()
    return int(row[0]) if row else 0


_UNDO_WRITES = (
    "DELETE FROM store WHERE key LIKE '%-again'",  # their vectors go with them (FK cascade)
    "VACUUM (ANALYZE) store",
    "VACUUM (ANALYZE) store_vectors",
)


async def undo_writes(url: str) -> None:
    """Take `write_more`'s rows out again, so a kept database measures the same tables next run."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for statement in _UNDO_WRITES:
            await conn.execute(statement)


@asynccontextmanager
async def case_database(
    layout: Layout, args: argparse.Namespace, model: str,
) -> AsyncIterator[tuple[str, dict[str, Any] | None]]:
    """The case's database, and what loading it measured if it was built by an earlier run.

    With `--reuse` the database is named after everything its tables depend on (the layout, the
    corpus, the model, the schema's migrations): a later run finds it filled and skips the load.
    Otherwise it is a fresh database, dropped afterwards unless `--keep`.
    """
    from store import postgres, search

    if not args.reuse:
        async with fresh_database(f"retrieval_{layout.n}_{layout.target}",
                                  data_dir=args.data_dir, keep=args.keep) as (url, _):
            async with postgres.store():
                pass  # the factory's setup() creates the tables and indexes
            yield url, None
        return
    depends = json.dumps([layout.n, layout.target, layout.other_size, args.distinct, args.seed,
                          model, len(search.MIGRATIONS)])
    label = f"retrieval_{layout.n}_{layout.target}_{hashlib.sha1(depends.encode()).hexdigest()[:8]}"
    if args.database:
        label = args.database.removeprefix("engram_bench_")
    async with named_database(label, data_dir=args.data_dir) as (url, _):
        async with postgres.store():
            pass  # creates the schema on a new database; nothing to do on a built one
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute("CREATE TABLE IF NOT EXISTS bench_loaded (loaded jsonb NOT NULL)")
            row = await (await conn.execute("SELECT loaded FROM bench_loaded")).fetchone()
        if row is not None:
            log(f"tables built by an earlier run (--reuse): {url}")
        yield url, None if row is None else {**row[0], "reused": True}


async def maintenance_round_ms(url: str, rounds: int = 5) -> float:
    """A namespace-index maintenance round's time when nothing is to be built (median, ms)."""
    from store import vector_indexes
    from store.database import connection_pool

    times = []
    async with connection_pool(url) as pool:
        for _ in range(rounds):
            started = time.perf_counter()
            await vector_indexes.maintain(pool)
            times.append(time.perf_counter() - started)
    return round(sorted(times)[len(times) // 2] * 1000, 2)


async def own_index_build_s(url: str, rebuilds: int) -> float | None:
    """The searched namespace's own index, dropped and built again: median seconds.

    None if it has none.
    """
    from store import vector_indexes
    from store.database import connection_pool

    prefix = ".".join(memory_namespace(TARGET))
    name = vector_indexes.index_name(prefix)
    times = []
    async with connection_pool(url) as pool:
        if name not in await vector_indexes.built_indexes(pool):
            return None
        for _ in range(rebuilds):
            await vector_indexes.drop_index(pool, name)
            started = time.perf_counter()
            await vector_indexes.build_index(pool, prefix)
            times.append(time.perf_counter() - started)
    return round(sorted(times)[len(times) // 2], 2) if times else None


async def remember_load(url: str, loaded: dict[str, Any]) -> None:
    """Record that the kept database is built, with what building it measured."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("INSERT INTO bench_loaded (loaded) VALUES (%s)",
                           (json.dumps(loaded),))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from store.postgres import configured_model

    cases = [tuple(int(x) for x in case.split(":")) for case in args.cases.split(",")]
    variants = parse_settings(args.settings)
    model = await asyncio.to_thread(configured_model)
    largest = max(max(n, t) for n, t in cases)
    log(f"embedding model {model.name}; generating {min(largest, args.distinct)} memories")
    raw: Embeddings = getattr(model.embeddings, "inner", model.embeddings)  # past the cache
    corpus = await build_corpus(min(largest, args.distinct), args, raw, model.name)
    results = []
    for n, target in cases:
        layout = make_layout(n, target, min(target, args.other_size), corpus)
        log(f"table {n}, searched namespace {target}, {layout.others} other namespaces")
        async with case_database(layout, args, model.name) as (url, built):
            loaded = built if built is not None else await load(url, layout, corpus)
            if built is None and args.reuse:
                await remember_load(url, loaded)
            planted_keys = loaded.pop("planted_keys")
            loaded["maintenance_round_ms"] = await maintenance_round_ms(url)
            loaded["own_index_build_s"] = await own_index_build_s(url, args.rebuilds)
            for settings in variants:
                measured = await measure(layout, planted_keys, settings, args)
                results.append({"n": n, "target_items": target, "namespaces": 1 + layout.others,
                                "other_size": layout.other_size, **loaded, **measured})
                log(json.dumps(results[-1]))
            if args.after_writes:
                # Real use goes on writing: the table grows in every namespace, unvacuumed.
                written = await write_more(url, args.after_writes)
                measured = await measure(layout, planted_keys, variants[0], args)
                measured["settings"] = f"{measured['settings']}, after {written} more writes"
                results.append({"n": n, "target_items": target, "namespaces": 1 + layout.others,
                                "other_size": layout.other_size, **loaded, **measured})
                log(json.dumps(results[-1]))
                if args.reuse:
                    await undo_writes(url)
    factory = [r for r in results if r["settings"] == "factory"]
    goals: list[dict[str, Any]] = []
    for r in factory:
        if r["target_items"] > 10_000:
            continue
        base = next((b for b in factory if b["target_items"] == r["target_items"]
                     and b["n"] == 100_000), None)
        ratio = round(r["search_ms_p50"] / base["search_ms_p50"], 2) if base and r["n"] > 100_000 \
            else None
        goals.append({
            "n": r["n"], "target_items": r["target_items"],
            "p50_met": r["search_ms_p50"] <= GOAL_P50_MS, "p95_met": r["search_ms_p95"] <= GOAL_P95_MS,
            "over_embed_met": r["search_p50_over_embed_p50"] <= 2.0,
            "p50_over_100k_table": ratio, "ratio_met": None if ratio is None else ratio <= 1.25,
        })
    builds = {}
    for target in {r["target_items"] for r in factory}:
        timed = sorted((r["n"], r["own_index_build_s"]) for r in factory
                       if r["target_items"] == target and r["own_index_build_s"])
        if len(timed) > 1:
            (small, first), (large, last) = timed[0], timed[-1]
            builds[f"{target}_in_{large}_over_{small}"] = round(last / first, 2)
    goal: dict[str, Any] = {"p50_ms": GOAL_P50_MS, "p95_ms": GOAL_P95_MS, "over_embed": 2.0,
                            "table_ratio": 1.25, "cases": goals,
                            "own_index_build_ratio": builds, "own_index_build_ratio_max": 1.2}
    return {
        "bench": "retrieval",
        "model": model.name,
        "limit": args.limit,
        "queries": args.queries,
        "results": results,
        "goal": goal,
        "machine": machine(),
    }


def main() -> None:
    offline_env()
    emit(asyncio.run(run(parse_args())))


if __name__ == "__main__":
    main()
