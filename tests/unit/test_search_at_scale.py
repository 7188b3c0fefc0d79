"""Search whose cost follows the namespace: per-namespace words, own HNSW indexes, migration."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from langgraph.store.base import PutOp, SearchOp
from langgraph.store.postgres.base import PLACEHOLDER

from store import database, search, vector_indexes
from store.embeddings import EmbeddingModel
from store.search import SESSION_OPTIONS, MemoryStore
from tests.unit.test_memory_store_search import DIMS, Seeded

MODEL = EmbeddingModel("test:seeded", DIMS, Seeded())


async def filled(pool: Any, namespaces: dict[tuple[str, ...], int]) -> MemoryStore:
    """A store with `n` memories in each namespace (texts share words across namespaces)."""
    store = MemoryStore(pool, index=MODEL.index_config())
    await store.setup()
    ops = [PutOp(ns, f"k{i}", {"text": f"memory {i} about the garden and the sea"})
           for ns, n in namespaces.items() for i in range(n)]
    for start in range(0, len(ops), 1000):
        await store.abatch(ops[start : start + 1000])
    async with pool.connection() as conn:
        await conn.execute("VACUUM ANALYZE store_vectors")
    return store


async def plan_of(store: MemoryStore, namespace: tuple[str, ...], query: str) -> str:
    """The plan of the store's search statement, as JSON text.

    With a few hundred rows sorting them all is cheaper than an index, and the planner rightly
    sorts; sorting is priced out here so the plan shows whether the namespace's index can serve
    the statement at all (its predicate matches the statement's namespace).
    """
    sql, params = store._namespace_search(SearchOp(namespace, None, 10, 0, query))
    vector = MODEL.embeddings.embed_query(query)
    async with store.conn.connection() as conn:  # type: ignore[union-attr]
        await conn.execute("SET enable_sort = off")
        await conn.execute("SET enable_seqscan = off")
        rows = await (await conn.execute(
            "EXPLAIN (FORMAT JSON) " + sql,
            [vector if p is PLACEHOLDER else p for p in params])).fetchall()
        await conn.execute("RESET enable_sort")
        await conn.execute("RESET enable_seqscan")
    return json.dumps([dict(r) for r in rows])


def exact_top(query: str, keys: list[str], texts: dict[str, str], k: int) -> list[str]:
    vector = MODEL.embeddings.embed_query(query)
    scored = sorted(((float(np.dot(vector, MODEL.embeddings.embed_query(texts[key]))), key)
                     for key in keys), reverse=True)
    return [key for _, key in scored[:k]]


async def test_a_namespace_past_the_threshold_gets_its_own_index_and_agrees_with_exact(
    new_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    big, small = ("memories", "acme", "user:big"), ("memories", "acme", "user:small")
    async with database.connection_pool(new_database(), options=SESSION_OPTIONS) as pool:
        store = await filled(pool, {big: 400, small: 30})
        monkeypatch.setattr(search, "EXACT_MAX", 100)
        texts = {f"k{i}": f"memory {i} about the garden and the sea" for i in range(400)}
        query = "what did I plant"  # no stored word: meaning alone ranks

        # Past the threshold, before its index is built: searched exactly, nothing missed.
        before = await store.asearch(big, query=query, limit=10)
        assert [i.key for i in before] == exact_top(query, list(texts), texts, 10)

        done = await vector_indexes.maintain(pool)

        assert done.build == [".".join(big)]  # the small namespace gets none
        assert set(await vector_indexes.built_indexes(pool)) == {vector_indexes.index_name(
            ".".join(big))}
        assert vector_indexes.index_name(".".join(big)) in await plan_of(store, big, query)
        after = await store.asearch(big, query=query, limit=10)
        # The approximate branch (its own HNSW index) finds the same memories here.
        assert [i.key for i in after] == [i.key for i in before]
        assert all(i.namespace == big for i in after)

        # Shrunk below half the threshold (or forgotten): its index is dropped.
        await store.abatch([PutOp(big, f"k{i}", None) for i in range(360)])
        assert (await vector_indexes.maintain(pool)).drop == [
            vector_indexes.index_name(".".join(big))]
        assert await vector_indexes.built_indexes(pool) == {}


async def test_words_and_vectors_never_cross_namespaces(new_database: Callable[[], str]) -> None:
    alice, al = ("memories", "acme", "user:alice"), ("memories", "acme", "user:al")
    async with database.connection_pool(new_database(), options=SESSION_OPTIONS) as pool:
        store = await filled(pool, {alice: 50, al: 5})
        await store.aput(alice, "secret", {"text": "alice keeps a narwhal figurine"})
        # `user:al` is a prefix of `user:alice` as text, not as a namespace.
        found = await store.asearch(al, query="narwhal figurine garden", limit=100)
        assert {i.namespace for i in found} == {al} and len(found) == 5
        # The organisation's search covers both (the library's prefix semantics).
        everyone = await store.asearch(("memories", "acme"), query="narwhal", limit=100)
        assert "secret" in {i.key for i in everyone}
        async with pool.connection() as conn:
            # Word keys carry the namespace: the same word in two namespaces is two keys.
            rows = await (await conn.execute(
                "SELECT engram_word_key(%s, 'garden') AS a, engram_word_key(%s, 'garden') AS b",
                (".".join(alice), ".".join(al)))).fetchone()
        assert rows is not None and rows["a"] != rows["b"]


async def test_the_migration_keeps_every_memory_findable(
    new_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    ns = ("memories", "acme", "user:old")
    before_words = search.MIGRATIONS.index("DROP INDEX IF EXISTS store_tsv_idx") - 3
    async with database.connection_pool(new_database(), options=SESSION_OPTIONS) as pool:
        # The schema of the release before: the table-wide word and HNSW indexes.
        with monkeypatch.context() as patch:
            patch.setattr(search, "MIGRATIONS", search.MIGRATIONS[:before_words])
            old = await filled(pool, {ns: 40})
            await old.aput(ns, "tea", {"text": "My favourite tea is genmaicha."})
        async with pool.connection() as conn:
            assert await (await conn.execute(
                "SELECT to_regclass('store_tsv_idx') AS i")).fetchone() == {"i": "store_tsv_idx"}

        store = MemoryStore(pool, index=MODEL.index_config())
        await store.setup()  # today's migrations, on the populated store

        async with pool.connection() as conn:
            row = await (await conn.execute(
                "SELECT to_regclass('store_tsv_idx') AS words, "
                "to_regclass('store_vectors_embedding_idx') AS hnsw, "
                "to_regclass('store_vectors_namespace_idx') AS covering")).fetchone()
        assert row == {"words": None, "hnsw": None, "covering": "store_vectors_namespace_idx"}
        by_word = await store.asearch(ns, query="genmaicha", limit=3)
        assert by_word[0].key == "tea"
        everything = await store.asearch(ns, query="memory garden", limit=100)
        assert len(everything) == 41


async def test_one_process_at_a_time_maintains_the_namespace_indexes(
    new_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    big = ("memories", "acme", "user:busy")
    async with database.connection_pool(new_database(), options=SESSION_OPTIONS) as pool:
        await filled(pool, {big: 150})
        monkeypatch.setattr(search, "EXACT_MAX", 100)
        async with pool.connection() as other:  # another replica, mid-round
            await other.execute("SELECT pg_advisory_lock(%s)", (vector_indexes.MAINTENANCE_LOCK,))
            assert await vector_indexes.maintain_if_free(pool) is None
            assert await vector_indexes.built_indexes(pool) == {}
            await other.execute("SELECT pg_advisory_unlock(%s)",
                                (vector_indexes.MAINTENANCE_LOCK,))
        done = await vector_indexes.maintain_if_free(pool)
        assert done is not None and done.build == [".".join(big)]


async def test_the_ranking_does_not_depend_on_the_branch_threshold(
    new_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # BM25's document count is capped (COUNT_MAX) whatever EXACT_MAX is: a namespace searched
    # through its own index ranks as the same namespace searched exactly (the benchmark's
    # reference raises EXACT_MAX, and must not change the word scores by doing so).
    big = ("memories", "acme", "user:words")
    async with database.connection_pool(new_database(), options=SESSION_OPTIONS) as pool:
        store = await filled(pool, {big: 300})
        await store.abatch([PutOp(big, f"rose{i}", {"text": f"the rose bed number {i} by the sea"})
                            for i in range(40)])
        monkeypatch.setattr(search, "COUNT_MAX", 101)
        monkeypatch.setattr(search, "EXACT_MAX", 100)
        assert (await vector_indexes.maintain(pool)).build == [".".join(big)]
        query = "rose garden"  # a rare word and a common one: their IDFs follow the count
        approximate = await store.asearch(big, query=query, limit=10)
        assert vector_indexes.index_name(".".join(big)) in await plan_of(store, big, query)
        monkeypatch.setattr(search, "EXACT_MAX", 1_000)
        exact = await store.asearch(big, query=query, limit=10)
        assert [(i.key, round(i.score or 0, 6)) for i in approximate] == [
            (i.key, round(i.score or 0, 6)) for i in exact]
        assert all(i.lexical > 0 for i in exact)


async def test_word_keys_widen_to_128_bits_on_a_populated_store(
    new_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    ns = ("memories", "acme", "user:wide")
    prefix = ".".join(ns)
    # The release before: the last change of the word key not yet applied.
    before = max(v for v, m in enumerate(search.MIGRATIONS) if "FUNCTION engram_word_key(" in m)
    async with database.connection_pool(new_database(), options=SESSION_OPTIONS) as pool:
        with monkeypatch.context() as patch:
            patch.setattr(search, "MIGRATIONS", search.MIGRATIONS[:before])
            old = await filled(pool, {ns: 300})
            await old.aput(ns, "tea", {"text": "My favourite tea is genmaicha."})

        store = MemoryStore(pool, index=MODEL.index_config())
        await store.setup()  # today's migrations, on the populated store

        async with pool.connection() as conn:
            row = await (await conn.execute("SELECT engram_word_key(%s, 'tea') AS key",
                                            (prefix,))).fetchone()
            assert row == {"key": hashlib.md5(prefix.encode()).hexdigest() + "tea"}
            # Read through the word index alone: it holds the new keys of every stored memory.
            await conn.execute("SET enable_seqscan = off")
            found = "SELECT count(*) AS n FROM store WHERE engram_word_keys(prefix, " \
                    "value->>'text') @> ARRAY[engram_word_key(%s, %s)]"
            plan = await (await conn.execute("EXPLAIN " + found, (prefix, "garden"))).fetchall()
            assert "store_words_idx" in str(plan)
            for word, n in (("garden", 300), ("genmaicha", 1)):
                assert await (await conn.execute(found, (prefix, word))).fetchone() == {"n": n}
            await conn.execute("RESET enable_seqscan")
        by_word = [i.key for i in await store.asearch(ns, query="genmaicha", limit=3)
                   if i.lexical > 0]
        assert by_word == ["tea"]
