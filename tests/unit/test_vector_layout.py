"""The vectors' layout, half precision in partitions by namespace: a new store's from the start,
a populated one's converted online."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from langgraph.store.base import PutOp

from store import (
    convert_vectors,
    database,
    half_precision,
    namespace_sizes,
    search,
    vector_indexes,
    vector_partitions,
)
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
    """The indexes of `store_vectors` and of its partitions, by name."""
    async with pool.connection() as conn:
        rows = await (await conn.execute(
            "SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition "
            "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            f"WHERE i.indrelid IN ({vector_partitions.TABLES})")).fetchall()
    return {r["name"]: r["definition"] for r in rows}


async def partitions(pool: Any) -> dict[str, int]:
    """The partitions of `store_vectors`, with the rows each holds."""
    async with pool.connection() as conn:
        rows = await (await conn.execute(
            "SELECT tableoid::regclass::text AS part, count(*) AS n FROM store_vectors "
            "GROUP BY 1")).fetchall()
        names = await (await conn.execute(
            "SELECT inhrelid::regclass::text AS part FROM pg_inherits "
            "WHERE inhparent = 'store_vectors'::regclass")).fetchall()
    return {r["part"]: 0 for r in names} | {r["part"]: int(r["n"]) for r in rows}


async def test_a_new_store_keeps_half_precision_vectors_in_partitions(
    new_database: Callable[[], str],
) -> None:
    async with database.connection_pool(new_database(), options=SESSION_OPTIONS) as pool:
        store = MemoryStore(pool, index=MODEL.index_config())
        await store.setup()
        async with pool.connection() as conn:
            assert await half_precision.stored_type(conn) == ("halfvec", MODEL.dims)
            assert await vector_partitions.is_partitioned(conn)
        assert len(await partitions(pool)) == vector_partitions.PARTITIONS
        assert {"store_vectors_pkey", "store_vectors_namespace_idx",
                "store_vectors_p00_pkey"} <= set(await indexes(pool))
        ns = ("memories", "acme", "user:h")
        await store.abatch([PutOp(ns, f"k{i}", {"text": f"note {i}"}) for i in range(30)])
        stored = await stored_vectors(pool)
        for i in range(30):
            assert np.array_equal(stored[(".".join(ns), f"k{i}")],
                                  half(MODEL.embeddings.embed_query(f"note {i}")))
        (hit,) = await store.asearch(ns, query="note 7", limit=1)
        assert hit.key == "k7" and hit.similarity == 1.0
        # A namespace's vectors are in one partition: its search reads only that one.
        held = {part: n for part, n in (await partitions(pool)).items() if n}
        assert list(held.values()) == [30]
        plan = await plan_of(store, ns, "note 7")
        read = {name for name in (await partitions(pool)) if f'"{name}"' in plan}
        assert read == set(held)


async def test_a_namespace_index_is_built_on_its_partition_alone(
    new_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The build reads one partition: the index is on the namespace's, which holds no other's."""
    monkeypatch.setattr(search, "EXACT_MAX", 40)
    users = [("memories", "acme", f"user:{i}") for i in range(40)]
    big = users[0]
    async with database.connection_pool(new_database(), options=SESSION_OPTIONS) as pool:
        store = MemoryStore(pool, index=MODEL.index_config())
        await store.setup()
        await store.abatch([PutOp(big, f"k{i}", {"text": f"memory {i} of the garden"})
                            for i in range(60)]
                           + [PutOp(ns, "k", {"text": "another user's note"}) for ns in users[1:]])
        assert (await vector_indexes.maintain(pool)).build == [".".join(big)]
        async with pool.connection() as conn:
            part = await vector_partitions.table_of(conn, ".".join(big))
            on = await (await conn.execute(
                "SELECT indrelid::regclass::text AS t FROM pg_index "
                "WHERE indexrelid = to_regclass(%s)",
                (vector_indexes.index_name(".".join(big)),))).fetchone()
        held = await partitions(pool)
        assert on == {"t": part} and part is not None
        assert held[part] < sum(held.values()) - 60 + held[part]  # other partitions hold rows
        query = "what did I plant"
        assert vector_indexes.index_name(".".join(big)) in await plan_of(store, big, query)
        found = await store.asearch(big, query=query, limit=10)
        texts = {f"k{i}": f"memory {i} of the garden" for i in range(60)}
        assert [i.key for i in found] == exact_half_top(query, texts, 10)
        # Shrunk below half the threshold, its index goes, found on the partition too.
        await store.abatch([PutOp(big, f"k{i}", None) for i in range(45)])
        assert (await vector_indexes.maintain(pool)).drop == [
            vector_indexes.index_name(".".join(big))]
        assert vector_indexes.index_name(".".join(big)) not in await indexes(pool)


