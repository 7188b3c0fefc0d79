"""A pooled connection the server ended is never lent, and one lent moments ago costs no round trip."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from store import database


async def backend_of(conn: Any) -> int:
    row = await (await conn.execute("SELECT pg_backend_pid() AS pid")).fetchone()
    return int(row["pid"])


async def test_a_connection_the_server_ended_is_replaced_before_it_is_lent(
    database_url: str,
) -> None:
    async with database.connection_pool(database_url, max_size=1) as pool:
        async with pool.connection() as conn:
            ended = await backend_of(conn)
        async with pool.connection() as conn:  # lent again at once: the same session
            assert await backend_of(conn) == ended
        async with await psycopg.AsyncConnection.connect(
                database_url, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", (ended,))
        await asyncio.sleep(0.2)  # the goodbye reaches the pooled socket
        async with pool.connection() as conn:  # no failed statement: a new session
            assert await backend_of(conn) != ended


async def test_a_connection_lent_moments_ago_is_lent_without_a_round_trip(
    database_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    round_trips: list[Any] = []
    original = database.AsyncConnectionPool.check_connection

    async def counted(conn: Any) -> None:
        round_trips.append(conn)
        await original(conn)

    monkeypatch.setattr(database.AsyncConnectionPool, "check_connection", counted)
    async with database.connection_pool(database_url, max_size=1) as pool:
        for _ in range(5):
            async with pool.connection() as conn:
                await conn.execute("SELECT 1")
        assert len(round_trips) == 1  # the first lending only
        monkeypatch.setattr(database, "QUIET_CHECK_S", 0.0)
        async with pool.connection() as conn:  # idle "too long": checked again
            await conn.execute("SELECT 1")
        assert len(round_trips) == 2
