"""Namespace sizes kept as writes happen: always the true count, never a wait, gone when emptied."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langgraph.store.base import PutOp

from store import database, namespace_sizes, search, vector_indexes
from store.retention import KindPolicy, MessageKind
from store.search import SESSION_OPTIONS, MemoryStore
from tests.unit.test_search_at_scale import MODEL, filled

KINDS = KindPolicy(messages=MessageKind("episode", "text"))


async def counted(pool: Any) -> dict[str, tuple[int, int]]:
    """Every namespace's memories and vectors, counted from the tables themselves."""
    async with pool.connection() as conn:
        rows = await (await conn.execute(
            "SELECT prefix, sum(m) AS m, sum(v) AS v FROM ("
            " SELECT prefix, count(*) AS m, 0 AS v FROM store GROUP BY prefix UNION ALL"
            " SELECT prefix, 0, count(*) FROM store_vectors GROUP BY prefix) c"
            " GROUP BY prefix")).fetchall()
    return {row["prefix"]: (int(row["m"]), int(row["v"])) for row in rows}


async def kept(pool: Any) -> dict[str, tuple[int, int]]:
    """Every namespace's size as kept (folded or not), empty ones left out."""
    async with pool.connection() as conn:
        rows = await (await conn.execute(
            "SELECT prefix, sum(memories) AS m, sum(vectors) AS v FROM ("
            " SELECT prefix, memories, vectors FROM engram_namespace_sizes UNION ALL"
            " SELECT prefix, memories, vectors FROM engram_namespace_size_changes) k"
            " GROUP BY prefix")).fetchall()
    return {row["prefix"]: (int(row["m"]), int(row["v"])) for row in rows
            if (int(row["m"]), int(row["v"])) != (0, 0)}


async def names_left(pool: Any) -> set[str]:
    """Every namespace name the size tables hold."""
    async with pool.connection() as conn:
        rows = await (await conn.execute(
            "SELECT prefix FROM engram_namespace_sizes UNION "
            "SELECT prefix FROM engram_namespace_size_changes")).fetchall()
    return {row["prefix"] for row in rows}


async def test_kept_sizes_are_the_true_counts_through_every_kind_of_write(
    new_database: Callable[[], str],
) -> None:
    alice, bob = ("memories", "acme", "user:alice"), ("memories", "acme", "user:bob")
    async with database.connection_pool(new_database(), options=SESSION_OPTIONS) as pool:
        store = MemoryStore(pool, index=MODEL.index_config(), kinds=KINDS)
        await store.setup()
        await store.abatch([PutOp(alice, f"k{i}", {"text": f"fact {i}"}) for i in range(30)]
                           + [PutOp(bob, f"k{i}", {"text": f"fact {i}"}) for i in range(7)])
        # Rewrites are updates (ON CONFLICT): no new memory, no new vector.
        await store.abatch([PutOp(alice, f"k{i}", {"text": f"fact {i}, again"})
                            for i in range(10)])
        # Records kept out of search: memories without vectors.
        await store.abatch([PutOp(alice, f"r{i}", {"n": i}, index=False) for i in range(5)])
        # Messages: stored at once, their vectors filled in later.
        await store.abatch([PutOp(bob, f"m{i}", {"kind": "episode", "text": f"said {i}"},
                                  index=False) for i in range(4)])
        assert await kept(pool) == await counted(pool)
        assert (await kept(pool))[".".join(bob)] == (11, 7)
        await store.fill_vectors()
        assert (await kept(pool))[".".join(bob)] == (11, 11)
        # Deletes, one by one and in a batch; a memory's vectors go with it (cascade).
        await store.adelete(alice, "k0")
        await store.abatch([PutOp(alice, f"k{i}", None) for i in range(1, 20)]
                           + [PutOp(alice, "r0", None)])
        assert await kept(pool) == await counted(pool) == {
            ".".join(alice): (14, 10), ".".join(bob): (11, 11)}

        # Folded: the same sizes; what had changes now has one row.
        async with pool.connection() as conn:
            await namespace_sizes.fold(conn)
            left = await (await conn.execute(
                "SELECT count(*) AS n FROM engram_namespace_size_changes")).fetchone()
        assert left == {"n": 0}
        assert await kept(pool) == await counted(pool)
        assert await namespace_sizes.larger_than(pool, 10) == {".".join(bob): 11}

        # TRUNCATE, which deletes without a transition table, leaves nothing counted.
        async with pool.connection() as conn:
            await conn.execute("TRUNCATE engram_pending_vectors, store_vectors, store")
        assert await kept(pool) == await counted(pool) == {}


