"""Episodes' vectors, filled in off the write path: queued with the episode, never lost, fair."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from agent import models
from agent.graph import builder
from agent.memory.model.episodes import Utterance, episode_puts
from agent.memory.model.schema import Source
from agent.prompts import EPISODES_HEADER, MEMORY_HEADER
from store.pending_vectors import RETRY_MAX_S, VectorWorker, pending_count
from tests.unit.fakes import RecordingChatModel, new_user


class FlakyEmbeddings(Embeddings):
    """The real model, failing on demand: every call it saw is recorded."""

    def __init__(self, inner: Embeddings, fail_calls: int = 0, refuse: str | None = None) -> None:
        self.inner, self.fail_calls, self.refuse = inner, fail_calls, refuse
        self.calls: list[list[str]] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise NotImplementedError("the worker embeds asynchronously")

    def embed_query(self, text: str) -> list[float]:
        raise NotImplementedError("the worker embeds asynchronously")

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        if len(self.calls) <= self.fail_calls:
            raise RuntimeError("model unavailable")
        if self.refuse and any(self.refuse in text for text in texts):
            raise ValueError("text refused")
        return await self.inner.aembed_documents(texts)


@pytest.fixture
async def quiet_store(memory_store: Any) -> AsyncIterator[Any]:
    """The service's store with its background worker stopped, so a test drives its own."""
    await memory_store.stop_vector_worker()
    await memory_store.fill_vectors()  # what earlier tests left queued
    try:
        yield memory_store
    finally:
        memory_store.start_vector_worker()


def namespace() -> tuple[str, ...]:
    return ("memories", "acme", f"user:{uuid.uuid4().hex[:8]}")


async def put_messages(store: Any, ns: tuple[str, ...], texts: list[str]) -> list[str]:
    """Store each text as one user message's episode; return their keys."""
    puts = []
    for index, text in enumerate(texts):
        source = Source(thread_id=f"t-{index}", message_id=f"m-{index}")
        puts += episode_puts(ns, [Utterance("user", text, f"m-{index}")], datetime.now(UTC),
                             source)
    await store.abatch(puts)
    return [put.key for put in puts]


def worker_of(store: Any, embeddings: Embeddings, **settings: Any) -> VectorWorker:
    """A worker of its own for the store's messages (the test drives it)."""
    return VectorWorker(store.conn, embeddings, store.kinds.messages.field, **settings)


async def vector_keys(store: Any, ns: tuple[str, ...]) -> set[str]:
    async with store.conn.connection() as conn:
        rows = await (await conn.execute(
            "SELECT key FROM store_vectors WHERE prefix = %s", (".".join(ns),))).fetchall()
    return {row["key"] for row in rows}


