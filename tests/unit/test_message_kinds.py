"""store/ knows no application's kinds: the messages' kind, and what of them is embedded, is given."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from langgraph.store.base import PutOp

from agent.memory.model.episodes import EpisodeValue
from agent.stores import kind_policy
from store import conversations, database
from store.retention import KindPolicy, MessageKind
from store.search import SESSION_OPTIONS, MemoryStore
from tests.unit.test_search_at_scale import MODEL

NS = ("memories", "acme", "user:talk")
UTTERANCE = MessageKind("utterance", "spoken")


@asynccontextmanager
async def opened(url: str, kinds: KindPolicy | None = None) -> AsyncIterator[MemoryStore]:
    """A memory store on `url`, set up with these kinds (none: the generic store)."""
    async with database.connection_pool(url, options=SESSION_OPTIONS) as pool:
        store = MemoryStore(pool, index=MODEL.index_config(), kinds=kinds)
        await store.setup()
        yield store


def said(key: str, kind: str, thread: str, at: str, text: str, **value: Any) -> PutOp:
    """A message as an application keeps it, not embedded as it is put."""
    return PutOp(NS, key, {"kind": kind, "text": text, "role": "user", "said_at": at,
                           "source": {"thread_id": thread}, **value}, index=False)


async def rows(store: MemoryStore, query: str) -> set[Any]:
    async with store.conn.connection() as conn:  # type: ignore[union-attr]
        return {tuple(row.values()) for row in await (await conn.execute(query)).fetchall()}


async def queued(store: MemoryStore) -> set[Any]:
    return await rows(store, "SELECT key FROM engram_pending_vectors")


async def triggers(store: MemoryStore) -> set[Any]:
    """The store's vector-queue triggers (the size-keeping ones are every store's)."""
    return await rows(store, "SELECT tgname FROM pg_trigger "
                             "WHERE tgrelid = 'store'::regclass AND NOT tgisinternal "
                             r"AND tgname LIKE 'engram\_queue\_vector\_%'")


def test_engrams_messages_are_its_episodes_and_their_gist_is_embedded() -> None:
    messages = kind_policy().messages
    assert messages is not None
    assert messages.name == EpisodeValue.model_fields["kind"].default
    assert messages.field in EpisodeValue.model_fields


async def test_a_store_without_a_message_kind_defers_nothing_and_keeps_no_conversations(
    new_database: Callable[[], str],
) -> None:
    async with opened(new_database()) as store:
        await store.abatch([said("e1", "episode", "t1", "2026-01-01", "Hi.", gist="Hi.")])
        assert await triggers(store) == set() and await queued(store) == set()
        assert store.start_vector_worker() is None and await store.fill_vectors() == 0
        with pytest.raises(ValueError, match="keeps no conversations"):
            await conversations.threads(store, NS, 10)


async def test_the_message_kind_is_queued_embedded_from_its_field_and_listed_by_thread(
    new_database: Callable[[], str],
) -> None:
    async with opened(new_database(), KindPolicy(messages=UTTERANCE)) as store:
        await store.abatch([
            said("u1", "utterance", "t1", "2026-01-01", "We sail to Kiel.", spoken="Kiel"),
            said("u2", "utterance", "t1", "2026-01-02", "In June.", spoken="June"),
            said("u3", "utterance", "t2", "2026-01-03", "Tea, please.", spoken="Tea"),
            said("e1", "episode", "t3", "2026-01-04", "Not a message here.", gist="Not."),
        ])
        assert await queued(store) == {("u1",), ("u2",), ("u3",)}

        assert await store.fill_vectors() == 3

        assert await queued(store) == set()
        assert await rows(store, "SELECT key, field_name FROM store_vectors") == {
            ("u1", "spoken"), ("u2", "spoken"), ("u3", "spoken")}
        threads = await conversations.threads(store, NS, 10)
        assert [(t["thread_id"], t["episodes"]) for t in threads] == [("t2", 1), ("t1", 2)]
        assert [m["key"] for m in await conversations.episodes(store, NS, "t1", 10)] == [
            "u2", "u1"]


async def test_a_new_message_kind_replaces_the_triggers_of_the_last(
    new_database: Callable[[], str],
) -> None:
    url = new_database()
    async with opened(url) as store, store.conn.connection() as conn:  # type: ignore[union-attr]
        # As the release before left it: a trigger of its own name, for the kind it named.
        await conn.execute("CREATE TRIGGER engram_queue_vector_on_insert AFTER INSERT ON store "
                           "FOR EACH ROW EXECUTE FUNCTION engram_queue_vector()")
    async with opened(url, KindPolicy(messages=UTTERANCE)) as store:
        first = await triggers(store)
        assert len(first) == 2 and ("engram_queue_vector_on_insert",) not in first
        await store.abatch([said("l1", "line", "t1", "2026-01-01", "Stored before.", words="x")])
    async with opened(url) as store:  # a generic tool on the same database changes nothing
        assert await triggers(store) == first

    async with opened(url, KindPolicy(messages=MessageKind("line", "words"))) as store:
        assert len(await triggers(store)) == 2 and not await triggers(store) & first
        # What was stored under the last kind is queued now; the old kind no longer is.
        assert await queued(store) == {("l1",)}
        await store.abatch([said("u1", "utterance", "t1", "2026-01-02", "Old.", spoken="Old.")])
        assert await queued(store) == {("l1",)}
