"""Benchmark memory search: `MemoryStore.asearch` latency with N memories stored.

For each size N (default 10k and 100k) and each target share (default 1.0, 0.1 and 0.01), a
fresh database `engram_bench_retrieval_*` is made on the embedded Postgres and the store is
opened with the project's own factory, `store.postgres.store()`: it creates the schema and the
HNSW index `store_vectors_embedding_idx`, and returns a `store.search.MemoryStore` whose pooled
connections carry the factory's session options (`store.search.SESSION_OPTIONS`). Share 1.0
puts all N memories in the searched user's namespace (one heavy user); shares 0.1 and 0.01 put
10% / 1% there and spread the rest over `--other-users` other namespaces of the same
organisation (0.01 with 99 others is "100 users of equal size"). MemoryStore searches a
namespace of at most `store.search.EXACT_MAX` memories exactly and larger ones through the HNSW
index; `plan` lists the executed plan nodes, so it shows which branch ran.

Loading: deterministic synthetic memories (seeded template combinations; 20 of them are
"planted" facts with a known question), at most `--distinct` of them (default 100k), are embedded
once with the store's own embedding model and cached in `.engram/bench-cache/`. The searched
namespace always holds distinct memories; a table larger than `--distinct` fills the other users'
namespaces by cycling through the corpus, each copy's vector nudged by a little noise (and
re-normalised) so no two vectors coincide. Rows go in with COPY into the library's tables:
`store` (its `tsv` column is computed by Postgres) and `store_vectors`, as `aput` would write
them. The HNSW and text indexes are dropped for the copy and re-created from their own
definitions, then `VACUUM ANALYZE` runs. Bytes per item (table with TOAST, indexes, the text
index, vectors and their index) are read from Postgres afterwards.

Measured, after 20 warm-up searches, over 200 distinct natural-language questions (limit 10):
`search` (asearch end to end: query embedding, the hybrid SQL, TTL refresh), `embed` (the model
alone), `db` (asearch with the query vector precomputed), `sql_exec` (server time from EXPLAIN
ANALYZE), and `search_p50_over_embed_p50`. Recall is of the branch the namespace's size picks
against the same searches with the namespace searched exactly (`EXACT_MAX` raised), which is
what the approximate (HNSW) branch can lose; `planted_top5` counts planted facts whose question
finds them in the top 5, beside the same count from the exact branch.

    .venv/bin/python bench/retrieval.py [--sizes 10000,100000] [--target-shares 1.0,0.1,0.01]
        [--settings "factory;hnsw.ef_search=200"] [--index-params m=16,ef_construction=64]
        [--exact-max 0] [--keep]

`--settings` variants are added after the factory's session options (the later `-c` wins).

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
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from _common import (
    PLANTED,
    ROOT,
    default_data_dir,
    distinct_queries,
    emit,
    fresh_database,
    log,
    machine,
    offline_env,
    percentiles_ms,
    synthetic_memory,
)
from langchain_core.embeddings import Embeddings
from langgraph.store.base import SearchOp
from langgraph.store.postgres.base import PLACEHOLDER
from psycopg import sql

from agent.memory.schema import Identity, MemoryValue, Source, memory_key, memory_namespace
from store.retention import default_ttl
from store.search import MemoryStore

INDEX = "store_vectors_embedding_idx"
TEXT_INDEX = "store_tsv_idx"
SIZES = """SELECT pg_table_size('store'), pg_indexes_size('store'),
    pg_relation_size('store_tsv_idx'), pg_table_size('store_vectors'),
    pg_indexes_size('store_vectors')"""
"""Table (with TOAST) and index sizes; the text index is part of the store's indexes."""
TARGET = Identity(user_id="bench-user", org_id="bench")
GOAL_P50_MS, GOAL_P95_MS = 15.0, 40.0
Matrix = npt.NDArray[np.float32]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="10000,100000", help="memories stored, comma-separated")
    parser.add_argument("--target-shares", default="1.0,0.1,0.01",
                        help="fraction of the N memories in the searched user's namespace")
    parser.add_argument("--other-users", type=int, default=99,
                        help="namespaces the other memories are spread over")
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
        "--index-params", default="",
        help="experiment: rebuild the HNSW index WITH these parameters (e.g. "
             "'m=16,ef_construction=64') instead of the store's own definition",
    )
    parser.add_argument(
        "--exact-max", type=int, default=None,
        help="experiment: search namespaces up to this many memories exactly instead of "
             "store.search.EXACT_MAX (0 sends every search to the HNSW index)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--embed-chunk", type=int, default=2048,
                        help="texts per aembed_documents call while loading")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".engram" / "bench-cache",
                        help="where embedded memories are cached between runs")
    parser.add_argument("--data-dir", type=Path, default=default_data_dir(),
                        help="embedded Postgres cluster")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    return parser.parse_args()


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
    """Which namespace each of the N rows goes to; planted facts replace some target rows."""

    n: int
    share: float
    rows: list[int]
    """Corpus index of each stored row."""
    namespaces: list[tuple[str, ...]]
    target_rows: list[int]
    """Positions (in `rows`) of the target user's memories."""
    planted_rows: list[int]


