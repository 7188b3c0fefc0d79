"""Episodes and import through the real server: recall across threads, isolation, bad input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from agent.memory.model.schema import Identity, memory_namespace
from tests.conftest import mint
from tests.e2e.conftest import USERS, Server
from tests.e2e.helpers import all_memories, last_reply, say, seen_memories

pytestmark = pytest.mark.e2e

Clients = Callable[[str], LangGraphClient]
LISBON = "Just got back from Lisbon where I gave a talk on Rust. My daughter Mia turns 7 next week."


def episodes(memories: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in memories if m["value"].get("kind") == "episode"]


async def test_what_was_said_in_passing_is_recalled_in_a_new_thread(client_for: Clients) -> None:
    carol = client_for("carol")
    first = await carol.threads.create()
    await say(carol, first["thread_id"], LISBON)

    for question, expected in (("Where did I give my talk?", "Lisbon"),
                               ("How old is my daughter turning?", "Mia turns 7")):
        thread = await carol.threads.create()
        reply = last_reply(await say(carol, thread["thread_id"], question))
        assert expected in reply["content"], reply["content"]
        seen = reply["response_metadata"]["seen"]["episodes"]
        assert any(f"the user said: \"{LISBON}\"" in line for line in seen)

    stored = [m["value"] for m in episodes(await all_memories(carol)) if m["value"]["text"] == LISBON]
    (episode,) = stored
    assert episode["role"] == "user" and episode["source"]["thread_id"] == first["thread_id"]
    assert episode["said_at"] and episode["source"]["message_id"]


async def test_another_user_never_retrieves_these_episodes(client_for: Clients) -> None:
    frank, bob = client_for("frank"), client_for("bob")
    thread = await frank.threads.create()
    await say(frank, thread["thread_id"], "My locker code at the climbing gym is behind the blue door.")

    other = await bob.threads.create()
    values = await say(bob, other["thread_id"], "Where is my locker at the climbing gym?")
    assert not any("blue door" in line for line in last_reply(values)["response_metadata"]["seen"]
                   ["episodes"])
    found = await bob.store.search_items(("memories",), query="locker climbing gym blue door")
    assert all("blue door" not in item["value"]["text"] for item in found["items"])


async def test_a_secret_said_in_a_turn_is_in_no_episode(client_for: Clients) -> None:
    dana = client_for("dana")
    thread = await dana.threads.create()
    await say(dana, thread["thread_id"],
              "My card is 4111111111111111 and my email is dana@example.com, book the hotel.")
    stored = episodes(await all_memories(dana))
    assert stored and all("4111" not in m["value"]["text"] and "dana@example.com"
                          not in m["value"]["text"] for m in stored)
    assert any(m["value"]["scrubbed"] == {"card_number": 1, "email": 1} for m in stored)


def history(session_id: str = "trip") -> dict[str, Any]:
    return {"sessions": [
        {"id": session_id, "date": "2023/05/08 (Mon) 14:00", "messages": [
            {"role": "system", "content": "You are a travel agent."},
            {"role": "user", "content": "I'm planning a trip to Kyoto with my brother Ken."},
            {"role": "assistant", "content": [{"type": "text", "text": "Kyoto in spring is lovely."}]},
            {"role": "user", "content": "I prefer trains over planes."},
            {"role": "assistant", "content": "Then take the Shinkansen from Tokyo."},
        ]},
        {"date": "2023-06-01T09:30:00Z", "messages": [
            {"role": "user", "content": "My name is Frida."},
        ]},
    ]}


def bearer(user: str) -> dict[str, str]:
    org, role = USERS[user]
    return {"Authorization": f"Bearer {mint(user, org, role)}"}


async def test_import_is_idempotent_dated_and_isolated(server: Server, client_for: Clients) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        first = await http.post("/engram/import", json=history(), headers=bearer("frank"))
        assert first.status_code == 200, first.text
        report = first.json()
        assert report["namespace"] == list(memory_namespace(Identity("frank", "acme")))
        assert (report["sessions"], report["turns"], report["episodes"]) == (2, 3, 5)
        assert report["memories"] == {"add": 2}
        after_first = await all_memories(client_for("frank"))

        again = await http.post("/engram/import", json=history(), headers=bearer("frank"))
        assert again.json()["turns"] == 0 and again.json()["already_imported"] == 3
        assert await all_memories(client_for("frank")) == after_first

    imported = [m["value"] for m in episodes(after_first) if m["value"]["source"]["thread_id"]
                in ("import:trip",)]
    assert {(e["role"], e["said_at"][:10]) for e in imported} == {
        ("user", "2023-05-08"), ("assistant", "2023-05-08")}
    assert "You are a travel agent." not in str(after_first)
    texts = {m["value"]["text"] for m in after_first}
    assert {"The user prefers trains over planes.", "The user's name is Frida."} <= texts

    frank = client_for("frank")
    thread = await frank.threads.create()
    values = await say(frank, thread["thread_id"], "Who am I travelling to Kyoto with?")
    assert any("brother Ken" in line for line in
               last_reply(values)["response_metadata"]["seen"]["episodes"])
    assert "The user prefers trains over planes." in seen_memories(
        await say(frank, thread["thread_id"], "Do I like trains or planes?"))

    mine = (await frank.store.search_items(("memories",), query="Kyoto brother Ken"))["items"]
    assert mine and mine[0]["similarity"] > 0 and mine[0]["lexical"] > 0  # both signals shown
    assert "_match" not in mine[0]["value"]  # beside the value, never in it
    bob = client_for("bob")
    found = await bob.store.search_items(("memories",), query="Kyoto brother Ken")
    assert all("Kyoto" not in item["value"]["text"] for item in found["items"])


@pytest.mark.parametrize(("body", "status", "detail"), [
    ({"sessions": [{"messages": [{"role": "user", "content": "hi"}]}]}, 422, "sessions[0].date"),
    ({"sessions": [{"date": "next tuesday", "messages": [{"role": "user", "content": "hi"}]}]},
     422, "sessions[0].date"),
    ({"sessions": [{"date": "2023-01-01", "messages": "hi"}]}, 422, "sessions[0].messages"),
    ({"sessions": [{"date": "2023-01-01", "messages": [{"role": "robot", "content": "x"}]}]},
     422, "sessions[0].messages[0].role"),
    ({"sessions": [{"date": "2023-01-01", "messages": [{"role": "user", "content": 7}]}]},
     422, "sessions[0].messages[0].content"),
    ({"conversations": []}, 422, "unknown fields"),
    ({"sessions": []}, 422, "non-empty"),
    ({"namespace": ["memories", "acme", "user:alice"], "sessions": history()["sessions"]}, 403,
     "not yours"),
])
async def test_bad_imports_are_refused_and_write_nothing(
    server: Server, client_for: Clients, body: dict[str, Any], status: int, detail: str
) -> None:
    before = await all_memories(client_for("bob"))
    if body.get("sessions") and status == 422:  # a good session after the bad one: not written
        body = {**body, "sessions": [*body["sessions"], history("ok")["sessions"][0]]}
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        response = await http.post("/engram/import", json=body, headers=bearer("bob"))
    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]
    assert await all_memories(client_for("bob")) == before


async def test_import_needs_a_user_and_a_sane_body(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        assert (await http.post("/engram/import", json=history())).status_code == 401
        service = await http.post("/engram/import", json=history(), headers=bearer("ops"))
        assert service.status_code == 403
        broken = await http.post("/engram/import", content=b"{not json", headers=bearer("bob"))
        assert broken.status_code == 400 and "not JSON" in broken.json()["detail"]
        huge = {"sessions": [{"date": "2023-01-01", "messages": [
            {"role": "user", "content": "x" * 30_000}] * 1000}]}
        too_big = await http.post("/engram/import", json=huge, headers=bearer("bob"))
        assert too_big.status_code == 413
