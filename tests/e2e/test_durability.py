"""End to end: threads and pending vectors survive a killed server; time travel never writes twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.e2e.conftest import Server, token_for
from tests.e2e.helpers import GRAPH, all_memories, say, seen_memories

pytestmark = pytest.mark.e2e

Clients = Callable[[str], LangGraphClient]


async def test_a_thread_survives_a_sigkill(server: Server, client_for: Clients) -> None:
    alice = client_for("alice")
    thread = await alice.threads.create()
    await say(alice, thread["thread_id"], "My favourite colour is teal.")
    await say(alice, thread["thread_id"], "Tell me a joke.")
    state = await alice.threads.get_state(thread["thread_id"])
    history = await alice.threads.get_history(thread["thread_id"], limit=100)
    server.wait_for_registry_flush()

    server.kill()
    server.start()

    alice = client_for("alice")
    assert await alice.threads.get_state(thread["thread_id"]) == state
    assert await alice.threads.get_history(thread["thread_id"], limit=100) == history
    values = await say(alice, thread["thread_id"], "What is my favourite colour?")
    assert len(values["messages"]) == len(state["values"]["messages"]) + 2
    assert "The user's favourite colour is teal." in seen_memories(values)


async def test_a_run_killed_midway_leaves_a_usable_thread(
    server: Server, client_for: Clients
) -> None:
    alice = client_for("alice")
    thread = await alice.threads.create()
    await say(alice, thread["thread_id"], "I enjoy sailing.")
    before = await alice.threads.get_state(thread["thread_id"])
    server.wait_for_registry_flush()
    await alice.runs.create(
        thread["thread_id"], GRAPH, input={"messages": [{"role": "user", "content": "Hello!"}]}
    )

    server.kill()
    server.start()

    alice = client_for("alice")
    for run in await alice.runs.list(thread["thread_id"]):
        await alice.runs.join(thread["thread_id"], run["run_id"])  # a retried run finishes
    after = await alice.threads.get_state(thread["thread_id"])
    # The killed run was lost, retried or finished: the thread is never left half-written.
    added = len(after["values"]["messages"]) - len(before["values"]["messages"])
    assert added in (0, 2), after
    assert after["next"] == []
    values = await say(alice, thread["thread_id"], "What do I enjoy?")
    assert "The user enjoys sailing." in seen_memories(values)


async def test_replay_and_fork_never_write_a_memory_twice(client_for: Clients) -> None:
    bob = client_for("bob")
    thread = await bob.threads.create()
    await say(bob, thread["thread_id"], "I prefer tea over coffee.")
    await say(bob, thread["thread_id"], "Remember that my sister is called Ines.")
    stored = await all_memories(bob)
    history = await bob.threads.get_history(thread["thread_id"], limit=100)
    # Checkpoints are newest first; the first turn's write_memory is the oldest such step.
    before_first_write = [h for h in history if h["next"] == ["write_memory"]][-1]

    replayed = await bob.runs.wait(
        thread["thread_id"], GRAPH, input=None,
        checkpoint_id=before_first_write["checkpoint"]["checkpoint_id"],
    )
    assert [op["action"] for op in replayed["memory_operations"]] == ["noop"]
    assert await all_memories(bob) == stored

    fork = await bob.threads.update_state(
        thread["thread_id"], {"memories": []}, as_node="agent",
        checkpoint_id=before_first_write["checkpoint"]["checkpoint_id"],
    )
    forked = await bob.runs.wait(
        thread["thread_id"], GRAPH, input=None, checkpoint_id=fork["checkpoint"]["checkpoint_id"]
    )
    assert [op["action"] for op in forked["memory_operations"]] == ["noop"]
    assert await all_memories(bob) == stored
    texts = [m["value"]["text"] for m in stored]
    assert texts.count("The user prefers tea over coffee.") == 1


async def vector_state(database_url: str, prefix: str) -> tuple[set[str], set[str], set[str]]:
    """The namespace's episodes, those still queued for a vector, and those that have one."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        async def keys(sql: str) -> set[str]:
            return {row[0] for row in await (await conn.execute(sql, (prefix,))).fetchall()}

        return (await keys("SELECT key FROM store WHERE prefix = %s "
                           "AND value->>'kind' = 'episode'"),
                await keys("SELECT key FROM engram_pending_vectors WHERE prefix = %s"),
                await keys("SELECT key FROM store_vectors WHERE prefix = %s"))


async def test_vectors_pending_at_a_sigkill_are_filled_after_the_restart(
    engram_env: dict[str, str], database_url: str, tmp_path: Any
) -> None:
    # A server whose vector worker is off: what its turns store stays queued until the kill.
    server = Server(tmp_path, {**engram_env, "ENGRAM_VECTOR_WORKER": "off"})
    server.start()
    try:
        vic = get_client(url=server.url, headers={"Authorization": f"Bearer {token_for('vic')}"})
        thread = await vic.threads.create()
        await say(vic, thread["thread_id"], "We keep two beehives on the roof of our flat.")
        prefix = "memories.acme.user:vic"
        episodes, pending, vectors = await vector_state(database_url, prefix)
        assert episodes and pending == episodes and not vectors & episodes

        server.kill()
        server.env["ENGRAM_VECTOR_WORKER"] = "on"
        server.start()

        deadline = time.monotonic() + 60  # a bound for a failure, not a speed check
        while pending and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            episodes, pending, vectors = await vector_state(database_url, prefix)
        assert not pending and episodes <= vectors
        vic = get_client(url=server.url, headers={"Authorization": f"Bearer {token_for('vic')}"})
        found = await vic.store.search_items(("memories",), query="honey bees kept at home")
        assert any(item["value"]["kind"] == "episode" and "beehives" in item["value"]["text"]
                   for item in found["items"])
    finally:
        server.stop()
