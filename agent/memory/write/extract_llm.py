"""Memory extraction by a chat model, through structured output, into the same candidates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, Field

from agent.memory.model.schema import MemoryCandidate
from agent.prompts import EXTRACT_PROMPT, NO_MEMORIES


class Extraction(BaseModel):
    """What the model found worth remembering in one message."""

    memories: list[MemoryCandidate] = Field(default_factory=list)


def extraction_prompt(message: str, near: Sequence[dict[str, Any]]) -> str:
    """The extraction prompt: the turn and the closest stored memories (with their subjects)."""
    lines = "\n".join(f"- [{m.get('kind', 'fact')}] {m['text']}" for m in near) or NO_MEMORIES
    return EXTRACT_PROMPT.format(memories=lines, message=message)


async def llm_candidates(
    model: BaseChatModel, message: str, near: Sequence[dict[str, Any]]
) -> list[MemoryCandidate]:
    """Ask `model` for the memories in `message`; the reconciliation after it is shared."""
    result = await model.with_structured_output(Extraction).ainvoke(extraction_prompt(message, near))
    if not isinstance(result, Extraction):
        raise TypeError(f"structured output gave {type(result).__name__}, not Extraction")
    return result.memories
