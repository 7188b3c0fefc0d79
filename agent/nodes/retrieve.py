"""retrieve: find the memories relevant to the user's latest message."""

from __future__ import annotations

import time
from typing import Any

from langgraph.runtime import Runtime

from agent import telemetry
from agent.context import Context, context_of
from agent.memory.model.episodes import is_episode
from agent.memory.model.schema import Stored, identity_of, memory_namespace, shared_namespace
from agent.memory.read.retrieval import find_memories
from agent.nodes.common import last_user_message, require_store, thread_and_run
from agent.state import State


async def retrieve(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Search the caller's memories and episodes, and their organisation's shared ones."""
    context = context_of(runtime)
    message = last_user_message(state["messages"])
    if message is None or not message.text.strip() or context.memory_limit == 0:
        return {"memories": [], "asked_before": []}
    started = time.perf_counter()
    identity = identity_of(runtime)
    found = await find_memories(
        require_store(runtime),
        [memory_namespace(identity), shared_namespace(identity.org_id)],
        # Single-spaced: the text the turn's episodes embed, so the vector is computed once.
        " ".join(message.text.split()), limit=context.memory_limit,
        min_relevance=context.min_relevance,
    )
    memories = [
        {"key": item.key, "text": Stored(item.value).text, "kind": Stored(item.value).kind,
         "score": round(score, 4),
         **({"role": item.value.get("role"), "said_at": item.value.get("said_at")}
            if is_episode(item.value) else {}),
         **({"superseded_by": item.value["superseded_by"], "invalid_at": item.value.get(
             "invalid_at", item.value.get("superseded_at"))}
            if item.value.get("superseded_by") else {})}
        for item, score in found.ranked
    ]
    thread_id, run_id = thread_and_run(runtime)
    telemetry.log_retrieval(len(memories), time.perf_counter() - started, thread_id=thread_id,
                            run_id=run_id, user_id=identity.user_id, org_id=identity.org_id)
    return {"memories": memories, "asked_before": found.asked_before}
