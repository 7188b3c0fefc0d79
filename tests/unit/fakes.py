"""Honest test doubles: only for what cannot run offline (a hosted chat model)."""

from __future__ import annotations

import uuid
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.runtime import Runtime, ServerInfo
from langgraph.store.base import BaseStore

from agent.context import Context


class RecordingChatModel(BaseChatModel):
    """Answers with scripted replies, in order, and records every prompt it was given."""

    replies: list[str]
    seen: list[list[BaseMessage]] = []

    @property
    def _llm_type(self) -> str:
        return "recording-fake"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if len(self.seen) >= len(self.replies):
            raise AssertionError(f"unexpected model call #{len(self.seen) + 1}: {messages}")
        self.seen.append(list(messages))
        reply = AIMessage(content=self.replies[len(self.seen) - 1])
        return ChatResult(generations=[ChatGeneration(message=reply)])


class User(dict[str, Any]):
    """What the server hands a run as its authenticated user (identity plus our claims)."""

    @property
    def identity(self) -> str:
        return str(self["identity"])


def new_user(org: str = "acme") -> User:
    return User(identity=f"user-{uuid.uuid4().hex[:8]}", org_id=org)


def runtime_for(
    store: BaseStore | None, user: User | None = None, **context: Any
) -> Runtime[Context]:
    """A node's runtime as the server builds it: context, store and the calling user."""
    server_info = ServerInfo(assistant_id="a", graph_id="memory_agent", user=user)  # type: ignore[arg-type]
    return Runtime(context=Context(**context), store=store, server_info=server_info)


class StructuredFake(RecordingChatModel):
    """Also answers `with_structured_output(schema)` with scripted objects, recording each prompt."""

    structured: list[Any] = []
    prompts: list[str] = []

    def with_structured_output(self, schema: Any, **kwargs: Any) -> Any:
        from langchain_core.runnables import RunnableLambda

        def answer(prompt: Any) -> Any:
            if len(self.prompts) >= len(self.structured):
                raise AssertionError(f"unexpected structured call: {prompt}")
            self.prompts.append(prompt if isinstance(prompt, str) else str(prompt))
            reply = self.structured[len(self.prompts) - 1]
            assert isinstance(reply, schema), f"scripted {type(reply)} is not a {schema}"
            return reply

        return RunnableLambda(answer)


class ToolCallingFake(BaseChatModel):
    """A chat model that calls tools from a script, and records what it was sent.

    `script` holds its replies to calls with tools bound, in order: a dict
    `{"name": ..., "args": ...}` (or a list of them) is a tool call, a string an answer. Asked
    with `tool_choice="none"` (or with no tools) it answers `final`, without calling anything.
    `seen` keeps, per call, the messages, the names of the tools bound and the tool choice;
    `schemas` the tool schemas it was given.
    """

    script: list[Any]
    final: str = "That is what I know."
    seen: list[dict[str, Any]] = []
    schemas: list[dict[str, Any]] = []

    @property
    def _llm_type(self) -> str:
        return "tool-calling-fake"

    def bind_tools(self, tools: Any, *, tool_choice: str | None = None, **kwargs: Any) -> Any:
        from langchain_core.utils.function_calling import convert_to_openai_tool

        self.schemas = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=self.schemas, tool_choice=tool_choice, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        tools = [t["function"]["name"] for t in kwargs.get("tools") or []]
        choice = kwargs.get("tool_choice")
        self.seen.append({"messages": list(messages), "tools": tools, "tool_choice": choice})
        if not tools or choice == "none":
            reply = AIMessage(content=self.final, id=f"ai-{uuid.uuid4().hex[:8]}")
        else:
            step = self.script.pop(0) if self.script else self.final
            calls = step if isinstance(step, list) else [step] if isinstance(step, dict) else []
            reply = AIMessage(
                content="" if calls else str(step), id=f"ai-{uuid.uuid4().hex[:8]}",
                tool_calls=[{"name": c["name"], "args": c["args"], "id": f"call-{uuid.uuid4().hex[:8]}",
                             "type": "tool_call"} for c in calls])
        return ChatResult(generations=[ChatGeneration(message=reply)])
