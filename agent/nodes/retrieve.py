"""retrieve: find the memories relevant to the user's latest message."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agent.context import Context, context_of
from agent.memory.model.episodes import is_episode
from agent.memory.model.schema import Stored
from agent.memory.service import MemoryService
from agent.nodes.common import last_user_message, thread_and_run
from agent.state import State


async def retrieve(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Search the caller's memories and episodes, and their organisation's shared ones."""
    context = context_of(runtime)
    message = last_user_message(state["messages"])
    if message is None or not message.text.strip() or context.memory_limit == 0:
        return {"memories": [], "asked_before": []}
    thread_id, run_id = thread_and_run(runtime)
    memory = MemoryService.of_run(runtime, context.approval)
    found = await memory.recall(message.text, context.memory_limit, context.min_relevance,
                                thread_id=thread_id, run_id=run_id)
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
    return {"memories": memories, "asked_before": found.asked_before}
