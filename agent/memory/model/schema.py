"""The semantic memory model: who owns a memory, where it lives, its key and its stored value."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from langgraph.runtime import ServerInfo
from langgraph.store.base import SearchItem
from pydantic import BaseModel, ConfigDict, Field

from agent.memory.model.kinds import MemoryKind
from store.search import RankedItem

MEMORY_ROOT = "memories"
LEDGER_ROOT = "memory_ledger"
USAGE_ROOT = "memory_usage"
SHARED = "shared"
_KEY_NAMESPACE = uuid.UUID("6f1c1d2e-4a57-4f0e-9d55-0c2b3b1e7a10")


@dataclass(frozen=True)
class Identity:
    """Who a memory belongs to."""

    user_id: str
    org_id: str

    @property
    def owner(self) -> str:
        """One string per user of each organisation (a fair-share key)."""
        return f"{self.org_id}/{self.user_id}"


# Runs outside the server (scripts, benchmarks) have no authenticated user: one local owner.
LOCAL = Identity(user_id="local", org_id="local")


def label(value: str) -> str:
    """An id as a namespace label, with '%' and '.' percent-encoded.

    Store labels cannot hold dots (emails do); the encoding keeps distinct ids distinct.
    """
    return value.replace("%", "%25").replace(".", "%2E")


def _owner(identity: Identity) -> tuple[str, str]:
    # "user:" keeps every user's label apart from the organisation's "shared".
    return label(identity.org_id), f"user:{label(identity.user_id)}"


def memory_namespace(identity: Identity) -> tuple[str, str, str]:
    """The store namespace of a user's memories; the only place this tuple is built."""
    return (MEMORY_ROOT, *_owner(identity))


def ledger_namespace(identity: Identity) -> tuple[str, str, str]:
    """Where the turns whose memory operations were applied are recorded (not searchable)."""
    return (LEDGER_ROOT, *_owner(identity))


def usage_namespace(identity: Identity) -> tuple[str, str, str]:
    """Where retrieval counts of a user's memories are kept (one item per memory key)."""
    return (USAGE_ROOT, *_owner(identity))


def shared_namespace(org_id: str) -> tuple[str, str, str]:
    """The store namespace of an organisation's shared knowledge."""
    return (MEMORY_ROOT, label(org_id), SHARED)


class RunInfo(Protocol):
    """A node's Runtime or a tool's ToolRuntime: both carry the server's view of the run."""

    @property
    def server_info(self) -> ServerInfo | None:
        """The server's view of the run (its authenticated user), None outside a server."""


def identity_of(runtime: RunInfo) -> Identity:
    """The authenticated caller of this run (set by the server from our auth), else LOCAL."""
    user = runtime.server_info.user if runtime.server_info else None
    if user is None:
        return LOCAL
    org = user.get("org_id") if isinstance(user, Mapping) or hasattr(user, "get") else None
    return Identity(user_id=str(user.identity), org_id=str(org or LOCAL.org_id))


def normalise(text: str) -> str:
    """Lower-case, single-spaced, without trailing punctuation: the form keys are made from."""
    return " ".join(text.lower().split()).strip(" .!?,;:")


def memory_key(namespace: tuple[str, ...], kind: str, subject: str) -> str:
    """A deterministic key: the same subject in the same namespace always maps to one item."""
    return str(uuid.uuid5(_KEY_NAMESPACE, "/".join((*namespace, kind, normalise(subject)))))


class MemoryCandidate(BaseModel):
    """A memory proposed from a turn, before reconciliation with what is stored."""

    model_config = ConfigDict(frozen=True)

    kind: MemoryKind
    subject: str = Field(min_length=1, max_length=200)
    """What the memory is about; one subject holds one current memory."""
    text: str = Field(min_length=1, max_length=2000)
    importance: float = Field(default=0.5, ge=0.0, le=1.0)
    confidence: float = Field(default=0.8, ge=0.0, le=1.0)
    forget: bool = False
    """The user asked to forget this (the memory matching it is deleted)."""


class Source(BaseModel):
    """Where a memory came from."""

    thread_id: str | None = None
    run_id: str | None = None
    checkpoint_id: str | None = None
    message_id: str | None = None


class MemoryValue(BaseModel):
    """A memory as stored in the LangGraph store (`text` is the embedded field)."""

    text: str
    kind: MemoryKind
    subject: str
    importance: float
    confidence: float
    source: Source
    created_at: str
    updated_at: str
    scrubbed: dict[str, int] = Field(default_factory=dict)
    """How many values of each category were masked before storage (never the values)."""
    history: list[dict[str, Any]] = Field(default_factory=list)
    """Earlier texts of this memory, oldest first, with when and why they were replaced."""
    supersedes: list[str] = Field(default_factory=list)
    """Keys of the contradicted memories this one replaced (kept as history items)."""
    said_in: list[str] = Field(default_factory=list)
    """Keys of the user episodes that stated it (agent/memory/write/evidence.py)."""
    invalid_at: str | None = None
    """When a later statement contradicted this memory; set only on history items."""
    superseded_by: str | None = None
    """Key of the memory that replaced this one; set only on history items."""


def similarity(item: SearchItem) -> float:
    """A search hit's cosine similarity to the query (its ranking score adds more than meaning)."""
    return item.similarity if isinstance(item, RankedItem) else item.score or 0.0


def matched_words(item: SearchItem) -> bool:
    """Whether a search hit shares a word with the query (the store's lexical signal)."""
    return isinstance(item, RankedItem) and item.lexical > 0


@dataclass(frozen=True)
class Stored:
    """Typed reads of a stored value, with the defaults every reader would otherwise repeat.

    A value written raw through the HTTP store API may lack any field: these never raise.
    """

    value: Mapping[str, Any]

    @property
    def text(self) -> str:
        """What the memory says (empty if it says nothing)."""
        return str(self.value.get("text", ""))

    @property
    def kind(self) -> str:
        """Its kind; a value without one is a fact."""
        return str(self.value.get("kind", "fact"))

    @property
    def subject(self) -> str:
        """What it is about."""
        return str(self.value.get("subject", ""))

    @property
    def importance(self) -> float:
        """From 0 to 1 (0.5 when unset)."""
        return float(self.value.get("importance", 0.5))

    @property
    def confidence(self) -> float:
        """From 0 to 1 (0.8 when unset, as for an extracted memory)."""
        return float(self.value.get("confidence", 0.8))

    @property
    def said_in(self) -> list[str]:
        """Keys of the user episodes that stated it."""
        return [str(key) for key in self.value.get("said_in", [])]

    @property
    def supersedes(self) -> list[str]:
        """Keys of the history items it replaced."""
        return [str(key) for key in self.value.get("supersedes", [])]
