"""agent: answer the user, with their memories and the running summary in the system prompt.

The prompt is built in agent/nodes/prompt.py.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import SystemMessage
from langgraph.runtime import Runtime

from agent import models
from agent.context import Context, context_of
from agent.memory.text.restatement import embedder_of, novel_part
from agent.nodes.prompt import ADDED, render_prompt, shown_lines
from agent.state import State


async def agent(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Call the chat model on the prompt; note what the answer added beyond its memories."""
    context = context_of(runtime)
    model = models.load_chat_model(context.model)
    summary = state.get("summary", "")
    facts, episodes = shown_lines(state.get("memories", []), context.max_context_tokens)
    prompt = SystemMessage(render_prompt(facts, episodes, summary))
    response = await model.ainvoke([prompt, *state["messages"]])
    added = await novel_part(response.text, [*facts, *episodes], embedder_of(runtime.store),
                             [line for line in summary.splitlines() if line.strip()])
    return {"messages": [response.model_copy(update={"response_metadata": {
        **response.response_metadata, ADDED: added}})]}
