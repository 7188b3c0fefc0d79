"""Measure what `halfvec` (16-bit floats) would save and cost against the stored float32 vectors.

Runs on a full-precision table `bench/retrieval.py --reuse` built and kept (it names the database
it used), and changes nothing in it: the half-precision copies go in temporary tables. (Stores are
half precision now, store/half_precision.py: this compares what a store built before keeps.)

- Bytes: the average stored size of a vector as `vector` and as `halfvec`, and the size of the
  covering index (namespace, key) INCLUDE (vector) built over each, per row.
- Recall: for `--queries` questions, the searched namespace's exact top 10 by cosine distance
  over half-precision vectors against the exact top 10 over the stored float32 ones (the query
  vector converted the same way), as recall@10.

    .venv/bin/python bench/halfvec.py --database engram_bench_retrieval_1000000_100000_<digest>

Progress goes to stderr; the result is one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import psycopg
from _common import default_data_dir, distinct_queries, emit, log, machine, offline_env, with_dbname

from agent.memory.model.schema import Identity, memory_namespace
from store import embedded, half_precision

TARGET = Identity(user_id="bench-user", org_id="bench")
"""The namespace bench/retrieval.py searches."""

_COPIES = (
    "CREATE TEMP TABLE half AS SELECT prefix, key, embedding::halfvec({dims}) AS embedding "
    "FROM store_vectors",
    "CREATE TEMP TABLE full_ AS SELECT prefix, key, embedding FROM store_vectors",
    "CREATE INDEX half_idx ON half (prefix text_pattern_ops, key) INCLUDE (embedding)",
    "CREATE INDEX full_idx ON full_ (prefix text_pattern_ops, key) INCLUDE (embedding)",
)
_SIZES = """
SELECT (SELECT avg(pg_column_size(embedding)) FROM half) AS half_value,
       (SELECT avg(pg_column_size(embedding)) FROM full_) AS full_value,
       pg_relation_size('half_idx') AS half_index, pg_relation_size('full_idx') AS full_index,
       (SELECT count(*) FROM full_) AS n
"""
_TOP = """
SELECT key FROM {table} WHERE prefix = %(ns)s
ORDER BY embedding <=> %(q)s::{kind}({dims}) LIMIT 10
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database", required=True,
                        help="a database bench/retrieval.py --reuse built (engram_bench_...)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from agent.stores import store

    admin = await asyncio.to_thread(embedded.ensure_running, default_data_dir())
    url = with_dbname(admin, args.database)
    namespace = ".".join(memory_namespace(TARGET))
    queries = distinct_queries(args.queries, args.seed + 1)
    async with store() as memory_store:  # the configured model, as the searches embed
        assert memory_store.embeddings is not None
        vectors = await memory_store.embeddings.aembed_documents(queries)
    dims = len(vectors[0])
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        row = await (await conn.execute(half_precision.STORED_TYPE)).fetchone()
        if row is None or row[0] != "vector":
            raise SystemExit(f"{args.database} holds no full-precision vectors to compare with: "
                             "use a store built before its conversion (store/convert_vectors.py)")
        await conn.execute("SET maintenance_work_mem = '1GB'")
        started = time.perf_counter()
        for statement in _COPIES:
            await conn.execute(statement.format(dims=dims).encode())
        log(f"half- and full-precision copies indexed in {time.perf_counter() - started:.0f} s")
        row = await (await conn.execute(_SIZES)).fetchone()
        assert row is not None
        half_value, full_value, half_index, full_index, n = row
        recalls = []
        for vector in vectors:
            literal = "[" + ",".join(f"{x:.8f}" for x in vector) + "]"
            top = {}
            for table, kind in (("full_", "vector"), ("half", "halfvec")):
                sql = _TOP.format(table=table, kind=kind, dims=dims).encode()
                found = await (await conn.execute(sql, {"ns": namespace, "q": literal})).fetchall()
                top[kind] = [r[0] for r in found]
            if top["vector"]:
                recalls.append(len(set(top["vector"]) & set(top["halfvec"])) / len(top["vector"]))
    saved = float(full_value) - float(half_value) + (int(full_index) - int(half_index)) / int(n)
    return {
        "bench": "halfvec",
        "database": args.database,
        "rows": int(n),
        "searched_namespace": namespace,
        "queries": len(recalls),
        "bytes_per_vector": {"vector": round(float(full_value)), "halfvec": round(float(half_value))},
        "covering_index_bytes_per_row": {"vector": round(int(full_index) / int(n)),
                                         "halfvec": round(int(half_index) / int(n))},
        "bytes_saved_per_memory": round(saved),
        "recall_at_10_halfvec_vs_float32": round(sum(recalls) / len(recalls), 4),
        "machine": machine(),
    }


def main() -> None:
    offline_env()
    emit(asyncio.run(run(parse_args())))


if __name__ == "__main__":
    main()
