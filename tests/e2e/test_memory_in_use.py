"""Memory that stays true while it is used, through the real server, SDK, console routes and MCP.

Users state facts once, then ask about them again and again in new threads; facts change and
are forgotten. No path may pass an echo of an answer, a repeated question, a superseded value or
a forgotten one off as evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.e2e.conftest import Server, token_for
from tests.e2e.helpers import last_reply, say, say_in_new_thread
from tests.e2e.test_mcp import call, mcp_session

pytestmark = pytest.mark.e2e

Clients = Callable[[str], LangGraphClient]
# (statement, question, a word only the statement's memory holds)
FACTS = [
    ("We adopted a beagle called Biscuit from the shelter on Saturday.",
     "What is the name of our new dog?", "Biscuit"),
    ("I'm allergic to peanuts, so please keep that in mind for recipes.",
     "What food am I allergic to?", "peanuts"),
    ("My sister Ines is getting married in Porto next June.",
     "Where is my sister's wedding?", "Porto"),
    ("I just finished a pottery course and made my first teapot.",
     "What did I make in my pottery course?", "teapot"),
    ("My car is a green 2012 Volvo estate.", "What car do I drive?", "Volvo"),
    ("I'm training for the Lisbon half marathon in October.",
     "Which race am I training for?", "marathon"),
    ("Our team standup moved to 9:15 every weekday morning.",
     "When is my team standup?", "9:15"),
    ("I keep my passport in the blue folder in the desk drawer.",
     "Where do I keep my passport?", "passport"),
]


def seen(values: dict[str, Any]) -> list[str]:
    """Every memory line the responder was shown: facts and quoted episodes."""
    shown = last_reply(values)["response_metadata"]["seen"]
    return [*shown["memories"], *shown["episodes"]]


async def test_statements_stay_in_the_top_5_through_four_rounds_of_questions(
    client_for: Clients,
) -> None:
    vera = client_for("vera")
    for statement, _, _ in FACTS:
        await say_in_new_thread(vera, statement)
    for round_ in range(1, 5):
        for _, question, word in FACTS:
            thread = (await vera.threads.create())["thread_id"]
            lines = seen(await say(vera, thread, question))
            assert len(lines) <= 5
            said = [line for line in lines if word in line and "you answered" not in line]
            assert said, (round_, question, lines)  # the user's statement, or what it taught
            assert not [line for line in lines if question in line], (round_, question)
            assert not [line for line in lines if "From what I remember" in line]
    episodes = (await vera.store.search_items(("memories",), limit=1000))["items"]
    asked = [e for e in episodes if e["value"].get("role") == "user"
             and e["value"]["text"] in {q for _, q, _ in FACTS}]
    assert len(asked) == len(FACTS)  # each question kept once, not once per round


async def search_everywhere(server: Server, client: LangGraphClient, user: str, query: str,
                            through_graph: bool = True) -> dict[str, list[dict[str, Any]]]:
    """The memories each path finds for `query`: the store API, console, MCP, then the graph.

    Asking the graph is a turn, itself remembered: it goes last, and a bare value (which the
    user would be saying anew) is only searched for.
    """
    store = (await client.store.search_items(("memories",), query=query, limit=20))["items"]
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token_for(user)}"}) as http:
        console = (await http.get(f"{server.url}/engram/memories",
                                  params={"q": query, "limit": 20})).json()["memories"]
    async with mcp_session(server, token_for(user)) as session:
        mcp = await call(session, "search_memory", query=query, limit=20)
    found = {"store": [i["value"] for i in store], "console": console, "mcp": mcp}
    if through_graph:
        thread = (await client.threads.create())["thread_id"]
        values = await client.runs.wait(thread, "memory_agent", context={"memory_limit": 10},
                                        input={"messages": [{"role": "user", "content": query}]})
        assert isinstance(values, dict)
        found["graph"] = values["memories"]
    return found


def current(found: list[dict[str, Any]], word: str) -> list[int]:
    return [i for i, m in enumerate(found) if word in m["text"] and not m.get("invalid_at")]


async def test_a_superseded_value_is_never_current_and_ranks_below_the_new_one(
    server: Server, client_for: Clients
) -> None:
    walt = client_for("walt")
    await say_in_new_thread(walt, "I live in Paris.")
    await say_in_new_thread(walt, "I moved to Berlin last month, and my cat Miso came with me.")
    answer = last_reply(await say(walt, (await walt.threads.create())["thread_id"],
                                  "Where do I live?"))["content"]
    assert "Berlin" in answer
    for path, found in (await search_everywhere(server, walt, "walt",
                                                "where does the user live")).items():
        berlin, paris = current(found, "Berlin"), current(found, "Paris")
        assert berlin and not paris, (path, found)  # Paris only as marked history
        older = [i for i, m in enumerate(found) if "Paris" in m["text"]]
        assert all(berlin[0] < i for i in older), path
    # What else the superseded statement's turn said is still found.
    found = await search_everywhere(server, walt, "walt", "what is my cat called")
    assert any("Miso" in m["text"] for m in found["graph"])


async def test_forget_removes_the_value_from_every_path_even_when_it_was_imported(
    server: Server, client_for: Clients
) -> None:
    xena = client_for("xena")
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token_for('xena')}"}) as http:
        imported = await http.post(f"{server.url}/engram/import", json={"sessions": [
            {"id": "s1", "date": "2025-03-01", "messages": [
                {"role": "user", "content": "I moved to Oslo last month."},
                {"role": "assistant", "content": "Oslo is lovely in spring!"}]}]})
        assert imported.status_code == 200, imported.text
    await say_in_new_thread(xena, "I'm based in Oslo, near the fjord.")
    await say_in_new_thread(xena, "Forget that I live in Oslo.")
    for query in ("Oslo", "where do I live"):
        probe = await search_everywhere(server, xena, "xena", query, query != "Oslo")
        for path, found in probe.items():
            assert not [m for m in found if "Oslo" in m["text"]], (path, query, found)
    answer = last_reply(await say(xena, (await xena.threads.create())["thread_id"],
                                  "Where do I live?"))["content"]
    assert "Oslo" not in answer
    everything = (await xena.store.search_items(("memories",), limit=1000))["items"]
    assert not [i for i in everything if "Oslo" in str(i["value"])]


async def test_a_secret_alone_is_no_fact(client_for: Clients) -> None:
    yuri = client_for("yuri")
    thread = await say_in_new_thread(
        yuri, "Remember that my OpenAI key is sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789.")
    items = (await yuri.store.search_items(("memories",), limit=100))["items"]
    assert not [i for i in items if i["value"].get("kind") != "episode"]
    [episode] = [i for i in items if i["value"].get("role") == "user"]
    assert "[api_key]" in episode["value"]["text"] and thread
