"""Benchmark the memory console's routes and the MCP tools through the real server.

A fresh database `engram_bench_console_*` is made on the embedded Postgres and filled, through
the project's store factory, with one user's memory: `--facts` facts and `--threads` threads of
`--turns` turns each (a user and an assistant episode per turn, dated, embedded like the
write path embeds them). Then `langgraph dev` is started on it (dev auth, one token) and each
call is made `--calls` times, one at a time, with the user's token:

- console: `GET /engram/memories` (newest 50), `GET /engram/memories?q=` (search),
  `GET /engram/conversations`, `GET /engram/conversations/{thread}`, `PATCH /engram/memories/{key}`;
- MCP, through the MCP SDK's client on one session: `search_memory`, `recent_memories`, and
  `remember` (`--remembers` calls: each is a thread and a graph run, so it includes the dev
  server's run queue).

Latencies are client-side wall time, in ms. Progress goes to stderr; the result is one JSON line
on stdout.

    .venv/bin/python bench/console.py [--facts 500] [--threads 100] [--turns 20] [--calls 50]
        [--remembers 10] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import httpx2
from _common import ROOT, default_data_dir, emit, fresh_database, log, machine, offline_env
from _common import percentiles_ms as percentiles

sys.path.insert(0, str(ROOT))

from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.e2e.conftest import Server  # noqa: E402 - the tests' server runner

TOKEN = "bench-token"
USER, ORG = "bench", "local"  # the dev token `token=user@org`
WORDS = ("garden trip tea cello Kyoto sister dinner budget project deadline running bike recipe "
         "movie concert museum flight hotel meeting doctor book piano holiday birthday").split()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--facts", type=int, default=500)
    parser.add_argument("--threads", type=int, default=100)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--remembers", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    return parser.parse_args()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


async def fill(args: argparse.Namespace) -> list[str]:
    """The user's facts and episodes, through the store factory; returns the thread ids."""
    from langgraph.store.base import PutOp

    from agent.memory.model.episodes import Utterance, episode_puts
    from agent.memory.model.schema import Identity, MemoryValue, Source, memory_namespace
    from agent.stores import store

    rng = random.Random(7)
    namespace = memory_namespace(Identity(USER, ORG))
    now = datetime.now(UTC)
    threads = [f"thread-{i:04d}" for i in range(args.threads)]
    async with store() as opened:
        facts = []
        for i in range(args.facts):
            value = MemoryValue(text=f"The user {sentence(rng, 8).lower()}", kind="fact",
                                subject=f"subject {i}", importance=0.5, confidence=0.8,
                                source=Source(thread_id=rng.choice(threads)),
                                created_at=now.isoformat(), updated_at=now.isoformat())
            facts.append(PutOp(namespace, f"fact-{i}", value.model_dump(mode="json")))
        await opened.abatch(facts)
        for t, thread in enumerate(threads):
            puts = []
            for turn in range(args.turns):
                said = now - timedelta(days=t, minutes=turn)
                puts += episode_puts(namespace, [Utterance("user", sentence(rng, 40), f"u{turn}"),
                                                 Utterance("assistant", sentence(rng, 120),
                                                           f"a{turn}")],
                                     said, Source(thread_id=thread))
            await opened.abatch(puts)
            if t % 20 == 0:
                log(f"filled {t + 1}/{len(threads)} threads")
    return threads


async def timed(calls: int, call: Callable[[int], Awaitable[Any]]) -> list[float]:
    await call(0)  # warm-up, not counted
    seconds = []
    for i in range(calls):
        started = time.perf_counter()
        await call(i + 1)
        seconds.append(time.perf_counter() - started)
    return seconds


async def measure(base: str, threads: list[str], args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(11)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    results: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:

        async def get(path: str, **params: Any) -> Any:
            response = await http.get(path, params=params)
            response.raise_for_status()
            return response.json()

        async def patch(i: int) -> None:
            response = await http.patch(f"/engram/memories/fact-{i}",
                                        json={"text": f"The user {sentence(rng, 8).lower()}"})
            response.raise_for_status()

        console: dict[str, Callable[[int], Awaitable[Any]]] = {
            "list": lambda i: get("/engram/memories", limit=50),
            "search": lambda i: get("/engram/memories", q=sentence(rng, 4), limit=20),
            "conversations": lambda i: get("/engram/conversations", limit=100),
            "conversation": lambda i: get(f"/engram/conversations/{rng.choice(threads)}",
                                          limit=200),
            "edit": patch,
        }
        for name, call in console.items():
            log(f"console {name}")
            results.update(percentiles(await timed(args.calls, call), f"console_{name}"))

    http2 = httpx2.AsyncClient(headers=headers, timeout=60)
    async with http2, streamable_http_client(f"{base}/engram/mcp", http_client=http2) as (
        read, write, *_
    ), ClientSession(read, write) as session:
        await session.initialize()

        async def tool(name: str, **arguments: Any) -> None:
            result = await session.call_tool(name, arguments)
            if result.is_error:
                raise RuntimeError(f"{name}: {result.content}")

        tools: dict[str, tuple[int, Callable[[int], Awaitable[Any]]]] = {
            "search_memory": (args.calls, lambda i: tool("search_memory", query=sentence(rng, 4),
                                                         limit=5)),
            "recent_memories": (args.calls, lambda i: tool("recent_memories", limit=10)),
            "remember": (args.remembers, lambda i: tool(
                "remember", text=f"I prefer {rng.choice(WORDS)} number {i} {rng.random():.6f}.")),
        }
        for name, (calls, call) in tools.items():
            log(f"mcp {name}")
            results.update(percentiles(await timed(calls, call), f"mcp_{name}"))
    return results


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with fresh_database("console", data_dir=args.data_dir, keep=args.keep) as (url, _):
        threads = await fill(args)
        server = Server(Path(tempfile.mkdtemp(prefix="engram-console-")), {
            "DATABASE_URL": url, "ENGRAM_AUTH": "dev", "ENGRAM_DEV_TOKENS": f"{TOKEN}={USER}@{ORG}",
            "MODEL": "", "LOG_JSON": "true"})
        await asyncio.to_thread(server.start)
        try:
            measured = await measure(server.url, threads, args)
        finally:
            server.stop()
    return {
        "bench": "console",
        "facts": args.facts, "episodes": 2 * args.threads * args.turns, "threads": args.threads,
        "calls": args.calls, "remembers": args.remembers,
        **measured,
        "machine": machine(),
    }


def main() -> None:
    offline_env()
    emit(asyncio.run(run(parse_args())))


if __name__ == "__main__":
    main()
