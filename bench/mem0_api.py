"""Benchmark Mem0's official client against Engram beside the LangGraph SDK, in the same run.

A fresh database `engram_bench_mem0_*` on the embedded Postgres, `langgraph dev` started on it
(dev auth, one token), one user with `--memories` memories written first through the SDK's store
API. Then, one call at a time and interleaved (so the machine's drift falls on both alike),
`--calls` of each, both clients synchronous (httpx underneath):

- add one memory: `MemoryClient.add(..., infer=False)` beside `client.store.put_item(...)`;
- add a conversation: `MemoryClient.add(messages)` (Engram extracts, reconciles and keeps the
  episodes, as an import), for the record;
- search: `MemoryClient.search(query, filters={"user_id": ...})` beside
  `client.store.search_items(("memories",), query=...)`.

Latencies are client-side wall time in ms. Mem0's telemetry is off (MEM0_TELEMETRY=false).
Progress goes to stderr; the result is one JSON line on stdout.

    .venv/bin/python bench/mem0_api.py [--memories 200] [--calls 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import ROOT, default_data_dir, emit, fresh_database, log, machine, offline_env
from _common import percentiles_ms as percentiles

sys.path.insert(0, str(ROOT))
os.environ["MEM0_TELEMETRY"] = "false"  # read when `mem0` is imported
os.environ.setdefault("MEM0_DIR", tempfile.mkdtemp(prefix="engram-bench-mem0-"))

from langgraph_sdk import get_sync_client  # noqa: E402
from mem0.client.main import MemoryClient  # noqa: E402

from tests.e2e.conftest import Server  # noqa: E402 - the tests' server runner

TOKEN, USER, ORG = "bench-token", "bench", "local"  # the dev token `token=user@org`
TOPICS = ("the garden", "a trip to Kyoto", "the cello", "my sister", "the budget", "a recipe",
          "the bike", "a concert", "the piano", "a museum")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--memories", type=int, default=200, help="memories the user starts with")
    parser.add_argument("--calls", type=int, default=50, help="timed calls of each kind")
    return parser.parse_args()


def timed(call: Callable[[], Any], sink: list[float]) -> None:
    started = time.perf_counter()
    call()
    sink.append(time.perf_counter() - started)


def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    sdk = get_sync_client(url=url, headers={"Authorization": f"Bearer {TOKEN}"})
    mem0 = MemoryClient(api_key=TOKEN, host=url)
    namespace = ["memories", ORG, f"user:{USER}"]
    for i in range(args.memories):
        sdk.store.put_item(namespace, f"seed-{i}", {
            "text": f"The user talked about {TOPICS[i % len(TOPICS)]} (note {i}).", "kind": "fact"})
    seconds: dict[str, list[float]] = {name: [] for name in (
        "mem0_add_one", "sdk_put_one", "mem0_add_conversation", "mem0_search", "sdk_search")}
    def round_of(i: int) -> dict[str, Callable[[], Any]]:
        topic = TOPICS[i % len(TOPICS)]
        return {
            "mem0_add_one": lambda: mem0.add(
                [{"role": "user", "content": f"Mem0 note {i} on {topic}."}], user_id=USER,
                infer=False),
            "sdk_put_one": lambda: sdk.store.put_item(namespace, f"sdk-{i}", {
                "text": f"SDK note {i} on {topic}.", "kind": "fact"}),
            "mem0_add_conversation": lambda: mem0.add([
                {"role": "user", "content": f"My favourite thing number {i} is {topic}."},
                {"role": "assistant", "content": f"Noted: {topic}."}], user_id=USER),
            "mem0_search": lambda: mem0.search(f"what about {topic}", filters={"user_id": USER},
                                               top_k=10),
            "sdk_search": lambda: sdk.store.search_items(namespace, query=f"what about {topic}",
                                                         limit=10),
        }

    for i in range(args.calls + 3):  # the first three of each are a warm-up
        for name, call in round_of(i).items():
            timed(call, [] if i < 3 else seconds[name])
    log(" ".join(f"{name} p50 {sorted(s)[len(s) // 2] * 1000:.1f} ms"
                 for name, s in seconds.items()))
    result: dict[str, Any] = {}
    for name, samples in seconds.items():
        result.update(percentiles(samples, name))
    result["add_mem0_over_sdk_p50"] = round(
        result["mem0_add_one_ms_p50"] / result["sdk_put_one_ms_p50"], 2)
    result["search_mem0_over_sdk_p50"] = round(
        result["mem0_search_ms_p50"] / result["sdk_search_ms_p50"], 2)
    return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with fresh_database("mem0", data_dir=default_data_dir()) as (url, _):
        from agent.stores import store

        async with store():
            pass  # the factory's setup() creates the tables
        server = Server(Path(tempfile.mkdtemp(prefix="engram-mem0-")), {
            "DATABASE_URL": url, "ENGRAM_AUTH": "dev", "ENGRAM_DEV_TOKENS": f"{TOKEN}={USER}@{ORG}",
            "MODEL": "", "LOG_JSON": "true"})
        await asyncio.to_thread(server.start)
        try:
            measured = await asyncio.to_thread(measure, server.url, args)
        finally:
            server.stop()
    return {"bench": "mem0", "client": "mem0ai 2.2.1 MemoryClient", "memories": args.memories,
            "calls": args.calls, **measured, "machine": machine()}


def main() -> None:
    offline_env()
    emit(asyncio.run(run(parse_args())))


if __name__ == "__main__":
    main()
