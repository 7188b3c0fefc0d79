"""Measure the kept-sizes migration (store/namespace_sizes.py) on a populated store, under load.

Runs on a database `bench/retrieval.py --reuse` built and kept. It takes the kept sizes out (their
triggers, functions, tables and migration records: the schema of the release before) and puts
them back through the store's own `setup()`, while one client writes a memory into a namespace
every `--interval-ms` and another reads the searched namespace's vectors as the release before
searched them (all scored): the migration's time, the longest a write waited
and the longest a search took meanwhile, against the same clients before the migration. Then it
checks every kept size against a count of the tables. The database ends as it began. First,
what counting costs a write: a memory put and deleted, p50, with the counting triggers on and off
in turn.

    .venv/bin/python bench/size_migration.py --database engram_bench_retrieval_1000000_10000_<digest>

Progress goes to stderr; the result is one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

import psycopg
from _common import Client, default_data_dir, emit, fact, log, machine, offline_env, with_dbname

from agent.memory.model.schema import Identity, memory_namespace
from store import embedded, namespace_sizes, search
from store.namespace_sizes import TRIGGERS

TARGET = Identity(user_id="bench-user", org_id="bench")
"""The namespace bench/retrieval.py searches."""
WRITER = Identity(user_id="bench-migration-writer", org_id="bench")

_TAKE_OUT = (
    *(f"DROP TRIGGER IF EXISTS {name} ON {table}" for table, name in TRIGGERS),
    "DROP FUNCTION IF EXISTS engram_count_changes()",
    "DROP FUNCTION IF EXISTS engram_count_truncate()",
    "DROP TABLE IF EXISTS engram_namespace_sizes, engram_namespace_size_changes",
)
_READ = """
SELECT key FROM store_vectors WHERE prefix = %(ns)s
ORDER BY (embedding <=> (SELECT embedding FROM store_vectors WHERE prefix = %(ns)s LIMIT 1)) + 0
LIMIT 10
"""
_COUNTED = """
SELECT prefix, sum(m) AS m, sum(v) AS v FROM (
    SELECT prefix, count(*) AS m, 0 AS v FROM store GROUP BY prefix UNION ALL
    SELECT prefix, 0, count(*) FROM store_vectors GROUP BY prefix) c
GROUP BY prefix
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database", required=True,
                        help="a database bench/retrieval.py --reuse built (engram_bench_...)")
    parser.add_argument("--interval-ms", type=float, default=50.0,
                        help="pause between the writer's writes and between the reader's searches")
    parser.add_argument("--baseline-s", type=float, default=5.0,
                        help="how long the clients run before the migration")
    return parser.parse_args()


async def write_cost(memory_store: Any, conn: psycopg.AsyncConnection[Any], value: dict[str, Any],
                     rounds: int = 3, writes: int = 300) -> dict[str, float]:
    """What counting costs a write, p50 in ms, with the counting triggers on and off in turn.

    A write is a memory put and deleted again, in the same run on the same table.
    """
    async def timed() -> float:
        times = []
        for i in range(writes):
            namespace = memory_namespace(Identity(f"bench-cost-{i % 20}", "bench"))
            started = time.perf_counter()
            await memory_store.aput(namespace, "cost", value)
            await memory_store.adelete(namespace, "cost")
            times.append(time.perf_counter() - started)
        return sorted(times)[len(times) // 2] * 1000

    on, off = [], []
    await timed()  # warm-up: the value's vector is embedded once, then cached
    for _ in range(rounds):
        on.append(await timed())
        for table, name in TRIGGERS:
            await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER {name}")
        off.append(await timed())
        for table, name in TRIGGERS:
            await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER {name}")
    return {"put_and_delete_ms_p50_counted": round(sorted(on)[len(on) // 2], 3),
            "put_and_delete_ms_p50_uncounted": round(sorted(off)[len(off) // 2], 3)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from agent import stores

    admin = await asyncio.to_thread(embedded.ensure_running, default_data_dir())
    url = with_dbname(admin, args.database)
    os.environ["DATABASE_URL"] = url
    first = search.MIGRATIONS.index(namespace_sizes.MIGRATIONS[0])
    value = fact("a memory written while the schema changes", "migration")
    async with stores.store() as memory_store, await psycopg.AsyncConnection.connect(
            url, autocommit=True) as conn:
        rows = (await (await conn.execute("SELECT count(*) FROM store")).fetchone() or [0])[0]
        cost = await write_cost(memory_store, conn, value)
        log(f"a write: {cost}")
        for statement in _TAKE_OUT:
            await conn.execute(statement)
        await conn.execute("DELETE FROM engram_migrations WHERE v >= %s", (first,))
        log(f"{rows} memories; kept sizes taken out")
        writer, reader = Client(), Client()
        written = 0

        async def write() -> None:
            nonlocal written
            written += 1
            await memory_store.aput(memory_namespace(WRITER), f"w{written}", value)

        async def read() -> None:
            # What a search of the release before reads: the namespace's vectors, all scored.
            await conn.execute(_READ, {"ns": ".".join(memory_namespace(TARGET))})

        tasks = [asyncio.create_task(writer.run(write, args.interval_ms / 1000)),
                 asyncio.create_task(reader.run(read, args.interval_ms / 1000))]
        before = time.perf_counter()
        await asyncio.sleep(args.baseline_s)
        started = time.perf_counter()
        await memory_store.setup()  # the migration, as a new release's server starts it
        ended = time.perf_counter()
        await asyncio.sleep(1.0)
        for client in (writer, reader):
            client.stop.set()
        await asyncio.gather(*tasks)
    log(f"migration {ended - started:.2f} s")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        counted = {r[0]: (int(r[1]), int(r[2])) for r in await (await conn.execute(_COUNTED)).fetchall()}
        kept_rows = await (await conn.execute(
            "SELECT prefix, sum(memories), sum(vectors) FROM (SELECT prefix, memories, vectors "
            "FROM engram_namespace_sizes UNION ALL SELECT prefix, memories, vectors "
            "FROM engram_namespace_size_changes) k GROUP BY prefix")).fetchall()
        kept = {r[0]: (int(r[1]), int(r[2])) for r in kept_rows if (int(r[1]), int(r[2])) != (0, 0)}
        await conn.execute("DELETE FROM store WHERE prefix = %s",
                           (".".join(memory_namespace(WRITER)),))
    return {
        "bench": "size_migration",
        "database": args.database,
        "memories": int(rows),
        "migration_s": round(ended - started, 2),
        "write_longest_ms_before": writer.longest_ms(before, started),
        "write_longest_ms_during": writer.longest_ms(started, ended),
        "read_longest_ms_before": reader.longest_ms(before, started),
        "read_longest_ms_during": reader.longest_ms(started, ended),
        "writes": len(writer.times), "reads": len(reader.times),
        "sizes_exact": kept == counted, "namespaces": len(counted),
        **cost,
        "machine": machine(),
    }


def main() -> None:
    offline_env()
    emit(asyncio.run(run(parse_args())))


if __name__ == "__main__":
    main()
