"""Chat models: the one seam through which nodes get a model, and the offline responder."""

from __future__ import annotations

import json
import os
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.outputs import ChatGeneration, ChatResult

from agent.prompts import EPISODES_HEADER, MEMORY_HEADER, NO_MEMORIES, SUMMARY_HEADER

OFFLINE_RESPONDER = "offline-responder"


class ModelConfigError(RuntimeError):
    """The configured chat model cannot be built."""


class ModelNotAllowed(ModelConfigError):
    """A run named a chat model this server does not offer."""


def allowed_models() -> frozenset[str]:
    """What a run may name as its model: ENGRAM_ALLOWED_MODELS, else only the server's MODEL.

    The server's key pays for every call, so a caller chooses among what the operator listed.
    The offline responder costs nothing and is always allowed.
    """
    listed = os.environ.get("ENGRAM_ALLOWED_MODELS", "") or os.environ.get("MODEL", "")
    return frozenset({m.strip() for m in listed.split(",") if m.strip()} | {OFFLINE_RESPONDER})


def check_model(name: str | None) -> None:
    """Raise ModelNotAllowed when a run names a model the server does not offer."""
    if name and name.strip() and name.strip() not in (allowed := allowed_models()):
        raise ModelNotAllowed(f"model {name.strip()!r} is not offered by this server; choose one "
                              f"of {sorted(allowed)} or leave `model` empty (operators list "
                              "models in ENGRAM_ALLOWED_MODELS)")


def configured_model_name(name: str | None) -> str | None:
    """The run's model (if the server offers it), else the server's `MODEL`, else None."""
    check_model(name)
    return (name or os.environ.get("MODEL", "")).strip() or None


def load_chat_model(name: str | None) -> BaseChatModel:
    """Build the chat model `provider:name`; None gives the deterministic offline responder.

    OpenAI and OpenAI-compatible servers (vLLM, Ollama, llama.cpp) go through langchain-openai,
    which reads OPENAI_API_KEY and OPENAI_BASE_URL from the environment.
    """
    resolved = configured_model_name(name)
    if resolved is None or resolved == OFFLINE_RESPONDER:
        return OfflineResponder()
    provider, _, model = resolved.partition(":")
    if not model:
        raise ModelConfigError(
            f"model {resolved!r} is not `provider:name` (e.g. openai:gpt-4.1-mini)"
        )
    if provider == "openai":
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(model=model, temperature=0)
    try:
        from langchain.chat_models import init_chat_model  # type: ignore[import-not-found]
    except ImportError as err:
        raise ModelConfigError(
            f"provider {provider!r} needs `pip install langchain langchain-{provider}`; "
            "openai (and OpenAI-compatible servers through OPENAI_BASE_URL) works out of the box"
        ) from err
    chat: Any = init_chat_model(resolved, temperature=0)
    return chat  # type: ignore[no-any-return]


def section(prompt: str, header: str) -> list[str]:
    """The lines of one section of our system prompt, up to the next blank line."""
    lines = prompt.split("\n")
    if header not in lines:  # a header is a line of its own, never words inside a memory
        return []
    body = "\n".join(lines[lines.index(header) + 1:]).strip("\n").split("\n\n", 1)[0]
    return [line.strip() for line in body.splitlines()
            if line.strip() and line.strip() != NO_MEMORIES]


def unquoted(line: str) -> str:
    """A prompt line's text: a JSON-quoted memory without its quotes, anything else as it is."""
    try:
        value = json.loads(line)
    except ValueError:
        return line
    return value if isinstance(value, str) else line


class OfflineResponder(BaseChatModel):
    """A deterministic stand-in for a chat model: it answers from the memories and episodes in its prompt.

    It lets the whole loop run with no model configured, and it records what it was shown in
    the reply's `response_metadata["seen"]` so callers can check what reached the model.
    """

    @property
    def _llm_type(self) -> str:
        return OFFLINE_RESPONDER

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        system = "\n".join(m.text for m in messages if isinstance(m, SystemMessage))
        memories = [unquoted(line.removeprefix("- ")) for line in section(system, MEMORY_HEADER)]
        episodes = [line.removeprefix("- ") for line in section(system, EPISODES_HEADER)]
        summary = section(system, SUMMARY_HEADER)
        question = next((m.text for m in reversed(messages) if isinstance(m, HumanMessage)), "")
        if memories or episodes:
            answer = "From what I remember: " + " ".join([*memories, *episodes])
        elif question.rstrip().endswith("?"):
            answer = "I don't remember anything about that yet."
        else:
            answer = "Noted."
        seen = {
            "memories": memories,
            "episodes": episodes,
            "summary": " ".join(summary),
            "messages": len(messages),
            "prompt_tokens": count_tokens_approximately(messages),
            "last_user_message": question[:500],
        }
        message = AIMessage(
            content=answer, response_metadata={"model_name": OFFLINE_RESPONDER, "seen": seen}
        )
        return ChatResult(generations=[ChatGeneration(message=message)])
