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

from agent import models, telemetry
from agent.context import Context, context_of
from agent.memory.model.schema import identity_of
from agent.memory.text.offload import owned_by
from agent.memory.text.scrub import scrub_all
from agent.nodes.prompt import ADDED
from agent.prompts import SUMMARIZE_PROMPT
from agent.state import State

LINE_CHARS = 200
# Shares of the context budget: the recent messages may fill 45% of it before the oldest are
# folded (down to a quarter); the summary and the system prompt with its memories get a quarter
# each; the rest absorbs the per-message overhead of the count. So the whole prompt fits in the
# budget, unless the latest user message alone is larger.
MESSAGES_PERCENT, SUMMARY_SHARE = 45, 4


def fold_point(messages: Sequence[AnyMessage], budget: int) -> int:
    """How many of the oldest messages to fold so the rest fits in a quarter of the budget.

    The latest user message is always kept, and a tool result is never separated from the
    call that asked for it.
    """
    keep, kept_tokens = len(messages), 0
    while keep > 0:
        tokens = count_tokens_approximately([messages[keep - 1]])
        if kept_tokens + tokens > budget // 4 and keep < len(messages):
            break
        kept_tokens += tokens
        keep -= 1
    last_user = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=0)
    keep = min(keep, last_user)
    while keep > 0 and isinstance(messages[keep], ToolMessage):
        keep -= 1
    return keep


def fit(text: str, tokens: int) -> str:
    """The end of `text`, whole lines, within about `tokens` tokens (newest lines kept)."""
    lines = text.splitlines()
    while len(lines) > 1 and count_tokens_approximately(["\n".join(lines)]) > tokens:
        lines.pop(0)
    return "\n".join(lines)[-tokens * 4 :]


def said(message: AnyMessage) -> str:
    """What a message said worth summarising.

    A user's words, or what an answer added to the memories it was shown (never its restatement
    of them, which would nest in the summary).
    """
    if isinstance(message, HumanMessage):
        return message.text
    if isinstance(message, AIMessage):
        added = message.response_metadata.get(ADDED)
        return added if isinstance(added, str) else message.text
    return ""


def extractive_summary(previous: str, folded: Sequence[AnyMessage], budget: int) -> str:
    """Offline summary: one line per folded turn, the user's own words kept longest.

    When over its share of the budget, the oldest assistant lines go first, then the oldest
    user lines (what the user stated is also in their memories).
    """
    lines = [line for line in previous.splitlines() if line.strip()]
    for message in folded:
        text = said(message)
        if text.strip():
            who = "User" if isinstance(message, HumanMessage) else "Assistant"
            lines.append(f"{who}: {' '.join(text.split())[:LINE_CHARS]}")
    limit = budget // SUMMARY_SHARE
    while len(lines) > 1 and count_tokens_approximately(["\n".join(lines)]) > limit:
        oldest_reply = next((i for i, line in enumerate(lines) if line.startswith("Assistant:")),
                            0)
        lines.pop(oldest_reply)
    return "\n".join(lines)


async def summarize(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Fold the oldest turns into the running summary when the messages exceed the budget."""
    context = context_of(runtime)
    messages, budget = state["messages"], context.max_context_tokens
    if count_tokens_approximately(messages) <= budget * MESSAGES_PERCENT // 100:
        return {}
    fold = fold_point(messages, budget)
    if fold == 0:
        return {}
    folded, previous = messages[:fold], state.get("summary", "")
    if models.configured_model_name(context.model):
        transcript = "\n".join(f"{m.type}: {said(m)}" for m in folded if said(m).strip())
        reply = await models.load_chat_model(context.model).ainvoke(
            SUMMARIZE_PROMPT.format(summary=previous or "(none)", turns=transcript)
        )
        summary = fit(reply.text.strip(), budget // SUMMARY_SHARE)
    else:
        summary = extractive_summary(previous, folded, budget)
    # The summary outlives the messages it replaces: it keeps no secret they contained.
    with owned_by(identity_of(runtime).owner):  # a fair share of the text worker
        summary = (await scrub_all([summary]))[0].text
    turns = state.get("summarized_turns", 0) + sum(isinstance(m, HumanMessage) for m in folded)
    telemetry.SUMMARIZATIONS.inc()
    return {
        "summary": summary,
        "summarized_turns": turns,
        # Kept as a memory by write_memory, with the turn (summary_memory there).
        "summary_to_keep": f"Summary of turns 1-{turns} of an earlier conversation:\n{summary}",
        "messages": [RemoveMessage(id=m.id) for m in folded if m.id],
    }
