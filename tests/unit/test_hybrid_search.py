"""Hybrid search on the real store with the shipped embeddings: words and meaning, fused in SQL."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.store.base import BaseStore

from agent.memory.model.schema import Identity, memory_namespace
from agent.memory.read.retrieval import search_memories
from store import search
from store.search import MATCH, RankedItem
from tests.unit.fakes import new_user

FACTS = [
    "The user is planning a trip to Kyoto in April.",
    "The user's cat is called Miso.",
    "The user works on the ZX81 emulator project on weekends.",
    "The user is learning to play the cello.",
    "The user prefers green tea to coffee.",
    "The user's sister lives in Porto.",
]


async def fill(store: BaseStore, texts: list[str] = FACTS) -> tuple[str, ...]:
    user = new_user()
    namespace = memory_namespace(Identity(user.identity, user["org_id"]))
    for index, text in enumerate(texts):
        await store.aput(namespace, f"m{index}", {"text": text, "kind": "fact", "importance": 0.5})
    return namespace


async def test_a_rare_word_finds_its_memory_first(memory_store: Any) -> None:
    namespace = await fill(memory_store)
    found = await memory_store.asearch(namespace, query="how is zx81 going", limit=3)
    assert found[0].value["text"] == "The user works on the ZX81 emulator project on weekends."
    assert found[0].lexical > 0
    assert all(hit.lexical == 0 for hit in found[1:])


async def test_meaning_alone_still_finds_a_memory_with_no_shared_word(memory_store: Any) -> None:
    namespace = await fill(memory_store)
    found = await memory_store.asearch(namespace, query="Which instrument do I practise?", limit=2)
    assert found[0].value["text"] == "The user is learning to play the cello."
    assert found[0].lexical == 0 and found[0].similarity > 0.2


async def test_one_shared_common_word_does_not_outrank_the_meaning(memory_store: Any) -> None:
    namespace = await fill(memory_store, [
        "The user's favourite colour is teal.", "The user prefers Python over TypeScript."])
    found = await memory_store.asearch(namespace, query="favourite programming language", limit=2)
    assert [hit.value["text"] for hit in found] == [
        "The user prefers Python over TypeScript.", "The user's favourite colour is teal."]


async def test_scores_are_ordered_and_carry_both_signals(memory_store: Any) -> None:
    namespace = await fill(memory_store)
    found = await memory_store.asearch(namespace, query="trip to Kyoto", limit=6)
    scores = [hit.score or 0.0 for hit in found]
    assert scores == sorted(scores, reverse=True) and len(found) == 6
    assert found[0].value["text"] == "The user is planning a trip to Kyoto in April."
    assert isinstance(found[0], RankedItem) and found[0].similarity > 0 and found[0].lexical > 0
    assert MATCH not in found[0].value  # the signals are the hit's, not its value's
    assert {"score", "similarity", "lexical"} <= set(found[0].dict())  # as the HTTP API answers
    stored = await memory_store.aget(namespace, found[0].key)
    assert MATCH not in stored.value  # search annotates results, never the stored value


async def test_the_approximate_branch_fuses_words_the_same_way(
    memory_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace = await fill(memory_store)
    exact = await memory_store.asearch(namespace, query="how is zx81 going", limit=3)
    monkeypatch.setattr(search, "EXACT_MAX", 0)  # every namespace now goes through HNSW
    approximate = await memory_store.asearch(namespace, query="how is zx81 going", limit=3)
    assert [hit.key for hit in approximate] == [hit.key for hit in exact]
    assert (approximate[0].similarity, approximate[0].lexical) == (exact[0].similarity,
                                                                  exact[0].lexical)


async def test_words_and_meaning_filter_what_retrieve_keeps(memory_store: Any) -> None:
    namespace = await fill(memory_store)
    ranked = await search_memories(memory_store, [namespace], "zx81", limit=5, min_relevance=0.99)
    # Nothing is that similar in meaning, but a shared word is relevant on its own.
    assert [item.value["text"] for item, _ in ranked] == [
        "The user works on the ZX81 emulator project on weekends."]
    assert await search_memories(memory_store, [namespace], "quantum chromodynamics", limit=5,
                                 min_relevance=0.5) == []


async def test_a_query_of_stop_words_only_is_ranked_by_meaning(memory_store: Any) -> None:
    namespace = await fill(memory_store)
    found = await memory_store.asearch(namespace, query="what is it that I do", limit=3)
    assert len(found) == 3 and all(hit.lexical == 0 for hit in found)
