"""The memory agent end to end: real server, real Postgres + pgvector, real SDK."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from langgraph_sdk.client import LangGraphClient

from agent.memory.model.schema import Identity, memory_namespace
from tests.e2e.helpers import all_memories, say, seen_memories

pytestmark = pytest.mark.e2e

Clients = Callable[[str], LangGraphClient]


async def test_memory_crosses_sessions(client_for: Clients) -> None:
    alice = client_for("alice")
    first = await alice.threads.create()
    await say(alice, first["thread_id"], "I prefer Python over TypeScript.")

    second = await alice.threads.create()
    values = await say(alice, second["thread_id"], "Which programming language do I like?")

    assert "The user prefers Python over TypeScript." in seen_memories(values)
    found = await alice.store.search_items(("memories",), query="favourite programming language",
                                           limit=50)
    # (Ranking itself: tests/unit/test_hybrid_search.py.)
    top = next(item for item in found["items"]
               if item["value"]["text"] == "The user prefers Python over TypeScript.")
    # The turn is there too, as an episode of the first thread.
    (episode,) = [m for m in await all_memories(alice) if m["value"].get("kind") == "episode"
                  and m["value"]["text"] == "I prefer Python over TypeScript."
                  and m["value"]["source"]["thread_id"] == first["thread_id"]]
    assert episode["value"]["role"] == "user"
    assert tuple(top["namespace"]) == memory_namespace(Identity("alice", "acme"))
    assert top["value"]["source"]["thread_id"] == first["thread_id"]


async def test_a_memory_is_read_in_the_very_next_turn(client_for: Clients) -> None:
    alice = client_for("alice")
    thread = await alice.threads.create()
    stated = await say(alice, thread["thread_id"], "My name is Grace Hopper.")
    assert [op["action"] for op in stated["memory_operations"]] == ["add"]

    values = await say(alice, thread["thread_id"], "What is my name?")
    assert "The user's name is Grace Hopper." in seen_memories(values)


async def test_the_approval_gate_pauses_and_approve_stores(client_for: Clients) -> None:
    bob = client_for("bob")
    thread = await bob.threads.create()
    paused = await say(bob, thread["thread_id"], "I live in Lisbon.", approval="always")

    state = await bob.threads.get_state(thread["thread_id"])
    assert state["next"] == ["approve_memory"]
    (interrupt,) = state["tasks"][0]["interrupts"]
    (operation,) = interrupt["value"]["operations"]
    assert operation["text"] == "The user lives in Lisbon."
    assert "__interrupt__" in paused
    assert not [m for m in await all_memories(bob) if "Lisbon" in m["value"]["text"]]

    resumed = await bob.runs.wait(
        thread["thread_id"], "memory_agent", command={"resume": "approve"},
        context={"approval": "always"},
    )
    assert resumed["memory_operations"][0]["status"] == "applied"
    texts = [m["value"]["text"] for m in await all_memories(bob)]
    assert texts.count("The user lives in Lisbon.") == 1
    # The turn's episodes waited with the operation, and are stored once it is approved.
    assert texts.count("I live in Lisbon.") == 1


async def test_rejecting_at_the_gate_stores_nothing(client_for: Clients) -> None:
    bob = client_for("bob")
    thread = await bob.threads.create()
    before = await all_memories(bob)
    await say(bob, thread["thread_id"], "I am allergic to peanuts.", approval="always")
    assert (await bob.threads.get_state(thread["thread_id"]))["next"] == ["approve_memory"]

    resumed = await bob.runs.wait(
        thread["thread_id"], "memory_agent", command={"resume": "reject"},
        context={"approval": "always"},
    )
    assert resumed["memory_operations"][0]["status"] == "rejected"
    assert (await bob.threads.get_state(thread["thread_id"]))["next"] == []
    # Nothing: neither the fact nor the turn's own words (episodes), which would carry it.
    assert await all_memories(bob) == before


async def test_an_edit_at_the_gate_stores_the_edited_text(client_for: Clients) -> None:
    carol = client_for("carol")
    thread = await carol.threads.create()
    await say(carol, thread["thread_id"], "I work at Initech.", approval="always")
    state = await carol.threads.get_state(thread["thread_id"])
    op_id = state["tasks"][0]["interrupts"][0]["value"]["operations"][0]["id"]

    await carol.runs.wait(
        thread["thread_id"], "memory_agent",
        command={"resume": {op_id: {"edit": "The user works at Initech, on TPS reports."}}},
        context={"approval": "always"},
    )
    texts = [m["value"]["text"] for m in await all_memories(carol)]
    assert "The user works at Initech, on TPS reports." in texts
    assert "The user works at Initech." not in texts
