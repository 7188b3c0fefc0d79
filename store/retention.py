"""What a value's kind means to the store: its default TTL, its ranking, whether it is a message.

TTLs are in minutes (the store's unit) and refreshed whenever a memory is read or rewritten.
The store is generic: which kinds exist, how long each is kept and which one holds the
conversation's messages is the application's (`KindPolicy`, given to the store by its factory;
Engram's are in agent/memory/model/kinds.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langgraph.store.base import Op, PutOp

DAY = 24 * 60
HISTORY_TTL_MINUTES = 365 * DAY
"""Superseded texts (history items) are kept a year after they were replaced."""


@dataclass(frozen=True)
class MessageKind:
    """The kind that holds a conversation's own messages, one value a message.

    Messages come many at a time (a turn, an import), so their vectors are filled in off the
    write path (store/pending_vectors.py); store/conversations.py lists them by thread.
    """

    name: str
    """The values' `kind`."""
    field: str
    """The value field that is embedded (the name of its vector row)."""


@dataclass(frozen=True)
class KindPolicy:
    """What the store does by a value's `kind`: its default TTL, its ranking, its messages."""

    ttl_minutes: Mapping[str, float | None] = field(default_factory=dict)
    """Default TTL by kind (None or absent: kept until deleted)."""
    rank_bonus: Mapping[str, float] = field(default_factory=dict)
    """Added to a search hit's score by kind."""
    namespace_ttl_minutes: Mapping[str, float] = field(default_factory=dict)
    """Default TTL of everything under a namespace root, whatever its kind."""
    keep_own_ttl_superseded: frozenset[str] = frozenset()
    """Kinds that keep their own TTL once superseded (others get HISTORY_TTL_MINUTES)."""
    messages: MessageKind | None = None
    """The kind of the conversation's messages (None: every value is embedded as it is put,
    and the store keeps no conversations)."""

    def default_ttl(self, namespace: tuple[str, ...], value: Mapping[str, Any]) -> float | None:
        """The TTL a write gets when it names none."""
        if namespace and namespace[0] in self.namespace_ttl_minutes:
            return self.namespace_ttl_minutes[namespace[0]]
        kind = str(value.get("kind", ""))
        if value.get("invalid_at") and kind not in self.keep_own_ttl_superseded:
            return HISTORY_TTL_MINUTES  # a superseded text
        return self.ttl_minutes.get(kind)

    def with_default_ttl(self, op: Op) -> Op:
        """A put without a TTL gets its default; every other op is unchanged."""
        if isinstance(op, PutOp) and op.value is not None and op.ttl is None:
            ttl = self.default_ttl(op.namespace, op.value)
            if ttl is not None:
                return op._replace(ttl=ttl)
        return op
