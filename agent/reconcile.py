"""Reconcile candidate memories with what is stored, then apply the result idempotently.

A candidate's key comes from its subject, so the plan for a turn is a pure function of the turn
and the store: running it again (retry, replay, fork) finds the memory already there and plans a
no-op, and a no-op writes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from langgraph.store.base import BaseStore, Item
from pydantic import BaseModel, ConfigDict

from agent.memory import MemoryCandidate, MemoryValue, Source, memory_key, normalise
from agent.scrub import scrub

Action = Literal["add", "update", "noop"]


class MemoryOperation(BaseModel):
    """One planned change to the store, shown to a human when approval is required."""

    model_config = ConfigDict(frozen=True)

    id: str
    action: Action
    key: str
    kind: str
    subject: str
    text: str
    previous_text: str | None = None
    importance: float
    confidence: float
    scrubbed: dict[str, int] = {}


def scrubbed_candidate(candidate: MemoryCandidate) -> tuple[MemoryCandidate, dict[str, int]]:
    """The candidate with secrets and identifiers masked in its text and subject."""
    text, subject = scrub(candidate.text), scrub(candidate.subject)
    counts = dict(text.counts)
    for name, n in subject.counts.items():
        counts[name] = counts.get(name, 0) + n
    return candidate.model_copy(update={"text": text.text, "subject": subject.text}), counts


def _decide(candidate: MemoryCandidate, existing: Item | None) -> tuple[Action, str | None]:
    if existing is None:
        return "add", None
    previous = str(existing.value.get("text", ""))
    same = normalise(previous) == normalise(candidate.text)
    return ("noop" if same else "update"), previous


async def plan(
    store: BaseStore, namespace: tuple[str, ...], candidates: Sequence[MemoryCandidate]
) -> list[MemoryOperation]:
    """Decide add / update / no-op for each candidate against the stored memory of its subject."""
    cleaned = [scrubbed_candidate(c) for c in candidates]
    keys = [memory_key(namespace, c.kind, c.subject) for c, _ in cleaned]
    found = await asyncio.gather(*(store.aget(namespace, key) for key in keys))
    operations = []
    for (candidate, counts), key, existing in zip(cleaned, keys, found, strict=True):
        action, previous = _decide(candidate, existing)
        operations.append(
            MemoryOperation(
                id=f"{action}:{key}", action=action, key=key, kind=candidate.kind,
                subject=candidate.subject, text=candidate.text, previous_text=previous,
                importance=candidate.importance, confidence=candidate.confidence, scrubbed=counts,
            )
        )
    return operations


def edited(operation: MemoryOperation, text: str) -> MemoryOperation:
    """The operation with a human's replacement text, scrubbed like any other."""
    cleaned = scrub(text)
    counts = dict(operation.scrubbed)
    for name, n in cleaned.counts.items():
        counts[name] = counts.get(name, 0) + n
    return operation.model_copy(update={"text": cleaned.text, "scrubbed": counts})


async def apply(
    store: BaseStore,
    namespace: tuple[str, ...],
    operations: Sequence[MemoryOperation],
    source: Source,
) -> None:
    """Write the adds and updates; no-ops touch nothing.

    Only updates read the stored item again (for its history): between planning and applying a
    human may have taken hours to approve.
    """
    updates = [op for op in operations if op.action == "update"]
    current = dict(zip(
        (op.key for op in updates),
        await asyncio.gather(*(store.aget(namespace, op.key) for op in updates)),
        strict=True,
    ))
    now = datetime.now(UTC).isoformat()
    puts = []
    for op in operations:
        existing = current.get(op.key)
        if op.action == "noop" or (
            existing is not None and normalise(existing.value.get("text", "")) == normalise(op.text)
        ):
            continue
        value = _value(op, existing.value if existing else None, source, now)
        puts.append(store.aput(namespace, op.key, value))
    await asyncio.gather(*puts)


def _value(
    op: MemoryOperation, existing: dict[str, Any] | None, source: Source, now: str
) -> dict[str, Any]:
    history = list(existing.get("history", [])) if existing else []
    if existing:
        history.append({"text": existing.get("text"), "until": now,
                        "source": existing.get("source")})
    return MemoryValue(
        text=op.text, kind=op.kind,  # type: ignore[arg-type]
        subject=op.subject, importance=op.importance, confidence=op.confidence,
        source=source, created_at=str(existing.get("created_at", now)) if existing else now,
        updated_at=now, scrubbed=op.scrubbed, history=history,
    ).model_dump(mode="json")
