"""The conversation's terms of the store's ranking: neighbours, and whom a query is about.

Messages are written as the write path writes them (episode_puts) and embedded by the store's
vector worker; the searches are the store's own SQL with the shipped MiniLM.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from langgraph.store.base import BaseStore

from agent.memory.model.episodes import Utterance, episode_puts
from agent.memory.model.schema import Identity, Source, memory_namespace
from store import search
from tests.unit.fakes import new_user

SAID_AT = datetime(2023, 5, 8, tzinfo=UTC)


async def conversation(store: Any, threads: dict[str, list[Utterance]]) -> tuple[str, ...]:
    """A new user's namespace holding `threads` of messages, every vector filled."""
    user = new_user()
    namespace = memory_namespace(Identity(user.identity, user["org_id"]))
    puts = [put for thread, said in threads.items()
            for put in episode_puts(namespace, said, SAID_AT, Source(thread_id=thread))]
    await store.abatch(puts)
    await store.fill_vectors()
    return namespace


async def scores(store: BaseStore, namespace: tuple[str, ...], query: str) -> dict[str, float]:
    """Each hit's score by its text."""
    return {hit.value["text"]: hit.score or 0.0
            for hit in await store.asearch(namespace, query=query, limit=20)}


def only(monkeypatch: pytest.MonkeyPatch, **shares: float) -> None:
    """The conversation's terms set to `shares` (the others off)."""
    for name in ("NEIGHBOUR_SHARE", "SPEAKER_SHARE"):
        monkeypatch.setattr(search, name, shares.get(name, 0.0))


async def test_a_question_that_names_a_speaker_finds_what_they_said_first(
    memory_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    only(monkeypatch, SPEAKER_SHARE=0.2)
    said = "I went hiking by the lake on Sunday."
    namespace = await conversation(memory_store, {
        "t1": [Utterance("user", said, "0", position=0, speaker="Ann Lee")],
        "t2": [Utterance("assistant", said, "0", position=0, speaker="Bob")]})
    for name, other in (("Bob", "Ann"), ("Ann", "Bob")):
        found = await memory_store.asearch(namespace, query=f"Where did {name} go hiking?",
                                           limit=2)
        assert [hit.value["speaker"] for hit in found] == [
            {"Bob": "Bob", "Ann": "Ann Lee"}[n] for n in (name, other)]
        assert found[0].score - found[1].score == pytest.approx(0.2, abs=0.01)


async def test_i_and_you_tell_the_users_messages_from_the_assistants(
    memory_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    only(monkeypatch, SPEAKER_SHARE=0.2)
    namespace = await conversation(memory_store, {
        "t1": [Utterance("user", "The grey cat is called Miso.", "0", position=0)],
        "t2": [Utterance("assistant", "The grey cat is called Miso.", "0", position=0)]})
    mine = await memory_store.asearch(namespace, query="what is my cat called", limit=2)
    yours = await memory_store.asearch(namespace, query="what is your cat called", limit=2)
    neither = await memory_store.asearch(namespace, query="what is the cat called", limit=2)
    assert [hit.value["role"] for hit in mine] == ["user", "assistant"]
    assert [hit.value["role"] for hit in yours] == ["assistant", "user"]
    assert neither[0].score == pytest.approx(neither[1].score)
    # A memory that is not a message is the user's: "my" lifts it as it lifts their messages.
    await memory_store.aput(namespace, "fact", {"text": "The grey cat is called Miso.",
                                                "kind": "fact", "importance": 0.5})
    found = {hit.key: hit.score for hit in
             await memory_store.asearch(namespace, query="what is my cat called", limit=3)}
    assert found["fact"] > min(found.values()) + 0.1


async def test_a_message_borrows_from_its_neighbours_not_from_further_away(
    memory_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    question = "Which band played at the summer festival you went to?"
    answer, later, elsewhere = ("Matt Patterson, he was amazing.", "Matt Patterson was late.",
                                "Matt Patterson, he was amazing!")
    namespace = await conversation(memory_store, {
        "t1": [Utterance("user", question, "0", position=0),
               Utterance("assistant", answer, "1", position=1),
               Utterance("assistant", later, "5", position=5)],
        "t2": [Utterance("assistant", elsewhere, "0", position=0)]})
    query = "band at the summer festival"
    only(monkeypatch)
    alone = await scores(memory_store, namespace, query)
    only(monkeypatch, NEIGHBOUR_SHARE=0.2)
    lent = await scores(memory_store, namespace, query)
    assert lent[answer] - alone[answer] > 0.1  # the question before it lends it its relevance
    assert lent[answer] > lent[elsewhere]
    assert lent[later] == pytest.approx(alone[later])  # four places away: nothing
    assert lent[elsewhere] == pytest.approx(alone[elsewhere])
