"""Benchmark one conversation turn through the memory agent's graph, per node and in total.

A fresh database `engram_bench_turn_*` is made on the embedded Postgres and the checkpointer and
store are opened with the project's factories, `store.postgres.checkpointer()` and `store()`. The
chat model is the offline responder (MODEL is unset), so the figures are Engram's own cost: the
framework, checkpoints, retrieval, extraction and memory writes, not an LLM's. Graphs are invoked
directly with `ainvoke` (no server), with the default `agent.context.Context`.

Three graphs run the same turns (default 200, round robin over 20 threads; generated user
messages: ~45% statements the extractor remembers, ~15% small talk, ~40% questions, each padded
with conversational context to about `--user-words` words, 38 by default, about 50 tokens).
The chat model is `LongAnswers`, the offline responder's answer followed by deterministic advice
sentences up to `--answer-words` words (225, about 300 tokens), so the episodes written each turn
have the size of a real exchange; `--answer-words 0` gives the offline responder's short answers.

- `full`: `agent.graph.builder.compile(checkpointer=..., store=...)`, as served;
- `full_timed`: the same topology (nodes, edges, conditional edges and retry policies read from
  `agent.graph.builder`, each node's function taken from `agent.nodes` by name) with every node
  function wrapped in a timer, for the per-node figures;
- `bare`: a graph with only the `agent` node (the same `agent.nodes.agent` function) and the
  same checkpointer, no store: the floor a turn costs without the memory pipeline.

Each graph gets its own store from the factory (and so a cold embedding cache: the store's model
comes wrapped in a cache of recent texts, and the three graphs see the same messages). Each
graph first runs `--warmup` turns on threads of its own; the store's tables are emptied
(TRUNCATE) before each graph's warm-up and before its timed turns, so every graph starts from the
same empty memory. "Memory pipeline overhead" is full p50 - bare p50.

The unit the figures are also given in is one query embedding of the same run: the store's
model (not its cache) embedding one of the run's user messages, the text retrieve embeds, timed
before each graph and after the last (so a machine that slows down mid-run slows both). Each
`*_in_query_embeddings` figure is a time divided by that p50; the short synthetic queries of
bench/embeddings.py are timed too (`short_query_embedding_ms_p50`).

Episodes' vectors are filled in by the store's background worker. By default the turns run in a
closed loop, nothing between them, so the worker embeds the last turn's messages while the next
one runs, on the same two cores. `--settle` lets the worker finish between turns (untimed), as
it does in use whenever the gap between turns (the chat model's answer, the user reading it) is
longer than that work (tens of milliseconds).

    .venv/bin/python bench/turn.py [--turns 200] [--threads 20] [--warmup 10]
        [--user-words 38] [--answer-words 225] [--settle] [--keep]

Progress goes to stderr; the result is one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import psycopg
from _common import (
    conversation_turns,
    default_data_dir,
    distinct_queries,
    emit,
    fresh_database,
    log,
    machine,
    offline_env,
    percentiles_ms,
)
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore

from agent import models
from agent import nodes as agent_nodes
from agent.context import Context
from agent.graph import builder
from agent.memory.model.schema import MEMORY_ROOT
from agent.memory.write.extract import extract_candidates
from agent.models import OfflineResponder
from agent.nodes import agent
from agent.state import InputState, State
from store.pending_vectors import pending_count

GOAL_OVERHEAD_P50_MS = 30.0
# Goals in query embeddings of the same run.
GOAL_OVERHEAD_P50_QE, GOAL_OVERHEAD_P95_QE = 5.0, 15.0
GOAL_READ_P50_QE, GOAL_WRITE_P50_QE = 2.0, 2.0
QUERY_SAMPLES = 40


class NodeFn(Protocol):
    """A node function of the memory agent, as LangGraph calls it."""

    def __call__(self, state: State, *, runtime: Runtime[Context]) -> Awaitable[dict[str, Any]]:
        """Run the node."""
        ...


Graph = CompiledStateGraph[Any, Any, Any, Any]


def parse_args(description: str | None = None) -> argparse.Namespace:
    """The options of a turn run (bench/turn_profile.py takes the same, with its `description`)."""
    parser = argparse.ArgumentParser(
        description=description or (__doc__.splitlines()[0] if __doc__ else None))
    parser.add_argument("--turns", type=int, default=200, help="timed turns per graph")
    parser.add_argument("--threads", type=int, default=20, help="threads the turns go round")
    parser.add_argument("--warmup", type=int, default=10, help="untimed turns per graph first")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir(),
                        help="embedded Postgres cluster")
    parser.add_argument("--user-words", type=int, default=38, help="user message length")
    parser.add_argument("--answer-words", type=int, default=225, help="answer length (0: short)")
    parser.add_argument("--settle", action="store_true",
                        help="fill the previous turn's vectors before each timed turn (untimed): "
                             "the turn as it runs when its background work is done, as it is "
                             "whenever a chat model's answer takes longer than that work")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    return parser.parse_args()


CONTEXT = [
    "I was thinking about this on the way home from work today.",
    "My sister and I talked about it over dinner last weekend.",
    "It came up again when I was planning the next few weeks.",
    "I have been meaning to sort this out for a while now.",
    "A friend of mine suggested I should ask someone about it.",
    "It is not urgent, but I would like to get it right this time.",
]
ADVICE = [
    "Start with the simplest option and see how it fits your week before adding more.",
    "Write down what worked last time, since small notes make the next decision much easier.",
    "If the budget is tight, compare two or three alternatives side by side first.",
    "Ask someone who has done it before; a ten-minute conversation can save hours.",
    "Keep an eye on the timing, because the same plan can feel very different in winter.",
    "Break it into steps you can finish in an evening, and check off each one.",
    "Do not worry about getting everything perfect on the first attempt.",
    "Leave some slack in the schedule so that one delay does not upset the rest.",
]


def realistic(messages: list[str], words: int, seed: int) -> list[str]:
    """Each message followed by context sentences until it has about `words` words."""
    rng = random.Random(seed)
    padded = []
    for text in messages:
        while len(text.split()) < words:
            text = f"{text} {rng.choice(CONTEXT)}"
        padded.append(text)
    return padded


class LongAnswers(OfflineResponder):
    """The offline responder's answer, then advice sentences up to a realistic answer length."""

    words: int = 225

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        result = super()._generate(messages, stop, run_manager, **kwargs)
        reply = result.generations[0].message
        rng = random.Random(len(messages))
        text = str(reply.text)
        while len(text.split()) < self.words:
            text = f"{text} {rng.choice(ADVICE)}"
        message = AIMessage(content=text, response_metadata=reply.response_metadata)
        return ChatResult(generations=[ChatGeneration(message=message)])


