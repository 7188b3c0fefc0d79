"""Search memories (facts and episodes together) across namespaces, best first.

The ranking itself is the store's (store/search.py): meaning and words fused in SQL, nudged by
importance, kind and recency, the same for the retrieve node and the HTTP API. Here the results
of several namespaces are merged, superseded history is left out, and memories that match
neither by meaning (similarity under `min_relevance`) nor by any word are dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from langgraph.store.base import BaseStore, SearchItem

from agent.memory.reconcile import is_current
from agent.memory.schema import matched_words, similarity

# Superseded history items share the namespace: fetch a little more than asked, then filter.
OVERFETCH = 3
MAX_FETCH = 50


def is_relevant(item: SearchItem, min_relevance: float) -> bool:
    """Whether a hit matched the query's words, or its meaning at least `min_relevance`."""
    return matched_words(item) or similarity(item) >= min_relevance


async def search_memories(
    store: BaseStore,
    namespaces: Sequence[tuple[str, ...]],
    query: str,
    *,
    limit: int,
    min_relevance: float,
    fetch: int | None = None,
) -> list[tuple[SearchItem, float]]:
    """The `limit` best current memories for `query` across `namespaces`, with their scores.

    Each namespace gives its best `fetch` hits (default: a few more than `limit`, at most
    MAX_FETCH) before history and irrelevant hits are dropped; a caller that filters further
    asks for more. The searches run concurrently; the store batches them into one round trip
    and embeds the query once per search in a single model call.
    """
    if limit <= 0:
        return []
    fetch = fetch or min(limit * OVERFETCH, MAX_FETCH)
    found = await asyncio.gather(*(store.asearch(ns, query=query, limit=fetch) for ns in namespaces))
    ranked = [
        (hit, hit.score or 0.0)
        for batch in found for hit in batch
        if is_current(hit) and is_relevant(hit, min_relevance)
    ]
    ranked.sort(key=lambda pair: pair[1], reverse=True)
    return ranked[:limit]
