"""Search memories (facts and episodes together) across namespaces, best first.

The ranking itself is the store's (store/search.py): meaning and words fused in SQL, nudged by
importance, kind and recency, the same for the retrieve node and the HTTP API. Here the results
of several namespaces are merged, superseded history is left out, and memories that match
neither by meaning (similarity under `min_relevance`) nor by any word are dropped, as is the
user's own earlier asking of the same question. Episodes that stated a since-superseded value
stay (what else they said is still true) but rank lower (store/search.py) and are shown as dated
history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from langgraph.store.base import BaseStore, SearchItem

from agent.memory.model.episodes import is_episode, is_findable
from agent.memory.model.schema import Stored, matched_words, similarity
from agent.memory.text.restatement import same_question

# Superseded history items share the namespace: fetch a little more than asked, then filter.
OVERFETCH = 3
MAX_FETCH = 50


def is_relevant(item: SearchItem, min_relevance: float) -> bool:
    """Whether a hit matched the query's words, or its meaning at least `min_relevance`."""
    return matched_words(item) or similarity(item) >= min_relevance


@dataclass(frozen=True)
class Found:
    """A search's memories, best first, and the episodes where the query was asked before."""

    ranked: list[tuple[SearchItem, float]]
    asked_before: list[str]


async def find_memories(
    store: BaseStore,
    namespaces: Sequence[tuple[str, ...]],
    query: str,
    *,
    limit: int,
    min_relevance: float,
    fetch: int | None = None,
) -> Found:
    """The `limit` best current memories for `query` across `namespaces`, with their scores.

    Each namespace gives its best `fetch` hits (default: a few more than `limit`, at most
    MAX_FETCH) before history and irrelevant hits are dropped; a caller that filters further
    asks for more. The query asked before (a user episode that is the same question) is not a
    memory of its answer: it is left out, and its key reported. The searches run concurrently;
    the store batches them into one round trip and embeds the query once in one model call.
    """
    if limit <= 0:
        return Found([], [])
    fetch = fetch or min(limit * OVERFETCH, MAX_FETCH)
    found = await asyncio.gather(*(store.asearch(ns, query=query, limit=fetch) for ns in namespaces))
    hits = [hit for batch in found for hit in batch
            if is_findable(hit) and is_relevant(hit, min_relevance)]
    repeats = [hit for hit in hits if is_episode(hit.value) and hit.value.get("role") == "user"
               and same_question(query, Stored(hit.value).text)]
    ranked = [(hit, hit.score or 0.0) for hit in hits if hit not in repeats]
    ranked.sort(key=lambda pair: pair[1], reverse=True)
    return Found(ranked[:limit], [hit.key for hit in repeats])


async def search_memories(
    store: BaseStore,
    namespaces: Sequence[tuple[str, ...]],
    query: str,
    *,
    limit: int,
    min_relevance: float,
    fetch: int | None = None,
) -> list[tuple[SearchItem, float]]:
    """The `limit` best current memories for `query` (see `find_memories`), with their scores."""
    found = await find_memories(store, namespaces, query, limit=limit,
                                min_relevance=min_relevance, fetch=fetch)
    return found.ranked