@pytest.mark.parametrize("release", ["full precision", "half precision, one table"])
async def test_a_populated_store_is_converted_online_and_loses_nothing(
    new_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch, release: str,
) -> None:
    big, small = ("memories", "acme", "user:big"), ("memories", "acme", "user:small")
    first = half_precision.MIGRATION if release == "full precision" \
        else vector_partitions.migration(search.COVERING_MAX_DIMS)[0]
    before = search.MIGRATIONS.index(first)
    async with database.connection_pool(new_database(), options=SESSION_OPTIONS) as pool:
        with monkeypatch.context() as patch:  # an earlier release's layout
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
        await store.setup()  # today's migrations: a populated store keeps its layout
        async with pool.connection() as conn:
            assert (await half_precision.stored_type(conn))[0] == (
                "vector" if release == "full precision" else "halfvec")
            assert not await vector_partitions.is_partitioned(conn)
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

        done = await convert_vectors.convert(pool, batch=50, between=meanwhile)

        assert done.batches > 3 and done.indexes == [vector_indexes.index_name(".".join(big))]
        async with pool.connection() as conn:
            assert await half_precision.stored_type(conn) == ("halfvec", MODEL.dims)
            assert await vector_partitions.is_partitioned(conn)
            leftovers = await (await conn.execute(
                "SELECT to_regclass(%s) AS copy, to_regclass(%s) AS old, "
                "to_regproc('engram_mirror_vectors') AS mirror",
                (convert_vectors.COPY, convert_vectors.OLD))).fetchone()
        assert leftovers == {"copy": None, "old": None, "mirror": None}
        stored = await stored_vectors(pool)
        assert set(stored) == set(texts)
        for place, text in texts.items():
            assert np.array_equal(stored[place], half(MODEL.embeddings.embed_query(text)))
        assert await kept(pool) == await counted(pool)
        after = await indexes(pool)
        assert names_before <= set(after)  # and each partition's own (store_vectors_p00_pkey, ...)
        assert all(name.startswith("store_vectors_p") for name in set(after) - names_before)
        assert "halfvec_cosine_ops" in after[vector_indexes.index_name(".".join(big))]
        assert set(await partitions(pool)) == {
            f"store_vectors_p{i:02d}" for i in range(vector_partitions.PARTITIONS)}

        # Searches go on through the converted table and the big namespace's own index; the
        # counts keep counting, the store keeps writing.
        query = "what did I plant"
        assert vector_indexes.index_name(".".join(big)) in await plan_of(store, big, query)
        found = await store.asearch(big, query=query, limit=10)
        big_texts = {key: t for (prefix, key), t in texts.items() if prefix == ".".join(big)}
        assert [i.key for i in found] == exact_half_top(query, big_texts, 10)
        await store.abatch([PutOp(small, "after", {"text": "after the swap"})])
        assert await kept(pool) == await counted(pool)
        assert (await convert_vectors.convert(pool)).already


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
            await convert_vectors.convert(pool)
        async with pool.connection() as conn:  # refused before it changed anything
            assert await half_precision.stored_type(conn) == ("vector", MODEL.dims)
            assert await (await conn.execute("SELECT to_regclass(%s) AS copy",
                                             (convert_vectors.COPY,))).fetchone() == {"copy": None}
        await MemoryStore(pool, index=MODEL.index_config()).setup()  # as the command does first
        assert (await convert_vectors.convert(pool)).rows == 12
        assert set(await stored_vectors(pool)) == {(".".join(ns), f"k{i}") for i in range(12)}


async def test_a_search_under_a_namespace_scores_each_child_in_its_own_partition(
    new_database: Callable[[], str],
) -> None:
    """The library's prefix search: children's vectors come from engram_vector_distances."""
    org = ("memories", "acme")
    users = [(*org, f"user:{i}") for i in range(6)]
    texts = {(".".join(ns), f"k{i}"): f"{ns[-1]} keeps note {i} about the garden"
             for ns in users for i in range(search.POOL + 10)}
    # Found by its word alone: its meaning is far from the query's, and more than POOL other
    # memories are nearer, so its similarity is computed apart, for that one memory.
    texts[(".".join(users[3]), "odd")] = "zyzzyva gnat"
    query = "zyzzyva note about the garden"
    q = half(MODEL.embeddings.embed_query(query))
    similarity = {place: max(cosine(q, half(MODEL.embeddings.embed_query(text))), 0.0)
                  for place, text in texts.items()}
    odd = similarity[(".".join(users[3]), "odd")]
    assert odd > 0.1 and sum(s > odd for s in similarity.values()) > search.POOL
    async with database.connection_pool(new_database(), options=SESSION_OPTIONS) as pool:
        store = MemoryStore(pool, index=MODEL.index_config())
        await store.setup()
        await store.abatch([PutOp(tuple(prefix.split(".")), key, {"text": text})
                            for (prefix, key), text in texts.items()])
        found = await store.asearch(org, query=query, limit=500)
        assert {i.namespace for i in found} == set(users)
        assert "odd" in {i.key for i in found}
        for item in found:  # (the search floors a similarity at 0)
            assert item.similarity == pytest.approx(
                similarity[(".".join(item.namespace), item.key)], abs=1e-3)
