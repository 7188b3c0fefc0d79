"""How long things are kept: memory TTLs by kind, and checkpoint pruning.

TTLs are in minutes (the store's unit) and refreshed whenever a memory is read or rewritten.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.store.base import Op, PutOp

DAY = 24 * 60
KIND_TTL_MINUTES: dict[str, float | None] = {
    "preference": None,  # kept until the user changes it
    "procedural": None,  # instructions hold until withdrawn
    "fact": 365 * DAY,
    "feedback": 90 * DAY,  # ranks high, but about answers that age quickly
    "summary": 180 * DAY,
    "episode": 365 * DAY,  # the conversation itself; ENGRAM_EPISODE_TTL_DAYS changes it
}
HISTORY_TTL_MINUTES = 365 * DAY
"""Superseded texts (history items) are kept a year after they were replaced."""
NAMESPACE_TTL_MINUTES = {"memory_ledger": 90 * DAY}
"""The turn ledger only has to outlive the replays anyone will make of a turn."""


def default_ttl(
    namespace: tuple[str, ...], value: Mapping[str, Any],
    kinds: Mapping[str, float | None] = KIND_TTL_MINUTES,
) -> float | None:
    """The TTL a write gets when it names none (`kinds`: minutes by memory kind)."""
    if namespace and namespace[0] in NAMESPACE_TTL_MINUTES:
        return NAMESPACE_TTL_MINUTES[namespace[0]]
    if value.get("invalid_at") and value.get("kind") != "episode":
        return HISTORY_TTL_MINUTES  # a superseded fact; a superseded episode keeps its own TTL
    return kinds.get(str(value.get("kind", "")))


def with_default_ttl(op: Op, kinds: Mapping[str, float | None] = KIND_TTL_MINUTES) -> Op:
    """A put without a TTL gets its kind's default; every other op is unchanged."""
    if isinstance(op, PutOp) and op.value is not None and op.ttl is None:
        ttl = default_ttl(op.namespace, op.value, kinds)
        if ttl is not None:
            return op._replace(ttl=ttl)
    return op
