"""Checkpoint retention on the real checkpointer: pruning keeps resume and recent time travel."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg

from agent.graph import builder
from store import maintenance
from store.database import connection_pool
from tests.unit.fakes import new_user


async def rows(database_url: str, table: str, thread: str) -> int:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        row = await (await conn.execute(
            f"SELECT count(*) FROM {table} WHERE thread_id = %s", (thread,))).fetchone()
    return int(row[0]) if row else 0


def turn(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


async def test_pruning_keeps_the_latest_k_and_the_thread_still_resumes_and_forks(
    memory_store: Any, checkpointer: Any, database_url: str
) -> None:
    graph = builder.compile(checkpointer=checkpointer, store=memory_store)
    thread = str(uuid.uuid4())
    config = {"configurable": {"thread_id": thread, "langgraph_auth_user": new_user()}}
    for i in range(4):
        await graph.ainvoke(turn(f"I enjoy hobby number {i}."), config)
    before = await graph.aget_state(config)
    assert await rows(database_url, "checkpoints", thread) > 10

    async with connection_pool(database_url) as pool:
        deleted = await maintenance.prune_checkpoints(pool, keep=3, threads=[thread])

    assert deleted > 7
    assert await rows(database_url, "checkpoints", thread) == 3
    after = await graph.aget_state(config)
    assert after.values == before.values
    history = [state async for state in graph.aget_state_history(config)]
    assert len(history) == 3

    resumed = await graph.ainvoke(turn("What hobbies do I enjoy?"), config)
    assert len(resumed["messages"]) == len(before.values["messages"]) + 2

    fork = await graph.aupdate_state(history[-1].config, {"summary": "forked"})
    forked = await graph.ainvoke(None, fork)
    assert forked["summary"] == "forked"


async def test_only_idle_threads_are_deleted(
    memory_store: Any, checkpointer: Any, database_url: str
) -> None:
    graph = builder.compile(checkpointer=checkpointer, store=memory_store)
    idle, active = str(uuid.uuid4()), str(uuid.uuid4())
    user = new_user()
    await graph.ainvoke(turn("Hello."), {"configurable": {"thread_id": idle,
                                                          "langgraph_auth_user": user}})
    cutoff = datetime.now(UTC)
    await graph.ainvoke(turn("Hello."), {"configurable": {"thread_id": active,
                                                          "langgraph_auth_user": user}})

    async with connection_pool(database_url) as pool:
        found = await maintenance.idle_threads(pool, cutoff)
        assert idle in found and active not in found
        assert await maintenance.delete_threads(pool, [idle]) == 1

    for table in ("checkpoints", "checkpoint_writes", "checkpoint_blobs"):
        assert await rows(database_url, table, idle) == 0
    assert await rows(database_url, "checkpoints", active) > 0
