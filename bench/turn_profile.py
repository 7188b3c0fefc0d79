"""Profile a conversation turn: where each millisecond of the memory pipeline goes, node by node.

Runs bench/turn.py's timed graph (`full_timed`: the served topology, each node timed) over the
same generated turns, store and checkpointer factories, with probes on what a turn waits for:

- `embed`: the embedding model's own calls (store/embeddings.py `MiniLMEmbeddings._embed`, in a
  worker thread), with the number of texts;
- `store_batch`: the store's batches (`MemoryStore.abatch`: one pooled connection, one or more
  statements, and the embedding of what the batch searches or writes);
- `pool_lend`: a connection lent by a pool (`getconn`), `pool_check` the liveness check in it;
- `sql`: each statement psycopg sends (`AsyncCursor.execute` / `executemany`; in a pipeline the
  wait is in fetching its rows, `sql_fetch`, or at the pipeline's end, `pipeline_end`);
- `checkpoint`: the checkpointer's reads and writes (`aget_tuple`, `aput`, `aput_writes`);
- `scrub`, `extract`, `novel_part`: the Python work on a turn's text.

Each probe records under the node that is running (the timed node names itself; the store's
batches run in a task of the store's, so a context variable would not reach them). Two owners
run beside the nodes and are kept apart: the checkpointer ("(checkpointer)": LangGraph writes
a step's checkpoint while the next step runs) and the vector worker ("(vector worker)").
Anything else outside a node is "(between nodes)". Calls that overlap (a gather) each count in
full, so a node's parts may add up to more than its wall time; `unaccounted` is the node's wall
time less its store batches and Python probes (the framework, and Python no probe covers).

    .venv/bin/python bench/turn_profile.py [--turns 200] [--threads 20] [--warmup 10] [--keep] [--settle]

Progress goes to stderr; the result is one JSON line on stdout: per node, its wall time (p50 and
mean) and each part's mean milliseconds and calls per turn; per turn, the same totals.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import functools
import importlib
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import turn
from _common import conversation_turns, emit, fresh_database, log, machine, offline_env
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from psycopg import AsyncCursor
from psycopg._pipeline_async import AsyncPipeline
from psycopg_pool import AsyncConnectionPool

OWNER: contextvars.ContextVar[str | None] = contextvars.ContextVar("owner", default=None)
BETWEEN = "(between nodes)"
WORKER = "(vector worker)"


class Running:
    """The node running now (the bench runs one turn at a time, one node at a time)."""

    node = BETWEEN


class Probes:
    """Time spent per (node, part), and how many calls, for the turn being timed."""

    def __init__(self) -> None:
        """Nothing recorded, and off until the timed turns start."""
        self.on = False
        self.ms: dict[tuple[str, str], float] = defaultdict(float)
        self.calls: dict[tuple[str, str], int] = defaultdict(int)
        self.texts: dict[str, int] = defaultdict(int)

    def add(self, part: str, seconds: float, texts: int = 0) -> None:
        """Record one call of `part` under the node running (or the owner of the call)."""
        if not self.on:
            return
        node = OWNER.get() or (WORKER if threading.current_thread().name.startswith(
            "engram-vectors") else Running.node)
        self.ms[(node, part)] += seconds * 1000.0
        self.calls[(node, part)] += 1
        self.texts[node] += texts


PROBES = Probes()


def probe_async(owner: Any, name: str, part: str, as_owner: str | None = None) -> None:
    """Time every call of the coroutine method `owner.name` as `part`.

    With `as_owner`, what the call does inside is recorded under that owner.
    """
    original = getattr(owner, name)

    @functools.wraps(original)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        token = OWNER.set(as_owner) if as_owner else None
        started = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            PROBES.add(part, time.perf_counter() - started)
            if token is not None:
                OWNER.reset(token)

    setattr(owner, name, timed)


def probe_sync(owner: Any, name: str, part: str, texts: Callable[..., int] | None = None) -> None:
    """Time every call of the function `owner.name` as `part` (texts: how many it handles)."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            PROBES.add(part, time.perf_counter() - started, texts(*args) if texts else 0)

    setattr(owner, name, timed)


def install() -> None:
    """Put the probes on the classes and module functions a turn calls."""
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    from agent.memory.text import restatement, scrub
    from agent.memory.write import turns

    agent_node = importlib.import_module("agent.nodes.agent")
    write_node = importlib.import_module("agent.nodes.write_memory")
    from store.embeddings import MiniLMEmbeddings
    from store.pending_vectors import VectorWorker
    from store.search import MemoryStore

    probe_sync(MiniLMEmbeddings, "_embed", "embed", lambda _self, texts: len(texts))
    probe_async(MemoryStore, "abatch", "store_batch")
    probe_async(AsyncConnectionPool, "getconn", "pool_lend")
    original_check = AsyncConnectionPool.check_connection

    async def check(conn: Any) -> None:
        started = time.perf_counter()
        try:
            await original_check(conn)
        finally:
            PROBES.add("pool_check", time.perf_counter() - started)

    AsyncConnectionPool.check_connection = staticmethod(check)  # type: ignore[method-assign]
    probe_async(AsyncCursor, "execute", "sql")
    probe_async(AsyncCursor, "executemany", "sql")
    probe_async(AsyncCursor, "fetchall", "sql_fetch")
    probe_async(AsyncCursor, "fetchone", "sql_fetch")
    probe_async(AsyncPipeline, "__aexit__", "pipeline_end")
    for name in ("aget_tuple", "aput", "aput_writes"):
        probe_async(AsyncPostgresSaver, name, "checkpoint", as_owner="(checkpointer)")
    probe_async(VectorWorker, "fill_once", "vector_batch", as_owner=WORKER)
    probe_async(scrub, "scrub_all", "scrub")
    probe_async(turns, "scrub_all", "scrub")
    probe_async(restatement, "novel_part", "novel_part")
    probe_async(agent_node, "novel_part", "novel_part")
    probe_async(write_node, "novel_part", "novel_part")
    probe_async(turns, "_extract", "extract")


