"""Vectors at half precision: a new store's from the start, a populated one's converted online."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from langgraph.store.base import PutOp

from store import convert_to_half, database, half_precision, namespace_sizes, search, vector_indexes
from store.search import SESSION_OPTIONS, MemoryStore
from tests.unit.test_memory_store_search import cosine, half
from tests.unit.test_namespace_sizes import counted, kept
from tests.unit.test_search_at_scale import MODEL, plan_of


def exact_half_top(query: str, texts: dict[str, str], k: int) -> list[str]:
    """The keys of the `k` texts nearest to `query`, every vector at half precision."""
    q = half(MODEL.embeddings.embed_query(query))
    scored = [(cosine(q, half(MODEL.embeddings.embed_query(text))), key)
              for key, text in texts.items()]
    return [key for _, key in sorted(scored, reverse=True)[:k]]


async def stored_vectors(pool: Any) -> dict[tuple[str, str], np.ndarray]:
    async with pool.connection() as conn:
        rows = await (await conn.execute(
            "SELECT prefix, key, embedding::text AS v FROM store_vectors")).fetchall()
    return {(r["prefix"], r["key"]): np.array(json.loads(r["v"]), dtype=np.float32)
            for r in rows}


async def indexes(pool: Any) -> dict[str, str]:
    async with pool.connection() as conn:
        rows = await (await conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'store_vectors'"
        )).fetchall()
    return {r["indexname"]: r["indexdef"] for r in rows}


async def test_a_new_store_keeps_half_precision_vectors(new_database: Callable[[], str]) -> None:
    async with database.connection_pool(new_database(), options=SESSION_OPTIONS) as pool:
        store = MemoryStore(pool, index=MODEL.index_config())
        await store.setup()
        async with pool.connection() as conn:
            assert await half_precision.stored_type(conn) == ("halfvec", MODEL.dims)
        ns = ("memories", "acme", "user:h")
        await store.abatch([PutOp(ns, f"k{i}", {"text": f"note {i}"}) for i in range(30)])
        stored = await stored_vectors(pool)
        for i in range(30):
            assert np.array_equal(stored[(".".join(ns), f"k{i}")],
                                  half(MODEL.embeddings.embed_query(f"note {i}")))
        (hit,) = await store.asearch(ns, query="note 7", limit=1)
        assert hit.key == "k7" and hit.similarity == 1.0


async def test_a_populated_store_is_converted_online_and_loses_nothing(
    new_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    big, small = ("memories", "acme", "user:big"), ("memories", "acme", "user:small")
    before = search.MIGRATIONS.index(half_precision.MIGRATION)
    async with database.connection_pool(new_database(), options=SESSION_OPTIONS) as pool:
        with monkeypatch.context() as patch:  # the release before: full precision
            patch.setattr(search, "MIGRATIONS", search.MIGRATIONS[:before])
            old = MemoryStore(pool, index=MODEL.index_config())
            await old.setup()
            await old.abatch([PutOp(big, f"k{i}", {"text": f"memory {i} of the garden"})
                              for i in range(300)]
                             + [PutOp(small, f"k{i}", {"text": f"small {i}"}) for i in range(40)]
                             + [PutOp(small, f"r{i}", {"n": i}, index=False) for i in range(5)])
        monkeypatch.setattr(search, "EXACT_MAX", 100)
        assert (await vector_indexes.maintain(pool)).build == [".".join(big)]
        store = MemoryStore(pool, index=MODEL.index_config())
        await store.setup()  # today's migrations: a populated store stays full precision
        async with pool.connection() as conn:
            assert (await half_precision.stored_type(conn))[0] == "vector"
        names_before = set(await indexes(pool))
        texts = {(".".join(big), f"k{i}"): f"memory {i} of the garden" for i in range(300)}
        texts |= {(".".join(small), f"k{i}"): f"small {i}" for i in range(40)}
        batches = 0

        async def meanwhile(step: str) -> None:
            # The servers write all along: each of these must be in the converted table.
            nonlocal batches
            if step == "prepared":  # before any row is copied
                await store.abatch([PutOp(small, "new1", {"text": "a new memory"}),
                                    PutOp(small, "k0", {"text": "small zero, rewritten"}),
                                    PutOp(big, "k299", None)])
                texts.update({(".".join(small), "new1"): "a new memory",
                              (".".join(small), "k0"): "small zero, rewritten"})
                del texts[(".".join(big), "k299")]
            elif step == "batch":
                batches += 1
                if batches == 1:  # one row copied already, one not yet: both deleted
                    await store.abatch([PutOp(big, "k1", None), PutOp(small, "k39", None),
                                        PutOp(big, "k2", {"text": "memory two, changed"})])
                    del texts[(".".join(big), "k1")], texts[(".".join(small), "k39")]
                    texts[(".".join(big), "k2")] = "memory two, changed"
            elif step == "indexed":  # after the copy, before the swap
                await store.abatch([PutOp(big, "late", {"text": "written before the swap"})])
                texts[(".".join(big), "late")] = "written before the swap"

        done = await convert_to_half.convert(pool, batch=50, between=meanwhile)

        assert done.batches > 3 and done.indexes == [vector_indexes.index_name(".".join(big))]
        async with pool.connection() as conn:
            assert await half_precision.stored_type(conn) == ("halfvec", MODEL.dims)
            leftovers = await (await conn.execute(
                "SELECT to_regclass(%s) AS copy, to_regclass(%s) AS old, "
                "to_regproc('engram_mirror_vectors') AS mirror",
                (convert_to_half.COPY, convert_to_half.OLD))).fetchone()
        assert leftovers == {"copy": None, "old": None, "mirror": None}
        stored = await stored_vectors(pool)
        assert set(stored) == set(texts)
        for place, text in texts.items():
            assert np.array_equal(stored[place], half(MODEL.embeddings.embed_query(text)))
        assert await kept(pool) == await counted(pool)
        after = await indexes(pool)
        assert set(after) == names_before
        assert "halfvec_cosine_ops" in after[vector_indexes.index_name(".".join(big))]

        # Searches go on through the converted table and the big namespace's own index; the
        # counts keep counting, the store keeps writing.
        query = "what did I plant"
        assert vector_indexes.index_name(".".join(big)) in await plan_of(store, big, query)
        found = await store.asearch(big, query=query, limit=10)
        big_texts = {key: t for (prefix, key), t in texts.items() if prefix == ".".join(big)}
        assert [i.key for i in found] == exact_half_top(query, big_texts, 10)
        await store.abatch([PutOp(small, "after", {"text": "after the swap"})])
        assert await kept(pool) == await counted(pool)
        assert (await convert_to_half.convert(pool)).already


async def test_a_store_of_an_older_release_is_migrated_before_it_is_converted(
    new_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    ns = ("memories", "acme", "user:older")
    before_sizes = search.MIGRATIONS.index(namespace_sizes.MIGRATIONS[0])
    async with database.connection_pool(new_database(), options=SESSION_OPTIONS) as pool:
        with monkeypatch.context() as patch:  # two releases back: no kept sizes yet
            patch.setattr(search, "MIGRATIONS", search.MIGRATIONS[:before_sizes])
            old = MemoryStore(pool, index=MODEL.index_config())
            await old.setup()
            await old.abatch([PutOp(ns, f"k{i}", {"text": f"note {i}"}) for i in range(12)])
        with pytest.raises(RuntimeError, match="predates this release"):
            await convert_to_half.convert(pool)
        async with pool.connection() as conn:  # refused before it changed anything
            assert await half_precision.stored_type(conn) == ("vector", MODEL.dims)
            assert await (await conn.execute("SELECT to_regclass(%s) AS copy",
                                             (convert_to_half.COPY,))).fetchone() == {"copy": None}
        await MemoryStore(pool, index=MODEL.index_config()).setup()  # as the command does first
        assert (await convert_to_half.convert(pool)).rows == 12
        assert set(await stored_vectors(pool)) == {(".".join(ns), f"k{i}") for i in range(12)}
