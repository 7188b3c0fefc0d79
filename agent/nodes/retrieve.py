"""retrieve: find the memories relevant to the user's latest message."""

from __future__ import annotations

import logging
import time
from typing import Any

from langgraph.runtime import Runtime
from langgraph.store.base import SearchItem

from agent.context import Context, context_of
from agent.memory import identity_of, memory_namespace
from agent.nodes.common import last_user_message, require_store
from agent.state import State

logger = logging.getLogger(__name__)


def as_memory(item: SearchItem) -> dict[str, Any]:
    """The part of a stored memory the prompt and the caller need."""
    return {
        "key": item.key,
        "text": item.value.get("text", ""),
        "kind": item.value.get("kind", "fact"),
        "score": round(item.score or 0.0, 4),
    }


async def retrieve(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Search the caller's memories by meaning of the last user message."""
    message = last_user_message(state["messages"])
    if message is None or not message.text.strip() or context_of(runtime).memory_limit == 0:
        return {"memories": []}
    started = time.perf_counter()
    items = await require_store(runtime).asearch(
        memory_namespace(identity_of(runtime)),
        query=message.text,
        limit=context_of(runtime).memory_limit,
    )
    memories = [
        as_memory(item)
        for item in items
        if (item.score or 0.0) >= context_of(runtime).min_relevance and not item.value.get("invalid_at")
    ]
    logger.info(
        "memory retrieval",
        extra={"hits": len(memories), "searched": len(items),
               "latency_ms": round((time.perf_counter() - started) * 1000, 2)},
    )
    return {"memories": memories}