def timed(name: str, fn: NodeFn, sink: dict[str, list[float]]) -> NodeFn:
    """The node function, recording how long each call takes under `name`."""

    async def node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            return await fn(state, runtime=runtime)
        finally:
            sink[name].append(time.perf_counter() - started)

    node.__name__ = name
    node.__qualname__ = name
    return node


def mirror(sink: dict[str, list[float]]) -> StateGraph[Any, Any, Any, Any]:
    """agent/graph.py's topology, read from its builder, with every node function timed.

    Nodes are added under `agent.graph.builder`'s names with the function of that name from
    `agent.nodes` and the builder's retry policy (the memory tools node as it is: the offline
    responder calls no tool); edges and conditional edges are copied.
    """
    mirrored = StateGraph(State, input_schema=InputState, context_schema=Context)
    for name, spec in builder.nodes.items():
        function: NodeFn | None = getattr(agent_nodes, name, None)
        if function is None:  # memory_tools: LangGraph's ToolNode, idle with the offline model
            mirrored.add_node(name, spec.runnable, retry_policy=spec.retry_policy)
            continue
        mirrored.add_node(name, timed(name, function, sink), retry_policy=spec.retry_policy)
    for start, end in builder.edges:
        mirrored.add_edge(start, end)
    for start, branches in builder.branches.items():
        for branch in branches.values():
            mirrored.add_conditional_edges(start, branch.path, branch.ends)
    return mirrored


def bare(sink: dict[str, list[float]]) -> StateGraph[Any, Any, Any, Any]:
    """Only the agent node: what a turn costs with no memory pipeline."""
    graph = StateGraph(State, input_schema=InputState, context_schema=Context)
    graph.add_node("agent", timed("agent", agent, sink))
    graph.add_edge(START, "agent")
    graph.add_edge("agent", END)
    return graph


