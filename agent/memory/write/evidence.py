"""Which episodes state a memory: so superseding it dates them and forgetting it removes them.

A memory records the user episodes it was learned from (`said_in`: the turn that stated it, and
every later turn that stated it again). Beyond those links, an episode *states* a memory when it
holds all of the memory's marker words: the names and numbers in its text ("Oslo", "Biscuit",
"42"), or, for a text with none, its content words outside its subject. Those are looked for
among the best SEARCH_DEPTH hits of a search for the memory's text, so an answer that repeated the
value, or a turn the rules did not learn from, is found too.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

from langgraph.store.base import BaseStore, Item

from agent.memory.model.episodes import EPISODE_INDEX, gist, is_episode
from agent.memory.model.kinds import EPISODE
from agent.memory.model.schema import Stored
from agent.memory.text.restatement import content_words, stem

SEARCH_DEPTH = 100
"""Hits of a search for a memory's text in which episodes stating it are looked for."""
_TOKEN = re.compile(r"[A-Za-z0-9][\w'-]*")
_GENERIC = frozenset({"user", "i", "the"})


def marker_words(text: str, subject: str = "") -> frozenset[str]:
    """The words an episode must hold to state `text` (stemmed, lower-cased).

    Its names and numbers; for a text with none, its content words outside its subject.
    """
    tokens = _TOKEN.findall(text)
    names = {stem(t.lower()) for i, t in enumerate(tokens)
             if (t[0].isupper() and i > 0) or any(c.isdigit() for c in t)}
    names -= _GENERIC
    if names:
        return frozenset(names)
    return frozenset(set(content_words(text)) - set(content_words(subject)) - _GENERIC)


def states(episode_text: str, markers: frozenset[str]) -> bool:
    """Whether an episode's text holds every marker word."""
    return bool(markers) and markers <= set(content_words(episode_text))


async def stating_episodes(
    store: BaseStore, namespace: tuple[str, ...], memories: Sequence[dict[str, Any]],
    unless: frozenset[str] = frozenset(),
) -> list[Item]:
    """The episodes of `namespace` that state any of `memories` (stored values).

    Linked episodes (`said_in`) always count; searched ones must hold the memory's marker words
    and not all of `unless` (the marker words of a value that replaced it: the statement of the
    new value is not an old one).
    """
    linked = [str(key) for memory in memories for key in memory.get("said_in", [])]
    found = await asyncio.gather(
        asyncio.gather(*(store.aget(namespace, key) for key in dict.fromkeys(linked))),
        asyncio.gather(*(store.asearch(namespace, query=str(m.get("text", "")), limit=SEARCH_DEPTH)
                         for m in memories if str(m.get("text", "")).strip())),
    )
    episodes = {item.key: item for item in found[0] if item is not None and is_episode(item.value)}
    markers = [marker_words(str(m.get("text", "")), str(m.get("subject", ""))) for m in memories
               if str(m.get("text", "")).strip()]
    for words, hits in zip(markers, found[1], strict=True):
        for hit in hits:
            text = Stored(hit.value).text
            if is_episode(hit.value) and states(text, words) and not states(text, unless):
                episodes.setdefault(hit.key, hit)
    return list(episodes.values())


async def forget_context(
    store: BaseStore, namespace: tuple[str, ...], gone: Sequence[Item]
) -> list[str]:
    """Re-embed, by their own words only, the episodes embedded after a message now gone.

    A message's vector is embedded with the close of the message before it in its thread
    (agent/memory/model/episodes.py); when that one is deleted or corrected, what it said must
    not live on in the next message's gist. Returns the keys rewritten (their vectors are
    queued again by the store's trigger).
    """
    places = {(str(source["thread_id"]), int(position)) for item in gone
              if is_episode(item.value) and isinstance(position := item.value.get("position"), int)
              and isinstance(source := item.value.get("source"), dict) and source.get("thread_id")}
    if not places:
        return []
    found = await asyncio.gather(*(
        store.asearch(namespace, filter={"kind": EPISODE, "position": position + 1}, limit=100)
        for _, position in places))
    followers = {hit.key: hit for (thread, _), hits in zip(places, found, strict=True)
                 for hit in hits if (hit.value.get("source") or {}).get("thread_id") == thread}
    rewritten = [hit for hit in followers.values()
                 if hit.value.get("gist") != gist(Stored(hit.value).text)]
    await asyncio.gather(*(store.aput(namespace, hit.key,
                                      {**hit.value, "gist": gist(Stored(hit.value).text)},
                                      index=EPISODE_INDEX) for hit in rewritten))
    return [hit.key for hit in rewritten]
