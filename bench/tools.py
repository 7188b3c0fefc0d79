"""Benchmark what a memory tool round adds to a turn: Engram's share, with a scripted model.

A fresh database `engram_bench_tools_*` on the embedded Postgres; the graph as served
(`agent.graph.builder`) with the project's checkpointer and store (`agent.stores`). The chat
model is `Scripted`, which supports tool calling and answers at once, so the figures are the
graph's, the tools' and the store's cost, never a model's. The user starts with `--memories`
facts. Three kinds of turn run interleaved (so the machine's drift falls on all three alike),
`--turns` of each, on threads of their own:

- `answer`: the model, with the tools bound, answers without calling one (the baseline);
- `search`: the model calls `search_memory` with the user's words, then answers;
- `remember`: the model calls `remember` with a new fact, then answers.

`extra_ms_p50` is a kind's p50 minus the baseline's p50, from the same run.

    .venv/bin/python bench/tools.py [--turns 100] [--memories 500]

Progress goes to stderr; the result is one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

import numpy as np
from _common import default_data_dir, emit, fresh_database, log, machine, offline_env, percentiles_ms
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig
from langchain_core.utils.function_calling import convert_to_openai_tool

from agent import models
from agent.context import Context
from agent.memory.model.schema import Identity, memory_namespace

KINDS = ("answer", "search", "remember")


class BenchUser(dict[str, Any]):
    """The run's authenticated user, as the server hands it to a run."""

    @property
    def identity(self) -> str:
        """The user's id."""
        return str(self["identity"])


class Scripted(BaseChatModel):
    """Calls the tool its turn's kind names (from the user's message), then answers."""

    @property
    def _llm_type(self) -> str:
        return "scripted-tools"

    def bind_tools(self, tools: Any, *, tool_choice: str | None = None, **kwargs: Any) -> Any:
        """The model with the tools' schemas bound, as a provider's model takes them."""
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools],
                         tool_choice=tool_choice, **kwargs)

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any,
    ) -> ChatResult:
        last = messages[-1]
        calls: list[dict[str, Any]] = []
        if isinstance(last, HumanMessage) and kwargs.get("tools"):
            kind, _, words = last.text.partition(": ")
            if kind == "search":
                calls = [{"name": "search_memory", "args": {"query": words}}]
            elif kind == "remember":
                calls = [{"name": "remember", "args": {
                    "text": f"The user mentioned {words}.", "subject": words[:60]}}]
        answer = "Noted." if not isinstance(last, ToolMessage) else "Here is what I found."
        reply = AIMessage(content="" if calls else answer, id=f"ai-{uuid.uuid4().hex[:8]}",
                          tool_calls=[{**c, "id": f"call-{uuid.uuid4().hex[:8]}",
                                       "type": "tool_call"} for c in calls])
        return ChatResult(generations=[ChatGeneration(message=reply)])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--turns", type=int, default=100, help="timed turns of each kind")
    parser.add_argument("--warmup", type=int, default=5, help="untimed turns of each kind first")
    parser.add_argument("--memories", type=int, default=500, help="facts the user starts with")
    return parser.parse_args()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from langgraph.store.base import PutOp

    from agent.graph import builder
    from agent.stores import checkpointer, store

    model = Scripted()
    setattr(models, "load_chat_model", lambda name: model)  # noqa: B010 - the one chat model
    user = BenchUser(identity="bench-tools", org_id="bench")
    topics = ["the garden", "a trip to Lisbon", "the piano", "my sister", "the new job",
              "a cheese shop", "the bicycle", "the dentist", "a chess club", "the neighbours"]
    async with fresh_database("tools", data_dir=default_data_dir()) as _, \
            checkpointer() as saver, store() as memory_store:
        namespace = memory_namespace(Identity(user.identity, user["org_id"]))
        await memory_store.abatch([PutOp(namespace, f"seed-{i}", {
            "text": f"The user talked about {topics[i % len(topics)]} (note {i}).",
            "kind": "fact"}) for i in range(args.memories)])
        graph = builder.compile(checkpointer=saver, store=memory_store)
        seconds: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for index in range(args.warmup + args.turns):
            for kind in KINDS:
                words = f"{topics[index % len(topics)]} number {index}"
                config: RunnableConfig = {"configurable": {
                    "thread_id": str(uuid.uuid4()), "langgraph_auth_user": user}}
                started = time.perf_counter()
                values = await graph.ainvoke({"messages": [HumanMessage(f"{kind}: {words}")]},
                                             config, context=Context())
                if index >= args.warmup:
                    seconds[kind].append(time.perf_counter() - started)
                rounds = sum(isinstance(m, ToolMessage) for m in values["messages"])
                assert rounds == (0 if kind == "answer" else 1), (kind, rounds)
            await memory_store.fill_vectors()  # untimed: the worker's episodes, between rounds
        log(" ".join(f"{kind} p50 {np.percentile(s, 50) * 1000:.1f} ms"
                     for kind, s in seconds.items()))
    base = float(np.percentile(seconds["answer"], 50)) * 1000
    return {
        "bench": "tools",
        "turns_per_kind": args.turns,
        "memories": args.memories,
        **{k: v for kind in KINDS for k, v in percentiles_ms(seconds[kind], kind).items()},
        **{f"{kind}_extra_ms_p50": round(float(np.percentile(seconds[kind], 50)) * 1000 - base, 2)
           for kind in KINDS[1:]},
        "machine": machine(),
    }


def main() -> None:
    offline_env()
    emit(asyncio.run(run(parse_args())))


if __name__ == "__main__":
    main()
