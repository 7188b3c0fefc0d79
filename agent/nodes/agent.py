"""agent: answer the user, with their memories and the running summary in the system prompt."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from langchain_core.messages import SystemMessage
from langchain_core.messages.utils import count_tokens_approximately
from langgraph.runtime import Runtime

from agent import models
from agent.context import Context, context_of
from agent.memory.episodes import is_episode
from agent.prompts import ASSISTANT_SAID, NO_MEMORIES, SYSTEM_PROMPT, USER_SAID
from agent.server.metrics import timed_node
from agent.state import State

MEMORY_SHARE = 4
EXCERPT_CHARS = 600
"""Longest quote of one episode in the prompt (long answers are cut, the opening kept)."""


def quoted(memory: dict[str, Any]) -> str:
    """An episode as one dated, quoted line: JSON quoting keeps its text from leaving the quote."""
    text = " ".join(str(memory.get("text", "")).split())
    if len(text) > EXCERPT_CHARS:
        text = text[:EXCERPT_CHARS].rsplit(" ", 1)[0] + " ..."
    said_at = str(memory.get("said_at", ""))
    try:
        moment = datetime.fromisoformat(said_at)
        date = f"{moment.day} {moment:%B %Y}"
    except ValueError:
        date = "an earlier day"
    template = ASSISTANT_SAID if memory.get("role") == "assistant" else USER_SAID
    return template.format(date=date, quote=json.dumps(text, ensure_ascii=False))


def system_prompt(memories: list[dict[str, Any]], summary: str, budget: int) -> str:
    """The system prompt for one turn: facts, then episodes, as many as fit the memory share."""
    room = budget // MEMORY_SHARE - count_tokens_approximately([SYSTEM_PROMPT])
    facts = [f"- {m['text']}" for m in memories if not is_episode(m)]
    episodes = [f"- {quoted(m)}" for m in memories if is_episode(m)]
    shown: list[str] = []
    for line in [*facts, *episodes]:  # facts first; each group best first
        # A line that does not fit is left out; a shorter one after it may still fit.
        if count_tokens_approximately(["\n".join([*shown, line])]) <= room:
            shown.append(line)
    return SYSTEM_PROMPT.format(
        memories="\n".join(line for line in shown if line in facts) or NO_MEMORIES,
        episodes="\n".join(line for line in shown if line in episodes) or NO_MEMORIES,
        summary=summary.strip() or NO_MEMORIES,
    )


@timed_node
async def agent(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Call the chat model on the prompt: system, memories, summary, recent turns."""
    context = context_of(runtime)
    model = models.load_chat_model(context.model)
    prompt = SystemMessage(system_prompt(state.get("memories", []), state.get("summary", ""),
                                         context.max_context_tokens))
    response = await model.ainvoke([prompt, *state["messages"]])
    return {"messages": [response]}
