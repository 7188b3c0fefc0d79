"""What a user can see of their memory: list, search, get, find the one a description names.

The memory service uses these (agent/memory/service.py); corrections are in
agent/memory/write/corrections.py. Each function acts on namespaces the
caller passes, which the server derives from the caller's token: nothing here widens them.
Search ranks exactly as the retrieve node does (agent/memory/read/retrieval.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from langgraph.store.base import BaseStore, Item, SearchItem

from agent.context import Context
from agent.memory.model.episodes import is_episode, is_findable
from agent.memory.model.kinds import EPISODE
from agent.memory.model.schema import Stored, matched_words, similarity
from agent.memory.read.retrieval import search_memories

PAGE = 100
MAX_PAGES = 20
"""A listing reads at most this many pages of PAGE items (superseded texts are skipped)."""
FILTERED_FETCH = 200
"""Hits taken per namespace before a kind filter, or leaving episodes out, is applied."""
FORGET_MATCH = 0.5
"""A "forget ..." request names the closest memory only when it is at least this similar
(cosine, all-MiniLM-L6-v2 scale); reconciliation holds spoken requests to the same bar."""


class MemoryNotFound(LookupError):
    """No current memory has this key in the caller's namespace."""


def present(item: Item, namespace: tuple[str, ...]) -> dict[str, Any]:
    """A stored memory as the console and MCP show it (no internal match data)."""
    value = dict(item.value)
    shown: dict[str, Any] = {"key": item.key, **value, "kind": value.get("kind", "fact"),
                             "shared": tuple(item.namespace) != namespace}
    if isinstance(item, SearchItem) and item.score is not None:
        shown["score"] = round(item.score or 0.0, 4)
        shown["similarity"] = round(similarity(item), 4)
        shown["matched_words"] = matched_words(item)
    return shown


def _wanted(item: Item, kind: str | None) -> bool:
    """Current, and of `kind` (None: any kind but episodes, which the conversation view shows)."""
    if not is_findable(item):
        return False
    if kind is None:
        return not is_episode(item.value)
    return Stored(item.value).kind == kind


async def recent(
    store: BaseStore, namespace: tuple[str, ...], limit: int, kind: str | None = None
) -> list[Item]:
    """The `limit` most recently written current memories of `namespace`, newest first.

    `kind` None lists every kind but episodes; items without a `kind` (written raw through the
    HTTP store API) are not listed.
    """
    wanted: list[Item] = []
    value_filter = {"kind": kind} if kind else {"kind": {"$ne": EPISODE}}
    for page in range(MAX_PAGES):
        items = await store.asearch(namespace, filter=value_filter, limit=PAGE, offset=page * PAGE)
        wanted.extend(item for item in items if _wanted(item, kind))
        if len(wanted) >= limit or len(items) < PAGE:
            break
    return wanted[:limit]


async def search(
    store: BaseStore, namespaces: Sequence[tuple[str, ...]], query: str, limit: int,
    kind: str | None = None, *, episodes: bool = True,
) -> list[SearchItem]:
    """The best current memories for `query`: the retrieve node's ranking and relevance floor.

    `kind` keeps one kind; `episodes=False` leaves episodes out (the console lists them apart).
    """
    filtered = kind is not None or not episodes
    # Filtering happens after ranking: look deeper, so that kind's memories are not crowded
    # out by the many episodes of a long history.
    ranked = await search_memories(store, namespaces, query, limit=FILTERED_FETCH if filtered
                                   else limit, min_relevance=Context().min_relevance,
                                   fetch=FILTERED_FETCH if filtered else None)
    hits = [item for item, _ in ranked
            if (kind is None or Stored(item.value).kind == kind)
            and (episodes or kind == EPISODE or not is_episode(item.value))]
    return hits[:limit]


async def history_of(store: BaseStore, namespace: tuple[str, ...], item: Item) -> list[Item]:
    """The superseded memories this one replaced (its `supersedes` keys), oldest first."""
    keys = Stored(item.value).supersedes
    found = await asyncio.gather(*(store.aget(namespace, key) for key in keys))
    return [old for old in found if old is not None]


async def current(store: BaseStore, namespace: tuple[str, ...], key: str) -> Item:
    """The current memory `key` of `namespace`; MemoryNotFound if there is none."""
    item = await store.aget(namespace, key)
    if item is None or not is_findable(item):
        raise MemoryNotFound(f"no memory with key {key!r} is yours: list them to find its key")
    return item


async def matching(store: BaseStore, namespace: tuple[str, ...], text: str) -> Item:
    """The one memory (not an episode) that `text` names, as "forget that ..." finds it.

    It must match by meaning as closely as a spoken forget request must (FORGET_MATCH).
    """
    hits = await search(store, [namespace], text, limit=1, episodes=False)
    if not hits or similarity(hits[0]) < FORGET_MATCH:
        raise MemoryNotFound(f"no memory of yours matches {text!r} closely enough: search for it "
                             "and forget it by its key")
    return hits[0]