ORIGINAL_TIMED = turn.timed


def timed_with_node(name: str, fn: turn.NodeFn, sink: dict[str, list[float]]) -> turn.NodeFn:
    """bench/turn.py's node timer, also naming the node for the probes."""
    inner = ORIGINAL_TIMED(name, fn, sink)

    async def node(state: Any, runtime: Any) -> dict[str, Any]:
        Running.node = name
        try:
            result: dict[str, Any] = await inner(state, runtime=runtime)
            return result
        finally:
            Running.node = BETWEEN

    node.__name__ = name
    return node


PARTS = ("embed", "store_batch", "pool_lend", "pool_check", "sql", "sql_fetch", "pipeline_end",
         "checkpoint",
         "vector_batch", "scrub", "extract", "novel_part")
OWNERS = ("(checkpointer)", WORKER, BETWEEN)
PYTHON_PARTS = ("scrub", "extract", "novel_part")


async def profile(args: argparse.Namespace) -> dict[str, Any]:
    from agent import models
    from agent.context import Context
    from agent.stores import store
    from store.postgres import checkpointer

    messages = turn.realistic(conversation_turns(args.turns, args.seed), args.user_words,
                              args.seed)
    if args.answer_words:
        answers = turn.LongAnswers(words=args.answer_words)
        models.load_chat_model = lambda name: answers
    sink: dict[str, list[float]] = defaultdict(list)
    walls: list[float] = []
    async with fresh_database("turn_profile", data_dir=args.data_dir, keep=args.keep) as (url, _):
        async with checkpointer() as saver, store() as memory_store:
            clock = turn.QueryClock(messages, args.seed + 1)
            clock.round(memory_store)
            graph = turn.mirror(sink).compile(checkpointer=saver, store=memory_store)
            run_id = os.urandom(3).hex()
            await turn.empty_store(url)
            warmup = turn.realistic(conversation_turns(args.warmup, args.seed + 1000),
                                    args.user_words, args.seed + 1000)
            for i, text in enumerate(warmup):
                warm: RunnableConfig = {"configurable": {"thread_id": f"w-{run_id}-{i}"}}
                await graph.ainvoke({"messages": [HumanMessage(text)]}, warm, context=Context())
            await turn.empty_store(url)
            sink.clear()
            PROBES.on = True
            for i, text in enumerate(messages):
                if args.settle:
                    PROBES.on = False
                    await memory_store.fill_vectors()  # untimed, unprofiled
                    PROBES.on = True
                config: RunnableConfig = {
                    "configurable": {"thread_id": f"p-{run_id}-{i % args.threads}"}}
                started = time.perf_counter()
                await graph.ainvoke({"messages": [HumanMessage(text)]}, config, context=Context())
                walls.append(time.perf_counter() - started)
                if (i + 1) % 50 == 0:
                    log(f"{i + 1}/{len(messages)} turns profiled")
            PROBES.on = False
            clock.round(memory_store)
    n = len(messages)
    nodes: dict[str, Any] = {}
    for name in [*sink, *OWNERS]:
        parts = {part: round(PROBES.ms[(name, part)] / n, 2) for part in PARTS
                 if PROBES.calls[(name, part)]}
        calls = {part: round(PROBES.calls[(name, part)] / n, 2) for part in PARTS
                 if PROBES.calls[(name, part)]}
        entry: dict[str, Any] = {"parts_ms_per_turn": parts, "calls_per_turn": calls,
                                 "texts_embedded_per_turn": round(PROBES.texts[name] / n, 2)}
        if name in sink:
            wall = np.asarray(sink[name]) * 1000.0
            mean = float(wall.mean())
            entry["wall_ms_p50"] = round(float(np.percentile(wall, 50)), 2)
            entry["wall_ms_mean"] = round(mean, 2)
            covered = sum(parts.get(p, 0.0) for p in ("store_batch", *PYTHON_PARTS))
            entry["unaccounted_ms_mean"] = round(mean - covered, 2)
        nodes[name] = entry
    totals = {part: round(sum(PROBES.ms[(node, part)] for node in [*sink, *OWNERS])
                          / n, 2) for part in PARTS}
    return {
        "bench": "turn_profile",
        "turns": n,
        "turn_ms_p50": round(float(np.percentile(walls, 50) * 1000.0), 2),
        "turn_ms_mean": round(float(np.mean(walls) * 1000.0), 2),
        "query_embedding_ms_p50": round(clock.p50_ms(), 2),
        "nodes": nodes,
        "parts_ms_per_turn": totals,
        "machine": machine(),
    }


def main() -> None:
    offline_env()
    os.environ.pop("MODEL", None)
    install()
    turn.timed = timed_with_node  # mirror() wraps each node with this
    emit(asyncio.run(profile(turn.parse_args(__doc__.splitlines()[0] if __doc__ else None))))


if __name__ == "__main__":
    main()
