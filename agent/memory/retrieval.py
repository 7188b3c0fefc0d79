"""Search and rank memories: semantic similarity first, nudged by importance, kind and recency."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from datetime import UTC, datetime

from langgraph.store.base import BaseStore, SearchItem

from agent.memory.reconcile import is_current

# How much beyond similarity each signal may move a memory. Similarity dominates: these break
# near-ties and lift what the user corrected or asked for over incidental facts.
KIND_BONUS = {"feedback": 0.08, "procedural": 0.06, "preference": 0.03, "fact": 0.0,
              "summary": -0.05}
IMPORTANCE_WEIGHT = 0.1
RECENCY_WEIGHT = 0.05
RECENCY_HALF_LIFE_DAYS = 60.0
# Superseded history items share the namespace: fetch a little more than asked, then filter.
OVERFETCH = 3
MAX_FETCH = 50


def rank_score(item: SearchItem, now: datetime) -> float:
    """The ranking score of a search hit (its similarity plus small bonuses)."""
    age_days = max((now - item.updated_at).total_seconds() / 86400, 0.0)
    recency = math.exp(-math.log(2) * age_days / RECENCY_HALF_LIFE_DAYS)
    importance = float(item.value.get("importance", 0.5))
    return (
        (item.score or 0.0)
        + IMPORTANCE_WEIGHT * importance
        + RECENCY_WEIGHT * recency
        + KIND_BONUS.get(str(item.value.get("kind", "fact")), 0.0)
    )


async def search_memories(
    store: BaseStore,
    namespaces: Sequence[tuple[str, ...]],
    query: str,
    *,
    limit: int,
    min_relevance: float,
    now: datetime | None = None,
) -> list[tuple[SearchItem, float]]:
    """The `limit` best current memories for `query` across `namespaces`, best first.

    The searches run concurrently; the store batches them into one round trip and embeds the
    query once per search in a single model call.
    """
    if limit <= 0:
        return []
    fetch = min(limit * OVERFETCH, MAX_FETCH)
    found = await asyncio.gather(*(store.asearch(ns, query=query, limit=fetch) for ns in namespaces))
    hits = [hit for batch in found for hit in batch]
    moment = now or datetime.now(UTC)
    ranked = [
        (hit, rank_score(hit, moment))
        for hit in hits
        if is_current(hit) and (hit.score or 0.0) >= min_relevance
    ]
    ranked.sort(key=lambda pair: pair[1], reverse=True)
    return ranked[:limit]
