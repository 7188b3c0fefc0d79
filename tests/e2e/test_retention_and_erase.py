"""Erasing a user leaves nothing of them; retention deletes threads through the API."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import psycopg
import pytest
from langgraph_sdk.client import LangGraphClient

from agent.memory.model.schema import Identity, ledger_namespace, memory_namespace, usage_namespace
from store import maintenance
from store.database import connection_pool
from tests.conftest import mint
from tests.e2e.conftest import Server
from tests.e2e.helpers import all_memories, say

pytestmark = pytest.mark.e2e

Clients = Callable[[str], LangGraphClient]


async def leftovers(database_url: str, user: str, threads: list[str]) -> dict[str, int]:
    """Rows anywhere in the database that belong to `user` or their threads."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        counts = {}
        for table in ("checkpoints", "checkpoint_writes", "checkpoint_blobs"):
            row = await (await conn.execute(
                f"SELECT count(*) FROM {table} WHERE thread_id = ANY(%s)", (threads,))).fetchone()
            counts[table] = int(row[0]) if row else 0
        identity = Identity(user, "acme")
        prefixes = [".".join(ns) for ns in (memory_namespace(identity), ledger_namespace(identity),
                                            usage_namespace(identity))]
        row = await (await conn.execute(
            "SELECT count(*) FROM store WHERE prefix = ANY(%s) OR value::text LIKE %s",
            (prefixes, f"%{threads[0]}%"))).fetchone()
        counts["store"] = int(row[0]) if row else 0
        row = await (await conn.execute(
            "SELECT count(*) FROM store_vectors WHERE prefix = ANY(%s)", (prefixes,))).fetchone()
        counts["store_vectors"] = int(row[0]) if row else 0
        # Even the names of the user's namespaces, kept with their sizes.
        row = await (await conn.execute(
            "SELECT (SELECT count(*) FROM engram_namespace_sizes WHERE prefix = ANY(%(p)s))"
            " + (SELECT count(*) FROM engram_namespace_size_changes WHERE prefix = ANY(%(p)s))",
            {"p": prefixes})).fetchone()
        counts["namespace_sizes"] = int(row[0]) if row else 0
    return counts


async def test_forget_me_erases_every_memory_and_thread_of_the_user(
    server: Server, client_for: Clients, database_url: str
) -> None:
    erin, alice = client_for("erin"), client_for("alice")
    threads = []
    for text in ("I live in Oslo. My name is Erin.", "I love sailing."):
        thread = await erin.threads.create()
        await say(erin, thread["thread_id"], text)
        await say(erin, thread["thread_id"], "What do you remember about me?")
        threads.append(thread["thread_id"])
    kept = await alice.threads.create()
    await say(alice, kept["thread_id"], "I love chess.")
    before = await leftovers(database_url, "erin", threads)
    assert before["store"] >= 7 and before["store_vectors"] >= 3 and before["checkpoints"] > 0
    assert before["namespace_sizes"] >= 3

    async with httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.post("/engram/forget-me")).status_code == 401
        response = await http.post(
            "/engram/forget-me", headers={"Authorization": f"Bearer {mint('erin', 'acme')}"})
    assert response.status_code == 200, response.text
    report = response.json()
    # 3 facts and 5 episodes: 4 user turns and the one answer that added something ("Noted."
    # had nothing to restate); the answers that only restated memories are not kept.
    assert report["threads"] == 2 and report["memories"] == 8 and report["ledger_entries"] == 4

    assert await leftovers(database_url, "erin", threads) == {
        "checkpoints": 0, "checkpoint_writes": 0, "checkpoint_blobs": 0, "store": 0,
        "store_vectors": 0, "namespace_sizes": 0}
    assert await erin.threads.search() == [] and await all_memories(erin) == []
    assert (await alice.threads.get(kept["thread_id"]))["thread_id"] == kept["thread_id"]
    assert any("chess" in m["value"]["text"] for m in await all_memories(alice))


async def test_retention_deletes_idle_threads_through_the_api_with_a_service_token(
    server: Server, client_for: Clients, database_url: str
) -> None:
    bob, ops = client_for("bob"), client_for("ops")
    thread = await bob.threads.create()
    await say(bob, thread["thread_id"], "Hello there.")

    with pytest.raises(httpx.HTTPStatusError):  # the service role touches threads only
        await ops.store.search_items(("memories",))
    with pytest.raises(httpx.HTTPStatusError):
        await ops.threads.create()

    async with connection_pool(database_url) as pool:
        deleted = await maintenance.delete_threads(
            pool, [thread["thread_id"]], server=server.url, token=mint("ops", "acme", "service"))
    assert deleted == 1
    with pytest.raises(httpx.HTTPStatusError) as gone:
        await bob.threads.get(thread["thread_id"])
    assert gone.value.response.status_code == 404
    assert (await leftovers(database_url, "nobody", [thread["thread_id"]]))["checkpoints"] == 0


async def test_the_in_process_route_is_not_reachable_from_outside(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post("/noauth/threads/search", json={})
    assert response.status_code in (401, 403, 404)


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [(b'{"user_id": "alice"}', 422, "takes no fields"), (b'["alice"]', 422, "takes no fields"),
     (b"alice", 400, "not JSON")],
)
async def test_forget_me_refuses_a_body_it_does_not_understand_and_erases_nothing(
    server: Server, client_for: Clients, body: bytes, status: int, says: str
) -> None:
    abel = client_for("abel")
    thread = await abel.threads.create()
    await say(abel, thread["thread_id"], "I live in Ghent.")
    before = await all_memories(abel)
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(
            "/engram/forget-me", content=body,
            headers={"Authorization": f"Bearer {mint('abel', 'acme')}",
                     "content-type": "application/json"})
    assert response.status_code == status and says in response.json()["detail"]
    assert await all_memories(abel) == before and before
    assert (await abel.threads.get(thread["thread_id"]))["thread_id"] == thread["thread_id"]
