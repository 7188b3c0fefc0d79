"""The graph's state: the conversation, its running summary, and what retrieve found."""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict


class InputState(TypedDict):
    """What a caller sends: new messages."""

    messages: Annotated[list[AnyMessage], add_messages]


class State(InputState, total=False):
    """The full state checkpointed after every step."""

    summary: str
    """Running summary of the turns folded out of `messages`."""
    summarized_turns: int
    """How many user turns the summary covers."""
    summary_to_keep: str
    """The memory text of the summary this turn's summarize made, for write_memory to keep
    (through the one write path: ledger, approval policy); empty once kept."""
    memories: list[dict[str, Any]]
    """Memories retrieved for the current turn: key, text, kind, score."""
    asked_before: list[str]
    """Keys of the episodes where the user asked the current question before (not shown)."""
    memory_operations: list[dict[str, Any]]
    """What write_memory did this turn (for the caller and for audits)."""
    pending_memory_operations: list[dict[str, Any]]
    """Operations waiting for a human's approval, shown to the caller; approve_memory writes
    from the turn's plan in the ledger, never from this copy."""
