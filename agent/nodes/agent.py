"""agent: answer the user, with their memories and the running summary in the system prompt."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import SystemMessage
from langchain_core.messages.utils import count_tokens_approximately
from langgraph.runtime import Runtime

from agent import models
from agent.context import Context, context_of
from agent.prompts import NO_MEMORIES, SYSTEM_PROMPT
from agent.server.metrics import timed_node
from agent.state import State

MEMORY_SHARE = 4


def system_prompt(memories: list[dict[str, Any]], summary: str, budget: int) -> str:
    """The system prompt for one turn: the best memories that fit in their share of the budget."""
    room = budget // MEMORY_SHARE - count_tokens_approximately([SYSTEM_PROMPT])
    lines: list[str] = []
    for memory in memories:  # best first
        line = f"- {memory['text']}"
        if lines and count_tokens_approximately(["\n".join([*lines, line])]) > room:
            break
        lines.append(line)
    return SYSTEM_PROMPT.format(memories="\n".join(lines) or NO_MEMORIES,
                                summary=summary.strip() or NO_MEMORIES)


@timed_node
async def agent(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Call the chat model on the prompt: system, memories, summary, recent turns."""
    context = context_of(runtime)
    model = models.load_chat_model(context.model)
    prompt = SystemMessage(system_prompt(state.get("memories", []), state.get("summary", ""),
                                         context.max_context_tokens))
    response = await model.ainvoke([prompt, *state["messages"]])
    return {"messages": [response]}
