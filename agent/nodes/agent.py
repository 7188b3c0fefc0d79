"""agent: answer the user, with their memories and the running summary in the system prompt.

The prompt is built in agent/nodes/prompt.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolCall
from langchain_core.runnables import Runnable
from langgraph.runtime import Runtime

from agent import models, telemetry
from agent.context import Context, context_of
from agent.memory.service import embedder_of_run
from agent.memory.text.restatement import novel_part
from agent.nodes.prompt import ADDED, render_prompt, shown_lines
from agent.state import State
from agent.tools import MAX_TOOL_CALLS, TOOLS


def tool_calls_this_turn(messages: Sequence[AnyMessage]) -> list[ToolCall]:
    """The memory tool calls the model made since the user's latest message."""
    start = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
    return [call for m in messages[start + 1:] if isinstance(m, AIMessage) for call in m.tool_calls]


def _signature(call: ToolCall) -> str:
    return json.dumps([call["name"], call["args"]], sort_keys=True, default=str)


def with_tools(model: BaseChatModel) -> Runnable[Any, Any] | None:
    """The model with Engram's memory tools bound, None when it cannot call tools."""
    try:
        return model.bind_tools(TOOLS)
    except NotImplementedError:  # the offline responder, and any model without tool calling
        return None


async def answer_only(model: BaseChatModel, prompt: list[AnyMessage]) -> AIMessage:
    """The model's answer, with no tool call in it.

    The tools stay declared (some providers refuse a conversation holding tool calls without
    them), with `tool_choice="none"` where the model takes it; a call made anyway is dropped.
    """
    try:
        bound: Runnable[Any, Any] = model.bind_tools(TOOLS, tool_choice="none")
    except (NotImplementedError, ValueError, TypeError):
        bound = model
    reply = await bound.ainvoke(prompt)
    if not isinstance(reply, AIMessage) or reply.tool_calls:
        return AIMessage(content=reply.content, id=reply.id)  # a call it made anyway is dropped
    return reply


async def agent(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Call the chat model on the prompt; note what the answer added beyond its memories.

    A model that can call tools gets the memory tools (agent/tools.py) and may call them, up
    to MAX_TOOL_CALLS a turn; a call it already made this turn, or one past the limit, is not
    run: the model is asked again without tools, to answer with what it has.
    """
    context = context_of(runtime)
    model = models.load_chat_model(context.model)
    summary = state.get("summary", "")
    facts, episodes = shown_lines(state.get("memories", []), context.max_context_tokens)
    prompt = [SystemMessage(render_prompt(facts, episodes, summary)), *state["messages"]]
    made = tool_calls_this_turn(state["messages"])
    tooled = with_tools(model)
    response = await (tooled or model).ainvoke(prompt)
    if tooled is not None and response.tool_calls:
        before = {_signature(call) for call in made}
        repeated = any(_signature(call) in before for call in response.tool_calls)
        if repeated or len(made) + len(response.tool_calls) > MAX_TOOL_CALLS:
            telemetry.TOOL_LOOPS_STOPPED.labels(reason="repeat" if repeated else "limit").inc()
            response = await answer_only(model, prompt)
        else:
            return {"messages": [response]}
    if tooled is not None:
        telemetry.TOOL_CALLS_PER_TURN.observe(len(made))
    added = await novel_part(response.text, [*facts, *episodes], embedder_of_run(runtime),
                             [line for line in summary.splitlines() if line.strip()])
    return {"messages": [response.model_copy(update={"response_metadata": {
        **response.response_metadata, ADDED: added}})]}
