"""agent: answer the user, with their memories and the running summary in the system prompt."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import SystemMessage
from langgraph.runtime import Runtime

from agent import models
from agent.context import Context, context_of
from agent.prompts import NO_MEMORIES, SYSTEM_PROMPT
from agent.state import State


def system_prompt(memories: list[dict[str, Any]], summary: str) -> str:
    """The system prompt for one turn."""
    lines = "\n".join(f"- {m['text']}" for m in memories) or NO_MEMORIES
    return SYSTEM_PROMPT.format(memories=lines, summary=summary.strip() or NO_MEMORIES)


async def agent(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Call the chat model on the prompt: system, memories, summary, recent turns."""
    model = models.load_chat_model(context_of(runtime).model)
    prompt = SystemMessage(system_prompt(state.get("memories", []), state.get("summary", "")))
    response = await model.ainvoke([prompt, *state["messages"]])
    return {"messages": [response]}