def make_layout(n: int, share: float, other_users: int, corpus: Corpus) -> Layout:
    target_ns = memory_namespace(TARGET)
    others = [memory_namespace(Identity(f"user-{k:03d}", TARGET.org_id))
              for k in range(other_users)]
    distinct = len(corpus.texts) - len(PLANTED)
    namespaces: list[tuple[str, ...]] = []
    target_rows = []
    for i in range(n):
        if int((i + 1) * share) > int(i * share):
            namespaces.append(target_ns)
            target_rows.append(i)
        else:
            namespaces.append(others[i % len(others)])
    if len(target_rows) > distinct:
        raise SystemExit(f"{len(target_rows)} memories in the searched namespace need --distinct "
                         f">= that; it is {distinct}")
    # The searched namespace gets distinct memories; the others cycle through the corpus.
    rows = [0] * n
    for number, position in enumerate(target_rows):
        rows[position] = number
    others_rows = [i for i in range(n) if namespaces[i] != target_ns]
    for number, position in enumerate(others_rows):
        rows[position] = (len(target_rows) + number) % distinct
    planted_rows = []
    n_planted = len(PLANTED)
    if len(target_rows) < n_planted:
        raise SystemExit(f"N={n} with share {share} leaves {len(target_rows)} memories in the "
                         f"searched namespace; at least {n_planted} are needed for the planted facts")
    step = max(1, len(target_rows) // n_planted)
    for j in range(n_planted):
        position = target_rows[j * step]
        rows[position] = len(corpus.texts) - n_planted + j
        planted_rows.append(position)
    return Layout(n, share, rows, namespaces, target_rows, planted_rows)


def vector_literal(vector: Matrix) -> str:
    return "[" + ",".join(map(str, vector.tolist())) + "]"


async def load(url: str, layout: Layout, corpus: Corpus, index_params: str) -> dict[str, Any]:
    """COPY the layout's rows into the library's tables and rebuild the HNSW index."""
    moment = datetime.now(UTC)
    now = moment.isoformat()
    keys = [
        memory_key(layout.namespaces[p], corpus.kinds[r], f"{corpus.subjects[r]} #{p}")
        for p, r in enumerate(layout.rows)
    ]
    prefixes = [".".join(ns) for ns in layout.namespaces]
    ttls = [default_ttl(layout.namespaces[p], {"kind": corpus.kinds[r]})
            for p, r in enumerate(layout.rows)]
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        row = await (await conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s", (INDEX,))).fetchone()
        if row is None:
            raise RuntimeError(f"the store's setup() did not create {INDEX}")
        indexdef = str(row[0])
        log(f"index from the store's setup: {indexdef}")
        await conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(INDEX)))
        text_index = str((await (await conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s", (TEXT_INDEX,))).fetchone()
            or [""])[0])
        if text_index:
            await conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(TEXT_INDEX)))
        started = time.perf_counter()
        async with conn.cursor() as cur:
            async with cur.copy(
                "COPY store (prefix, key, value, expires_at, ttl_minutes) FROM STDIN"
            ) as copy:
                for p, r in enumerate(layout.rows):
                    value = MemoryValue(
                        text=corpus.texts[r], kind=corpus.kinds[r],  # type: ignore[arg-type]
                        subject=corpus.subjects[r], importance=0.6, confidence=0.9,
                        source=Source(thread_id=f"synthetic-{p % 997}"),
                        created_at=now, updated_at=now,
                    ).model_dump(mode="json")
                    ttl = ttls[p]
                    expires = None if ttl is None else moment + timedelta(minutes=ttl)
                    await copy.write_row((prefixes[p], keys[p], json.dumps(value), expires,
                                          None if ttl is None else int(ttl)))
            log(f"copied {layout.n} rows into store")
            noise = np.random.default_rng(7)
            reusing = len(layout.rows) > len(corpus.texts)
            searched = set(layout.target_rows)
            async with cur.copy(
                "COPY store_vectors (prefix, key, field_name, embedding) FROM STDIN"
            ) as copy:
                for p, r in enumerate(layout.rows):
                    vector = corpus.vectors[r]
                    if reusing and p not in searched:  # nudged, so no two vectors coincide
                        vector = vector + noise.normal(0, 0.02, vector.shape).astype(np.float32)
                        vector = np.round(vector / np.linalg.norm(vector), 6).astype(np.float32)
                    await copy.write_row((prefixes[p], keys[p], "text", vector_literal(vector)))
            log(f"copied {layout.n} rows into store_vectors")
        copy_s = time.perf_counter() - started
        started = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '4GB'")
        if text_index:
            await conn.execute(text_index.encode())
            log(f"text index rebuilt in {time.perf_counter() - started:.1f} s")
        if index_params:
            if not re.fullmatch(r"\w+=\d+(,\w+=\d+)*", index_params):
                raise ValueError(f"--index-params {index_params!r} is not 'name=int,...'")
            indexdef = re.sub(r"\s+WITH\s*\(.*\)\s*$", "", indexdef)
            indexdef = f"{indexdef} WITH ({index_params.replace(',', ', ')})"
            log(f"experiment: index rebuilt as {indexdef}")
        await conn.execute(indexdef.encode())
        index_s = time.perf_counter() - started
        log(f"HNSW index rebuilt in {index_s:.1f} s")
        await conn.execute("VACUUM (ANALYZE) store")
        await conn.execute("VACUUM (ANALYZE) store_vectors")
        sizes = await (await conn.execute(SIZES)).fetchone()
    assert sizes is not None
    bytes_per_item = {name: round(int(value) / layout.n) for name, value in zip(
        ("store_heap", "store_indexes", "text_index", "vectors_heap", "vector_indexes"),
        sizes, strict=True)}
    bytes_per_item["total"] = sum(bytes_per_item.values()) - bytes_per_item["text_index"]
    return {"copy_s": round(copy_s, 1), "index_build_s": round(index_s, 1),
            "bytes_per_item": bytes_per_item, "keys": keys}


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
            "uses_hnsw": any(INDEX in step for step in first_plan)}