async def queued(store: Any, ns: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    async with store.conn.connection() as conn:
        rows = await (await conn.execute(
            "SELECT key, attempts, last_error FROM engram_pending_vectors WHERE prefix = %s",
            (".".join(ns),))).fetchall()
    return {row["key"]: row for row in rows}


async def test_an_episode_is_queued_with_its_write_and_found_by_meaning_once_filled(
    quiet_store: Any,
) -> None:
    ns = namespace()
    [key] = await put_messages(quiet_store, ns, ["We adopted a grey kitten called Miso."])
    assert set(await queued(quiet_store, ns)) == {key}
    assert await vector_keys(quiet_store, ns) == set()
    # Before its vector: found by its words, not by meaning.
    assert [i.key for i in await quiet_store.asearch(ns, query="Miso kitten")] == [key]
    assert await quiet_store.asearch(ns, query="a young cat as a pet") == []

    await quiet_store.fill_vectors()

    assert await queued(quiet_store, ns) == {}
    assert await vector_keys(quiet_store, ns) == {key}
    assert [i.key for i in await quiet_store.asearch(ns, query="a young cat as a pet")] == [key]


async def test_rewriting_an_episode_requeues_it_only_when_its_gist_changes(
    quiet_store: Any,
) -> None:
    ns = namespace()
    [key] = await put_messages(quiet_store, ns, ["Our boat is moored in Kiel."])
    await quiet_store.fill_vectors()
    item = await quiet_store.aget(ns, key)
    await quiet_store.aput(ns, key, {**item.value, "invalid_at": "2026-01-01"}, index=False)
    assert await queued(quiet_store, ns) == {}
    await quiet_store.aput(ns, key, {**item.value, "gist": "Our boat is moored in Flensburg."},
                           index=False)
    assert set(await queued(quiet_store, ns)) == {key}


async def test_a_failing_model_leaves_episodes_stored_queued_and_retried(
    quiet_store: Any,
) -> None:
    ns = namespace()
    keys = await put_messages(quiet_store, ns, ["I play the cello on Sundays.",
                                                "My sister lives in Porto."])
    flaky = FlakyEmbeddings(quiet_store.embeddings, fail_calls=3)
    worker = worker_of(quiet_store, flaky)

    await worker.drain()

    # The batch failed, then each episode alone: both stay stored and queued, with the error.
    assert len(flaky.calls) == 3 and worker.stats.failures == 3 and worker.stats.filled == 0
    waiting = await queued(quiet_store, ns)
    assert set(waiting) == set(keys)
    assert all(row["attempts"] == 1 and "model unavailable" in row["last_error"]
               for row in waiting.values())
    assert {i.key for i in await quiet_store.asearch(ns, limit=10)} == set(keys)
    counts = await pending_count(quiet_store.conn)
    assert counts["pending"] >= 2 and counts["failing"] >= 2

    # Not retried before their delay; once it has passed, the model is back and fills them.
    assert await worker.fill_once() == 0
    async with quiet_store.conn.connection() as conn:
        await conn.execute("UPDATE engram_pending_vectors SET not_before = now() "
                           "WHERE prefix = %s", (".".join(ns),))
    await worker.drain()
    assert await queued(quiet_store, ns) == {}
    assert await vector_keys(quiet_store, ns) == set(keys)


async def test_one_text_the_model_refuses_does_not_hold_up_the_others(quiet_store: Any) -> None:
    ns = namespace()
    keys = await put_messages(quiet_store, ns, ["We moved to Leeds in May.",
                                                "REFUSED text of some kind.",
                                                "The dog is called Biscuit."])
    worker = worker_of(quiet_store, FlakyEmbeddings(quiet_store.embeddings, refuse="REFUSED"))
    await worker.drain()
    assert await vector_keys(quiet_store, ns) == {keys[0], keys[2]}
    assert set(await queued(quiet_store, ns)) == {keys[1]}


async def test_a_flood_from_one_user_does_not_starve_another(quiet_store: Any) -> None:
    flooding, other = namespace(), namespace()
    await put_messages(quiet_store, flooding, [f"Imported note number {i}." for i in range(80)])
    [theirs] = await put_messages(quiet_store, other, ["I start my new job on Monday."])
    recording = FlakyEmbeddings(quiet_store.embeddings)
    worker = worker_of(quiet_store, recording, batch=8)

    await worker.fill_once()

    # The other user's episode, queued after all 80, is in the very first batch.
    assert "I start my new job on Monday." in recording.calls[0]
    assert len(recording.calls[0]) == 8
    assert theirs in await vector_keys(quiet_store, other)
    await worker.drain()
    assert len(await vector_keys(quiet_store, flooding)) == 80


async def test_forgetting_a_queued_episode_takes_it_out_of_the_queue(quiet_store: Any) -> None:
    ns = namespace()
    [key] = await put_messages(quiet_store, ns, ["My locker code is in the blue notebook."])
    await quiet_store.adelete(ns, key)
    assert await queued(quiet_store, ns) == {}
    await quiet_store.fill_vectors()
    assert await vector_keys(quiet_store, ns) == set()


async def test_a_fact_is_found_by_meaning_in_the_very_next_turn(
    quiet_store: Any, checkpointer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Facts are embedded as they are written: no worker needed (it is stopped here)."""
    model = RecordingChatModel(replies=["Noted.", "You are allergic to peanuts."])
    monkeypatch.setattr(models, "load_chat_model", lambda name: model)
    graph = builder.compile(checkpointer=checkpointer, store=quiet_store)
    user = new_user()

    def thread() -> dict[str, Any]:
        return {"configurable": {"thread_id": str(uuid.uuid4()), "langgraph_auth_user": user}}

    await graph.ainvoke({"messages": [{"role": "user", "content": "I am allergic to peanuts."}]},
                        thread())
    await graph.ainvoke({"messages": [{"role": "user",
                                       "content": "Which foods must I avoid eating?"}]}, thread())
    # In the facts of the prompt, found by meaning only (no word in common), in another thread.
    facts = model.seen[1][0].text.split(MEMORY_HEADER, 1)[1].split(EPISODES_HEADER, 1)[0]
    assert "allergic to peanuts" in facts


async def test_an_episode_failing_for_ages_does_not_fail_the_batch_of_the_others(
    quiet_store: Any,
) -> None:
    ns = namespace()
    keys = await put_messages(quiet_store, ns, ["REFUSED since the dawn of time.",
                                                "We planted tulips by the fence."])
    async with quiet_store.conn.connection() as conn:
        # 2^5000 seconds is past what a double holds: its next delay must still be computed.
        await conn.execute("UPDATE engram_pending_vectors SET attempts = 5000 "
                           "WHERE prefix = %s AND key = %s", (".".join(ns), keys[0]))
    worker = worker_of(quiet_store, FlakyEmbeddings(quiet_store.embeddings, refuse="REFUSED"))
    await worker.drain()

    assert await vector_keys(quiet_store, ns) == {keys[1]}
    async with quiet_store.conn.connection() as conn:
        row = await (await conn.execute(
            "SELECT attempts, extract(epoch FROM not_before - now()) AS wait "
            "FROM engram_pending_vectors WHERE prefix = %s AND key = %s",
            (".".join(ns), keys[0]))).fetchone()
    assert row["attempts"] == 5001 and 0 < row["wait"] <= RETRY_MAX_S