async def empty_store(url: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        # The queue first: the vector worker locks it before it reads the store.
        await conn.execute("TRUNCATE engram_pending_vectors, store_vectors, store")


async def count_memories(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        row = await (await conn.execute(
            "SELECT count(*) FROM store WHERE prefix LIKE %s", (f"{MEMORY_ROOT}.%",))).fetchone()
    return int(row[0]) if row else 0


async def drive(
    graph: Graph, label: str, messages: list[str], args: argparse.Namespace, url: str,
    sink: dict[str, list[float]] | None = None, memory_store: Any = None,
) -> dict[str, Any]:
    """Warm up, then time each turn's ainvoke; returns totals and what the turns did.

    The store's vector worker embeds episodes in the background during the turns (on the same
    two cores); after the last turn, how long until every vector is filled is reported too.
    """
    run_id = os.urandom(3).hex()

    def config(thread: str) -> RunnableConfig:
        return {"configurable": {"thread_id": f"bench-{run_id}-{label}-{thread}"}}

    await empty_store(url)
    warmup = realistic(conversation_turns(args.warmup, args.seed + 1000), args.user_words,
                       args.seed + 1000)
    for i, text in enumerate(warmup):
        await graph.ainvoke({"messages": [HumanMessage(text)]},
                            config(f"warmup-{i % args.threads}"), context=Context())
    await empty_store(url)
    if sink is not None:
        sink.clear()  # only the timed turns count
    totals: list[float] = []
    writing: list[float] = []
    reading: list[float] = []
    operations: dict[str, int] = defaultdict(int)
    summaries = 0
    for i, text in enumerate(messages):
        if args.settle and memory_store is not None:
            await memory_store.fill_vectors()  # untimed: the previous turn's vectors are in
        started = time.perf_counter()
        result = await graph.ainvoke({"messages": [HumanMessage(text)]},
                                     config(str(i % args.threads)), context=Context())
        elapsed = time.perf_counter() - started
        totals.append(elapsed)
        (writing if extract_candidates(text) else reading).append(elapsed)
        for op in result.get("memory_operations", []):
            operations[f"{op['action']}:{op['status']}"] += 1
        summaries += bool(result.get("summary"))
        if (i + 1) % 50 == 0:
            log(f"{label}: {i + 1}/{len(messages)} turns, "
                f"p50 so far {np.percentile(totals, 50) * 1000:.1f} ms")
    filled: dict[str, Any] = {}
    if memory_store is not None:
        queue = await pending_count(memory_store.conn)
        started = time.perf_counter()
        await memory_store.fill_vectors()
        filled = {"vectors_pending_after_last_turn": queue["pending"],
                  "vectors_filled_after_last_turn_ms": round(
                      (time.perf_counter() - started) * 1000, 1)}
    return {
        **filled,
        **percentiles_ms(totals, "total"),
        "statement_turns": len(writing),
        **percentiles_ms(writing, "statement_turn"),
        **percentiles_ms(reading, "other_turn"),
        "memory_operations": dict(operations),
        "turns_with_summary": summaries,
        "memories_stored": await count_memories(url),
    }


class QueryClock:
    """Times one query embedding on the store's own model, in rounds spread over the run."""

    def __init__(self, messages: list[str], seed: int) -> None:
        """Time the run's `messages`, and as many short synthetic queries (`seed`)."""
        self.messages = messages
        self.short = distinct_queries(len(messages), seed)
        self.rounds = 0
        self.samples: list[float] = []
        self.short_samples: list[float] = []

    def round(self, memory_store: Any) -> None:
        """One round: QUERY_SAMPLES of the run's messages and as many short queries, uncached."""
        cached = memory_store.embeddings
        model = getattr(cached, "inner", cached)
        start = (self.rounds * QUERY_SAMPLES) % max(1, len(self.messages) - QUERY_SAMPLES)
        self.rounds += 1
        model.embed_query(self.messages[start])  # warm: the first run of a session allocates
        for texts, samples in ((self.messages, self.samples), (self.short, self.short_samples)):
            for text in texts[start:start + QUERY_SAMPLES]:
                started = time.perf_counter()
                model.embed_query(text)
                samples.append(time.perf_counter() - started)

    def p50_ms(self) -> float:
        """The median query embedding, in ms."""
        return float(np.percentile(self.samples, 50) * 1000.0)


def in_units(figures: dict[str, float], unit_ms: float) -> dict[str, float]:
    """Each figure (ms) as a number of query embeddings."""
    return {name: round(value / unit_ms, 2) for name, value in figures.items()}


def node_stats(sink: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {name: percentiles_ms(samples, "node") for name, samples in sink.items()}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from store.postgres import checkpointer

    messages = realistic(conversation_turns(args.turns, args.seed), args.user_words, args.seed)
    if args.answer_words:
        answers = LongAnswers(words=args.answer_words)
        models.load_chat_model = lambda name: answers
    async with fresh_database("turn", data_dir=args.data_dir, keep=args.keep) as (url, _):
        async with checkpointer() as saver:
            clock = QueryClock(messages, args.seed + 1)
            results = await drive_all(saver, messages, args, url, clock)
    full, timed_run, bare_run = results["full"], results["full_timed"], results["bare"]
    overhead = round(full["total_ms_p50"] - bare_run["total_ms_p50"], 2)
    overhead_p95 = round(full["total_ms_p95"] - bare_run["total_ms_p95"], 2)
    nodes = timed_run["nodes"]
    read_p50 = timed_run["read_nodes_sum_ms_p50"]
    write_p50 = nodes["write_memory"]["node_ms_p50"]
    unit = clock.p50_ms()
    units = in_units({"memory_pipeline_overhead_p50": overhead,
                      "memory_pipeline_overhead_p95": overhead_p95,
                      "summarize_plus_retrieve_p50": read_p50,
                      "write_memory_p50": write_p50,
                      **{f"{name}_p50": figures["node_ms_p50"] for name, figures in nodes.items()},
                      **{f"{name}_p95": figures["node_ms_p95"] for name, figures in nodes.items()}},
                     unit)
    return {
        "bench": "turn",
        "turns": len(messages),
        "threads": args.threads,
        "warmup": args.warmup,
        "model": f"offline-responder + advice to {args.answer_words} words"
                 if args.answer_words else "offline-responder",
        "user_words_mean": round(float(np.mean([len(m.split()) for m in messages])), 1),
        "full": full,
        "full_timed": timed_run,
        "bare": bare_run,
        "settled": bool(args.settle),
        "memory_pipeline_overhead_ms_p50": overhead,
        "memory_pipeline_overhead_ms_p95": overhead_p95,
        "query_embedding_ms_p50": round(unit, 2),
        "query_embedding_samples": len(clock.samples),
        "short_query_embedding_ms_p50": round(
            float(np.percentile(clock.short_samples, 50) * 1000.0), 2),
        "in_query_embeddings": units,
        "goals_in_query_embeddings": {
            "overhead_p50": {"at_most": GOAL_OVERHEAD_P50_QE, "is": units[
                "memory_pipeline_overhead_p50"],
                "met": units["memory_pipeline_overhead_p50"] <= GOAL_OVERHEAD_P50_QE},
            "overhead_p95": {"at_most": GOAL_OVERHEAD_P95_QE, "is": units[
                "memory_pipeline_overhead_p95"],
                "met": units["memory_pipeline_overhead_p95"] <= GOAL_OVERHEAD_P95_QE},
            "summarize_plus_retrieve_p50": {"at_most": GOAL_READ_P50_QE, "is": units[
                "summarize_plus_retrieve_p50"],
                "met": units["summarize_plus_retrieve_p50"] <= GOAL_READ_P50_QE},
            "write_memory_p50": {"at_most": GOAL_WRITE_P50_QE, "is": units["write_memory_p50"],
                                 "met": units["write_memory_p50"] <= GOAL_WRITE_P50_QE},
        },
        "goal": {"overhead_ms_p50": GOAL_OVERHEAD_P50_MS,
                 "met": overhead <= GOAL_OVERHEAD_P50_MS},
        "machine": machine(),
    }


async def drive_all(
    saver: BaseCheckpointSaver[Any], messages: list[str], args: argparse.Namespace, url: str,
    clock: QueryClock,
) -> dict[str, dict[str, Any]]:
    """Run the three graphs in turn, each with a store of its own.

    A store opened by the factory brings its own embedding model and so its own cache of recent
    texts: a graph never finds the previous graph's messages already embedded.
    """
    from agent.stores import store

    timed_nodes: dict[str, list[float]] = defaultdict(list)
    bare_nodes: dict[str, list[float]] = defaultdict(list)
    graphs: dict[str, tuple[Callable[[BaseStore], Graph], dict[str, list[float]] | None]] = {
        "full": (lambda s: builder.compile(checkpointer=saver, store=s), None),
        "full_timed": (lambda s: mirror(timed_nodes).compile(checkpointer=saver, store=s),
                       timed_nodes),
        "bare": (lambda s: bare(bare_nodes).compile(checkpointer=saver), bare_nodes),
    }
    results: dict[str, dict[str, Any]] = {}
    for label, (compile_with, sink) in graphs.items():
        log(f"{label}: {args.warmup} warm-up turns, then {len(messages)} timed turns")
        async with store() as memory_store:
            clock.round(memory_store)
            graph = compile_with(memory_store)
            results[label] = await drive(graph, label, messages, args, url, sink,
                                         memory_store if label != "bare" else None)
            if label == "bare":
                clock.round(memory_store)  # and once after the last graph
        if sink is not None:
            results[label]["nodes"] = node_stats(sink)
            every_turn = [samples for samples in sink.values() if len(samples) == len(messages)]
            sums = np.sum(every_turn, axis=0) * 1000.0
            results[label]["nodes_sum_ms_p50"] = round(float(np.percentile(sums, 50)), 2)
            if "retrieve" in sink:
                reads = np.sum([sink[name] for name in ("summarize", "retrieve")], axis=0)
                results[label]["read_nodes_sum_ms_p50"] = round(
                    float(np.percentile(reads, 50) * 1000.0), 2)
        log(f"{label}: total p50 {results[label]['total_ms_p50']} ms, "
            f"p95 {results[label]['total_ms_p95']} ms")
    return results


def main() -> None:
    offline_env()
    os.environ.pop("MODEL", None)  # the offline responder
    emit(asyncio.run(run(parse_args())))


if __name__ == "__main__":
    main()