async def measure(
    layout: Layout, corpus: Corpus, keys: list[str], settings: dict[str, str],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Time searches in the target namespace through a store opened by the project's factory."""
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
        async with factory.store() as memory_store:
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
                search.EXACT_MAX = max(configured, len(layout.target_rows))
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
    planted_keys = [keys[position] for position in layout.planted_rows]
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


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from store.postgres import configured_model

    sizes = sorted(int(s) for s in args.sizes.split(","))
    shares = [float(s) for s in args.target_shares.split(",")]
    variants = parse_settings(args.settings)
    model = await asyncio.to_thread(configured_model)
    log(f"embedding model {model.name}; generating {max(sizes)} memories")
    raw: Embeddings = getattr(model.embeddings, "inner", model.embeddings)  # past the cache
    corpus = await build_corpus(min(max(sizes), args.distinct), args, raw, model.name)
    results = []
    for n in sizes:
        for share in shares:
            layout = make_layout(n, share, args.other_users, corpus)
            label = f"retrieval_{n}_{round(share * 100)}"
            log(f"N={n}, target share {share}: {len(layout.target_rows)} memories in the "
                f"searched namespace")
            async with fresh_database(label, data_dir=args.data_dir, keep=args.keep) as (url, _):
                from store.postgres import store

                async with store():
                    pass  # the factory's setup() creates the tables and the HNSW index
                loaded = await load(url, layout, corpus, args.index_params)
                keys = loaded.pop("keys")
                for settings in variants:
                    measured = await measure(layout, corpus, keys, settings, args)
                    results.append({
                        "n": n, "target_share": share, "target_items": len(layout.target_rows),
                        "index_params": args.index_params or "store default",
                        "namespaces": 1 + (args.other_users if share < 1 else 0),
                        **loaded, **measured,
                    })
                    log(json.dumps(results[-1]))
    headline = next(
        (r for r in results
         if r["n"] == max(sizes) and r["target_share"] == 1.0 and r["settings"] == "factory"
         and not args.index_params and args.exact_max is None),
        None,
    )
    goal: dict[str, Any] = {"p50_ms": GOAL_P50_MS, "p95_ms": GOAL_P95_MS, "n": max(sizes)}
    if headline:
        goal["met"] = (headline["search_ms_p50"] <= GOAL_P50_MS
                       and headline["search_ms_p95"] <= GOAL_P95_MS)
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
