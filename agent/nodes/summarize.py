"""summarize: keep the conversation under its token budget by folding old turns into a summary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    HumanMessage,
    RemoveMessage,
    ToolMessage,
)
from langchain_core.messages.utils import count_tokens_approximately
from langgraph.runtime import Runtime

from agent import models, reconcile
from agent.context import Context, context_of
from agent.memory import MemoryCandidate, Source, identity_of, memory_namespace
from agent.nodes.common import require_store, thread_and_run
from agent.prompts import SUMMARIZE_PROMPT
from agent.scrub import scrub
from agent.state import State

LINE_CHARS = 200


def fold_point(messages: Sequence[AnyMessage], budget: int) -> int:
    """How many of the oldest messages to fold so the rest fits in half the budget.

    The latest user message is always kept, and a tool result is never separated from the
    call that asked for it.
    """
    keep, kept_tokens = len(messages), 0
    while keep > 0:
        tokens = count_tokens_approximately([messages[keep - 1]])
        if kept_tokens + tokens > budget // 2 and keep < len(messages):
            break
        kept_tokens += tokens
        keep -= 1
    last_user = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=0)
    keep = min(keep, last_user)
    while keep > 0 and isinstance(messages[keep], ToolMessage):
        keep -= 1
    return keep


def extractive_summary(previous: str, folded: Sequence[AnyMessage], budget: int) -> str:
    """Offline summary: one line per folded turn, newest kept when over a quarter of the budget."""
    lines = [line for line in previous.splitlines() if line.strip()]
    for message in folded:
        if isinstance(message, HumanMessage | AIMessage) and message.text.strip():
            who = "User" if isinstance(message, HumanMessage) else "Assistant"
            lines.append(f"{who}: {' '.join(message.text.split())[:LINE_CHARS]}")
    while len(lines) > 1 and count_tokens_approximately(["\n".join(lines)]) > budget // 4:
        lines.pop(0)
    return "\n".join(lines)


async def summarize(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Fold the oldest turns into the running summary when the messages exceed the budget."""
    context = context_of(runtime)
    messages, budget = state["messages"], context.max_context_tokens
    if count_tokens_approximately(messages) <= budget:
        return {}
    fold = fold_point(messages, budget)
    if fold == 0:
        return {}
    folded, previous = messages[:fold], state.get("summary", "")
    if models.configured_model_name(context.model):
        turns = "\n".join(f"{m.type}: {m.text}" for m in folded if m.text.strip())
        reply = await models.load_chat_model(context.model).ainvoke(
            SUMMARIZE_PROMPT.format(summary=previous or "(none)", turns=turns)
        )
        summary = reply.text.strip()
    else:
        summary = extractive_summary(previous, folded, budget)
    # The summary outlives the messages it replaces: it keeps no secret they contained.
    summary = scrub(summary).text
    await _remember(summary, runtime)
    return {
        "summary": summary,
        "messages": [RemoveMessage(id=m.id) for m in folded if m.id],
    }


async def _remember(summary: str, runtime: Runtime[Context]) -> None:
    """Store the thread's running summary as a memory (one per thread, updated in place)."""
    thread_id, run_id = thread_and_run(runtime)
    if not thread_id or not summary:
        return
    store = require_store(runtime)
    namespace = memory_namespace(identity_of(runtime))
    candidate = MemoryCandidate(
        kind="summary", subject=f"conversation {thread_id}", text=summary[:2000],
        importance=0.4, confidence=1.0,
    )
    operations = await reconcile.plan(store, namespace, [candidate])
    await reconcile.apply(store, namespace, operations, Source(thread_id=thread_id, run_id=run_id))
