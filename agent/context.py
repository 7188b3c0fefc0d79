"""Per-run settings: what a caller (or Studio's form) may choose for one run. No secrets here."""

from __future__ import annotations

from typing import Literal

from langgraph.runtime import Runtime
from pydantic import BaseModel, ConfigDict, Field

ApprovalPolicy = Literal["never", "on_change", "always"]


class Context(BaseModel):
    """Run context of the memory agent."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    model: str | None = Field(default=None, max_length=200)
    """Chat model as `provider:name` (e.g. openai:gpt-4.1-mini); empty: the server's MODEL or offline."""

    approval: ApprovalPolicy = "never"
    """When a human must approve memory writes: never, on_change (updates and deletions), or always."""

    max_context_tokens: int = Field(default=3000, ge=200, le=200_000)
    """Token budget of the conversation kept in the prompt; older turns are folded into a summary."""

    memory_limit: int = Field(default=5, ge=0, le=50)
    """How many memories are retrieved and shown to the model each turn."""

    min_relevance: float = Field(default=0.2, ge=-1.0, le=1.0)
    """Memories scoring below this cosine similarity are not shown to the model."""


def context_of(runtime: Runtime[Context]) -> Context:
    """The run's context, or the defaults when the caller sent none."""
    return runtime.context if isinstance(runtime.context, Context) else Context()
