"""The model's memory tools through the real server and SDK, with a tool-calling chat model.

The model is `langchain-openai`'s client talking to a local OpenAI-compatible endpoint that
follows a script in the user's message (tests/e2e/fake_openai.py) and records what it was sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.e2e.conftest import Server, token_for
from tests.e2e.fake_openai import FakeOpenAI
from tests.e2e.helpers import GRAPH, all_memories, say

pytestmark = pytest.mark.e2e
MODEL = "openai:fake-tools"


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    endpoint = FakeOpenAI()
    endpoint.start()
    yield endpoint
    endpoint.stop()


@pytest.fixture(scope="module")
def tool_server(engram_env: dict[str, str], fake_openai: FakeOpenAI,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("tool-server"), {
        **engram_env, "ENGRAM_ALLOWED_MODELS": MODEL, "OPENAI_BASE_URL": fake_openai.url,
        "OPENAI_API_KEY": "sk-fake-for-tests"})
    running.start()
    yield running
    running.stop()


def client(server: Server, user: str) -> LangGraphClient:
    return get_client(url=server.url, headers={"Authorization": f"Bearer {token_for(user)}"})


def call(tool: str, **arguments: Any) -> str:
    return f"call {tool} {json.dumps(arguments)}"


async def turn(someone: LangGraphClient, text: str, **context: Any) -> dict[str, Any]:
    thread = await someone.threads.create()
    return await say(someone, thread["thread_id"], text, model=MODEL, **context)


def tool_results(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(m["content"]) for m in values["messages"] if m["type"] == "tool"]


async def test_remember_then_recall_in_a_new_thread(
    tool_server: Server, fake_openai: FakeOpenAI,
) -> None:
    tess = client(tool_server, "tess")
    kept = await turn(tess, call("remember", text="The user's favourite tea is gyokuro.",
                                 subject="favourite tea", kind="preference"))
    assert [w["status"] for w in tool_results(kept)[0]["written"]] == ["applied"]
    assert fake_openai.tool_names() == {"search_memory", "remember", "correct_memory",
                                        "forget_memory"}

    found = await turn(tess, call("search_memory", query="which tea"), memory_limit=0)

    assert "gyokuro" in found["messages"][-1]["content"]  # the result reached the model
    assert [m["text"] for m in tool_results(found)[0]["found"]][:1] == [
        "The user's favourite tea is gyokuro."]


async def test_a_gated_remember_pauses_and_approving_writes_it_once(tool_server: Server) -> None:
    ugo = client(tool_server, "ugo")
    thread = await ugo.threads.create()
    await ugo.runs.wait(thread["thread_id"], GRAPH, input={"messages": [{
        "role": "user", "content": call("remember", text="The user is allergic to sesame.",
                                        subject="allergy")}]},
        context={"model": MODEL, "approval": "always"})
    state = await ugo.threads.get_state(thread["thread_id"])
    assert state["next"] == ["memory_tools"]
    assert not [m for m in await all_memories(ugo) if "sesame" in m["value"].get("text", "")]

    for _ in range(2):  # the second resume finds nothing waiting: nothing is written twice
        await ugo.runs.wait(thread["thread_id"], GRAPH, command={"resume": "approve"},
                            context={"model": MODEL, "approval": "always"})
    sesame = [m for m in await all_memories(ugo)
              if m["value"].get("text") == "The user is allergic to sesame."]
    assert len(sesame) == 1


async def test_forged_scope_is_ignored_and_forget_by_id_removes_it(tool_server: Server) -> None:
    tess, ugo = client(tool_server, "tess"), client(tool_server, "ugo")
    await turn(tess, call("remember", text="The user collects brass compasses.",
                          subject="collection"))
    # ugo names tess in the arguments: the tools act for the caller, whatever they say.
    looked = await turn(ugo, call("search_memory", query="brass compasses", user_id="tess",
                                  namespace=["memories", "acme", "user:tess"]), memory_limit=0)
    assert tool_results(looked)[0]["found"] == []
    (mine,) = [m for m in await all_memories(tess)
               if m["value"].get("text") == "The user collects brass compasses."]

    forgotten = await turn(tess, call("forget_memory", memory_id=mine["key"]))

    assert [w["action"] for w in tool_results(forgotten)[0]["written"]] == ["delete"]
    assert not [m for m in await all_memories(tess) if "compasses" in m["value"].get("text", "")]
