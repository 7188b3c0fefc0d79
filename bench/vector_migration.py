"""Measure the online conversion of a populated store's vectors to the current layout, under load.

Runs on a database `bench/retrieval.py --reuse` built and kept in an older layout (full precision,
or one table not partitioned by namespace), and converts it (`store/convert_vectors.py`, as
`python -m store.convert_vectors` does) while one client writes a
memory every `--interval-ms` and another searches the benchmark's namespace through the store,
as a running server does. Reported: each step's time, the longest write and search during each
step (and before it, for comparison), any operation that failed, the bytes a memory before and
after, and whether every vector and every kept size came through.

    .venv/bin/python bench/vector_migration.py --database engram_bench_retrieval_1000000_1000_<digest>

The database ends converted (its name still says how it was built). Progress goes to stderr; the
result is one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

import psycopg
from _common import (
    VECTORS_HEAP,
    VECTORS_INDEXES,
    Client,
    default_data_dir,
    emit,
    fact,
    log,
    machine,
    offline_env,
    with_dbname,
)

from agent.memory.model.schema import Identity, memory_namespace
from store import convert_vectors, embedded
from store.database import connection_pool

TARGET = Identity(user_id="bench-user", org_id="bench")
"""The namespace bench/retrieval.py searches."""
WRITER = Identity(user_id="bench-migration-writer", org_id="bench")

_BYTES = f"""
SELECT (pg_table_size('store') + pg_indexes_size('store') + {VECTORS_HEAP}
        + {VECTORS_INDEXES})::float / greatest((SELECT count(*) FROM store), 1) AS b,
       {VECTORS_HEAP} AS vectors_heap, {VECTORS_INDEXES} AS vectors_indexes
"""
_CHECK = """
SELECT (SELECT count(*) FROM store_vectors) AS vectors,
       (SELECT coalesce(sum(vectors), 0) FROM engram_namespace_sizes)
       + (SELECT coalesce(sum(vectors), 0) FROM engram_namespace_size_changes) AS kept
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database", required=True,
                        help="a database in an older layout bench/retrieval.py --reuse built")
    parser.add_argument("--interval-ms", type=float, default=50.0,
                        help="pause between the writer's writes and between the searches")
    parser.add_argument("--baseline-s", type=float, default=5.0,
                        help="how long the clients run before the conversion")
    parser.add_argument("--batch", type=int, default=convert_vectors.BATCH)
    return parser.parse_args()


async def bytes_a_memory(url: str) -> dict[str, float]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("VACUUM (ANALYZE) store_vectors")
        row = await (await conn.execute(_BYTES)).fetchone()
        count = await (await conn.execute("SELECT count(*) FROM store")).fetchone()
    assert row is not None and count is not None
    n = max(int(count[0]), 1)
    return {"total": round(row[0]), "vectors_heap": round(row[1] / n),
            "vectors_indexes": round(row[2] / n)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from agent import stores

    admin = await asyncio.to_thread(embedded.ensure_running, default_data_dir())
    url = with_dbname(admin, args.database)
    os.environ["DATABASE_URL"] = url
    before_bytes = await bytes_a_memory(url)
    value = fact("a memory written while the vectors are converted", "migration")
    marks: dict[str, float] = {}
    failures: list[str] = []
    async with stores.store() as memory_store:
        writer, reader = Client(), Client()
        written = 0

        async def write() -> None:
            nonlocal written
            written += 1
            try:
                await memory_store.aput(memory_namespace(WRITER), f"w{written}", value)
            except psycopg.Error as err:
                failures.append(f"write: {err}")

        async def read() -> None:
            try:
                await memory_store.asearch(memory_namespace(TARGET), query="what do I like",
                                           limit=10)
            except psycopg.Error as err:
                failures.append(f"search: {err}")

        async def step(name: str) -> None:
            if name != "batch":
                marks[name] = time.perf_counter()
                log(f"conversion: {name}")

        tasks = [asyncio.create_task(writer.run(write, args.interval_ms / 1000)),
                 asyncio.create_task(reader.run(read, args.interval_ms / 1000))]
        marks["start"] = time.perf_counter()
        await asyncio.sleep(args.baseline_s)
        marks["convert"] = time.perf_counter()
        async with connection_pool(url) as pool:  # its own, as the command's process has
            done = await convert_vectors.convert(pool, args.batch, step)
        marks["done"] = time.perf_counter()
        await asyncio.sleep(2.0)
        for client in (writer, reader):
            client.stop.set()
        await asyncio.gather(*tasks)
    phases = {"before": ("start", "convert"), "copy": ("prepared", "copied"),
              "indexes": ("copied", "indexed"), "swap": ("indexed", "swapped"),
              "drop_old": ("swapped", "done")}
    after_bytes = await bytes_a_memory(url)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        check = await (await conn.execute(_CHECK)).fetchone()
        await conn.execute("DELETE FROM store WHERE prefix = %s",
                           (".".join(memory_namespace(WRITER)),))
    assert check is not None
    return {
        "bench": "vector_migration",
        "database": args.database,
        "vectors": done.rows,
        "batches": done.batches,
        "namespace_indexes": len(done.indexes),
        "steps_s": {k: round(v, 2) for k, v in done.steps.items()},
        "swap_tries": done.swap_tries,
        "write_longest_ms": {phase: writer.longest_ms(marks[a], marks[b])
                             for phase, (a, b) in phases.items()},
        "search_longest_ms": {phase: reader.longest_ms(marks[a], marks[b])
                              for phase, (a, b) in phases.items()},
        "writes": len(writer.times), "searches": len(reader.times), "failures": failures[:5],
        "failed": len(failures),
        "bytes_a_memory_before": before_bytes, "bytes_a_memory_after": after_bytes,
        "every_vector_kept": int(check[0]) == int(check[1]),
        "machine": machine(),
    }


def main() -> None:
    offline_env()
    emit(asyncio.run(run(parse_args())))


if __name__ == "__main__":
    main()
