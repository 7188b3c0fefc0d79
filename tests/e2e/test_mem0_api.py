"""Mem0's official Python client (`mem0ai` 2.2.1) against Engram's Mem0-compatible routes.

The client is used unchanged: `MemoryClient(api_key=<the user's Engram token>, host=<server>)`.
Its telemetry is off (MEM0_TELEMETRY=false, read when `mem0` is imported) and its local config
goes to a temporary folder, so it reaches nothing but the server under test.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from typing import Any

import httpx
import pytest

os.environ["MEM0_TELEMETRY"] = "false"  # before `mem0` is imported anywhere
os.environ.setdefault("MEM0_DIR", tempfile.mkdtemp(prefix="engram-mem0-"))

from mem0.client.main import AsyncMemoryClient, MemoryClient  # noqa: E402
from mem0.exceptions import (  # noqa: E402
    AuthenticationError,
    MemoryError,
    MemoryNotFoundError,
    ValidationError,
)

from tests.e2e.conftest import Server, token_for  # noqa: E402
from tests.e2e.helpers import say_in_new_thread  # noqa: E402
from tests.e2e.test_mcp import mcp_session  # noqa: E402

pytestmark = pytest.mark.e2e


def mem0_for(server: Server, user: str) -> MemoryClient:
    return MemoryClient(api_key=token_for(user), host=server.url)


def texts(results: Any) -> list[str]:
    items = results["results"] if isinstance(results, dict) else results
    return [item["memory"] for item in items]


def test_the_client_adds_searches_lists_updates_and_deletes(server: Server) -> None:
    wren = mem0_for(server, "wren")
    added = wren.add([{"role": "user", "content": "My favourite tea is sencha."},
                      {"role": "assistant", "content": "Sencha is a fine green tea."}],
                     user_id="wren")
    assert added["status"] == "SUCCEEDED" and added["event_id"]
    with httpx.Client(base_url=server.url,
                      headers={"Authorization": f"Token {token_for('wren')}"}) as http:
        event = http.get(f"/v1/event/{added['event_id']}/").json()
    assert event["status"] == "SUCCEEDED" and event["results"]["turns"] == 1

    found = wren.search("which tea do I like", filters={"user_id": "wren"}, top_k=3)
    assert "sencha" in texts(found)[0].lower()
    first = found["results"][0]
    assert first["user_id"] == "wren" and first["score"] > 0 and first["categories"]

    listed = wren.get_all(filters={"user_id": "wren"}, page=1, page_size=10)
    assert listed["count"] >= 1 and first["id"] in [m["id"] for m in listed["results"]]
    assert wren.get(first["id"])["memory"] == first["memory"]

    changed = wren.update(first["id"], text="My favourite tea is gyokuro.")
    assert changed["memory"] == "My favourite tea is gyokuro."
    steps = wren.history(first["id"])
    assert [s["event"] for s in steps] == ["ADD", "UPDATE"]
    assert steps[-1]["old_memory"] == first["memory"]
    assert steps[-1]["new_memory"] == "My favourite tea is gyokuro."

    wren.delete(first["id"])
    with pytest.raises(MemoryNotFoundError):
        wren.get(first["id"])
    kept = wren.add("I live in Lisbon.", user_id="wren")
    assert kept["status"] == "SUCCEEDED"
    assert texts(wren.get_all(filters={"user_id": "wren"}))
    wren.delete_all(user_id="wren")
    assert texts(wren.get_all(filters={"user_id": "wren"})) == []


def test_without_inference_scope_and_metadata_are_kept_and_filtered(server: Server) -> None:
    zack = mem0_for(server, "zack")
    added = zack.add([{"role": "user", "content": "Prefers window seats on long flights."}],
                     user_id="zack", agent_id="trip-planner", metadata={"source": "crm"},
                     infer=False)
    (result,) = added["results"]
    assert result["event"] == "ADD"
    zack.add([{"role": "user", "content": "Likes quiet hotel rooms."}], user_id="zack",
             agent_id="hotel-bot", infer=False)

    mine = zack.search("seats on flights", filters={
        "AND": [{"user_id": "zack"}, {"agent_id": "trip-planner"}]})
    assert texts(mine) == ["Prefers window seats on long flights."]
    assert mine["results"][0]["metadata"] == {"source": "crm"}
    # Top-level `metadata` and `categories` narrow a search as filters do (never ignored).
    assert texts(zack.search("seats on flights", metadata={"source": "crm"})) == [
        "Prefers window seats on long flights."]
    assert zack.search("seats on flights", categories=["preference"])["results"] == []
    either = zack.get_all(filters={"OR": [{"agent_id": "trip-planner"}, {"agent_id": "hotel-bot"}]})
    assert sorted(texts(either)) == ["Likes quiet hotel rooms.",
                                     "Prefers window seats on long flights."]
    zack.delete_users(agent_id="hotel-bot")
    assert texts(zack.get_all(filters={"agent_id": "hotel-bot"})) == []


def test_a_second_key_cannot_see_or_delete_the_first_keys_memories(server: Server) -> None:
    wren, yves = mem0_for(server, "wren"), mem0_for(server, "yves")
    added = wren.add([{"role": "user", "content": "My locker code is behind the blue door."}],
                     user_id="wren", infer=False)
    (memory,) = added["results"]

    assert yves.search("locker blue door", filters={"user_id": "wren"})["results"] == []
    assert yves.get_all(filters={"user_id": "wren"})["results"] == []
    with pytest.raises(MemoryNotFoundError):
        yves.get(memory["id"])
    with pytest.raises(MemoryNotFoundError):
        yves.delete(memory["id"])
    with pytest.raises(AuthenticationError, match="not yours"):
        yves.delete_all(user_id="wren")
    with pytest.raises(AuthenticationError, match="not yours"):
        yves.add("I am wren now.", user_id="wren")
    assert wren.get(memory["id"])["memory"] == "My locker code is behind the blue door."


def test_bad_requests_get_mem0_errors_and_unsupported_features_501(server: Server) -> None:
    with pytest.raises(ValueError, match="Error: "):
        MemoryClient(api_key="not-a-token", host=server.url)
    yves = mem0_for(server, "yves")
    with pytest.raises(ValidationError, match="each message must be"):
        yves.add([{"role": "user"}], user_id="yves")
    with pytest.raises(ValidationError, match="unknown fields"):
        yves.search("tea", filters={"user_id": "yves"}, colour="blue")
    with pytest.raises(ValidationError, match="unsupported filter"):
        yves.search("tea", filters={"mood": "happy"})
    with pytest.raises(MemoryError, match="graph memory is not supported"):
        yves.add("I like tea.", user_id="yves", enable_graph=True)
    with pytest.raises(MemoryError, match="feedback is not supported"):
        yves.feedback("some-id", feedback="POSITIVE")
    with httpx.Client(base_url=server.url) as http:
        refused = http.post("/v3/memories/search/", json={"query": "tea"})
        assert refused.status_code == 401 and "detail" in refused.json()
        broken = http.post("/v3/memories/add/", content=b"{not json",
                           headers={"Authorization": f"Token {token_for('yves')}",
                                    "content-type": "application/json"})
        assert broken.status_code == 422 and "not JSON" in broken.json()["detail"]


def test_memory_added_through_mem0_is_found_everywhere_and_the_other_way(
    server: Server, client_for: Any,
) -> None:
    wren = mem0_for(server, "wren")
    wren.add([{"role": "user", "content": "I keep two beehives in the garden."}],
             user_id="wren", infer=False)
    sdk = client_for("wren")

    async def elsewhere() -> tuple[list[str], list[str], str]:
        through_sdk = await sdk.store.search_items(("memories",), query="beehives garden")
        async with httpx.AsyncClient(base_url=server.url, headers={
                "Authorization": f"Bearer {token_for('wren')}"}) as http:
            console = (await http.get("/engram/memories", params={"q": "beehives"})).json()
        async with mcp_session(server, token_for("wren")) as session:
            result = await session.call_tool("search_memory", {"query": "beehives"})
        mcp_text = json.dumps([c.model_dump() for c in result.content])
        await say_in_new_thread(sdk, "I live in Ghent.")
        return ([i["value"]["text"] for i in through_sdk["items"]],
                [m["text"] for m in console["memories"]], mcp_text)

    through_sdk, console, mcp_text = asyncio.run(elsewhere())
    assert "I keep two beehives in the garden." in through_sdk
    assert "I keep two beehives in the garden." in console
    assert "beehives" in mcp_text
    # The other way: what a LangGraph thread learned is found through Mem0's client.
    assert any("Ghent" in text for text in texts(wren.search("where do I live",
                                                             filters={"user_id": "wren"})))


def test_the_legacy_add_route_and_the_entity_list(server: Server) -> None:
    headers = {"Authorization": f"Token {token_for('yves')}"}
    with httpx.Client(base_url=server.url, headers=headers) as http:
        added = http.post("/v1/memories/", json={
            "messages": [{"role": "user", "content": "Keeps a sourdough starter named Clint."}],
            "user_id": "yves", "agent_id": "kitchen-bot", "infer": False})
        assert added.status_code == 200, added.text
        (result,) = added.json()["results"]
        assert result["event"] == "ADD" and result["memory"] == "Keeps a sourdough starter named Clint."
        listed = http.get("/v1/entities/").json()["results"]
    assert {"type": "user", "name": "yves"} in [{k: e[k] for k in ("type", "name")} for e in listed]
    assert {"type": "agent", "name": "kitchen-bot"} in listed


async def test_the_async_client_speaks_the_same_routes(server: Server) -> None:
    async with AsyncMemoryClient(api_key=token_for("zack"), host=server.url) as zack:
        added = await zack.add([{"role": "user", "content": "Collects vintage fountain pens."}],
                               user_id="zack", infer=False)
        (memory,) = added["results"]
        found = await zack.search("fountain pens", filters={"user_id": "zack"}, top_k=3)
        assert texts(found)[0] == "Collects vintage fountain pens."
        await zack.delete(memory["id"])
        with pytest.raises(MemoryNotFoundError):
            await zack.get(memory["id"])