async def test_writers_of_one_namespace_never_wait_for_each_other(
    new_database: Callable[[], str],
) -> None:
    # A count row updated by every write would make the second writer wait for the first's
    # commit (and two writers of two namespaces in opposite orders deadlock).
    ns, org = ("memories", "acme", "user:busy"), ("memories", "acme", "org")
    async with database.connection_pool(new_database(), options=SESSION_OPTIONS) as pool:
        store = MemoryStore(pool, index=MODEL.index_config())
        await store.setup()
        await store.abatch([PutOp(ns, "first", {"text": "first"}), PutOp(org, "o", {"text": "o"})])
        async with pool.connection() as first, pool.connection() as second:
            await first.execute("BEGIN")
            await first.execute(
                "DELETE FROM store WHERE prefix = %s AND key = 'first'", (".".join(ns),))
            await first.execute("DELETE FROM store WHERE prefix = %s", (".".join(org),))
            # The other writer, in the opposite order, gives up if it waits on any lock.
            await second.execute("SET lock_timeout = '2s'")
            await second.execute("BEGIN")
            await second.execute(
                "INSERT INTO store (prefix, key, value) VALUES (%s, 'o2', '{}')", (".".join(org),))
            await second.execute(
                "INSERT INTO store (prefix, key, value) VALUES (%s, 'second', '{}')",
                (".".join(ns),))
            await second.execute("COMMIT")
            await first.execute("COMMIT")
            await second.execute("RESET lock_timeout")
        assert await kept(pool) == await counted(pool) == {
            ".".join(ns): (1, 0), ".".join(org): (1, 0)}


async def test_the_migration_counts_a_populated_store(
    new_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    ns = ("memories", "acme", "user:old")
    before = search.MIGRATIONS.index(namespace_sizes.MIGRATIONS[0])
    async with database.connection_pool(new_database(), options=SESSION_OPTIONS) as pool:
        with monkeypatch.context() as patch:  # the release before: sizes were counted
            patch.setattr(search, "MIGRATIONS", search.MIGRATIONS[:before])
            await filled(pool, {ns: 120, ("memories", "acme", "user:other"): 3})
        async with pool.connection() as conn:
            assert await (await conn.execute(
                "SELECT to_regclass('engram_namespace_sizes') AS t")).fetchone() == {"t": None}
        store = MemoryStore(pool, index=MODEL.index_config())
        await store.setup()  # today's migrations, on the populated store
        assert await kept(pool) == await counted(pool)
        assert (await kept(pool))[".".join(ns)] == (120, 120)
        monkeypatch.setattr(search, "EXACT_MAX", 100)
        assert (await vector_indexes.maintain(pool)).build == [".".join(ns)]


async def test_an_emptied_namespace_leaves_no_name_behind(
    new_database: Callable[[], str],
) -> None:
    gone, stays = ("memories", "acme", "user:gone"), ("memories", "acme", "user:stays")
    async with database.connection_pool(new_database(), options=SESSION_OPTIONS) as pool:
        store = await filled(pool, {gone: 20, stays: 2})
        await store.abatch([PutOp(gone, f"k{i}", None) for i in range(20)])
        assert ".".join(gone) in await names_left(pool)  # its changes, not folded yet
        await store.fold_sizes()
        assert await names_left(pool) == {".".join(stays)}
        await store.abatch([PutOp(stays, f"k{i}", None) for i in range(2)])
        await vector_indexes.maintain(pool)  # the round folds too
        assert await names_left(pool) == set()

