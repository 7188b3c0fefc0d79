"""The model's memory tools: the real graph, real Postgres, a scripted tool-calling chat model."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from langchain_core.messages import ToolMessage
from langgraph.types import Command

from agent import models, telemetry
from agent.graph import builder
from agent.memory.model.schema import Identity, memory_namespace
from agent.models import OfflineResponder
from agent.nodes.agent import with_tools
from agent.tools import MAX_TOOL_CALLS
from tests.unit.fakes import ToolCallingFake, User, new_user


def config_for(user: User, thread: str | None = None) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread or str(uuid.uuid4()),
                             "langgraph_auth_user": user}}


def namespace(user: User) -> tuple[str, ...]:
    return memory_namespace(Identity(user.identity, user["org_id"]))


async def say(graph: Any, config: dict[str, Any], text: str, **context: Any) -> dict[str, Any]:
    result: dict[str, Any] = await graph.ainvoke(
        {"messages": [{"role": "user", "content": text}]}, config, context=context)
    return result


def results(values: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool results of the conversation, parsed (they are JSON data)."""
    return [json.loads(str(m.content)) for m in values["messages"] if isinstance(m, ToolMessage)]


async def memories(store: Any, user: User) -> dict[str, dict[str, Any]]:
    items = await store.asearch(namespace(user), limit=200)
    return {item.key: item.value for item in items if item.value.get("kind") != "episode"}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> ToolCallingFake:
    model = ToolCallingFake(script=[], seen=[], schemas=[])
    monkeypatch.setattr(models, "load_chat_model", lambda name: model)
    return model


@pytest.fixture
def graph(memory_store: Any, checkpointer: Any) -> Any:
    return builder.compile(checkpointer=checkpointer, store=memory_store)


def test_the_offline_responder_gets_no_tools() -> None:
    assert with_tools(OfflineResponder()) is None


async def test_a_search_finds_what_retrieve_did_not_show(
    graph: Any, fake: ToolCallingFake, memory_store: Any,
) -> None:
    user = new_user()
    await memory_store.aput(namespace(user), "hike", {
        "text": "The user went hiking in the Dolomites in April.", "kind": "fact"})
    fake.script = [{"name": "search_memory", "args": {"query": "hiking trip"}},
                   "You hiked in the Dolomites."]

    values = await say(graph, config_for(user), "Where did I go hiking?", memory_limit=0)

    assert values["memories"] == []  # retrieve showed nothing
    (found,) = results(values)
    assert [(m["id"], m["text"]) for m in found["found"]][:1] == [
        ("hike", "The user went hiking in the Dolomites in April.")]
    assert values["messages"][-1].text == "You hiked in the Dolomites."
    # The schemas the model was given: no way to name a user or a namespace.
    names = [schema["function"]["name"] for schema in fake.schemas]
    assert names == ["search_memory", "remember", "correct_memory", "forget_memory"]
    for schema in fake.schemas:
        fields = set(schema["function"]["parameters"]["properties"])
        assert not fields & {"user_id", "namespace", "org_id", "runtime"}, fields


async def test_remember_writes_once_through_the_write_path_and_is_found_in_a_new_thread(
    graph: Any, fake: ToolCallingFake, memory_store: Any,
) -> None:
    user = new_user()
    call = {"name": "remember", "args": {"text": "The user's favourite tea is genmaicha.",
                                         "subject": "favourite tea", "kind": "preference"}}
    fake.script = [call, "Noted.", call, "Noted again."]
    first = await say(graph, config_for(user), "Please keep my tea in mind.")
    written = results(first)[0]["written"]
    assert [(w["action"], w["status"]) for w in written] == [("add", "applied")]
    stored = await memories(memory_store, user)
    assert [(v["kind"], v["text"]) for v in stored.values()] == [
        ("preference", "The user's favourite tea is genmaicha.")]

    again = await say(graph, config_for(user), "And keep it, really.")
    assert [w["action"] for w in results(again)[0]["written"]] == ["noop"]  # the same memory twice
    assert await memories(memory_store, user) == stored

    fake.script = [{"name": "search_memory", "args": {"query": "tea"}}, "Genmaicha."]
    later = await say(graph, config_for(user), "Which tea do I like?", memory_limit=0)
    assert "genmaicha" in json.dumps(results(later))


async def test_a_gated_remember_waits_for_approval_and_is_written_once(
    graph: Any, fake: ToolCallingFake, memory_store: Any,
) -> None:
    user = new_user()
    config = config_for(user)
    fake.script = [{"name": "remember", "args": {"text": "The user is allergic to kiwi.",
                                                 "subject": "allergy"}}, "Noted."]
    paused = await graph.ainvoke({"messages": [{"role": "user", "content": "Note my allergy."}]},
                                 config, context={"approval": "always"})
    state = await graph.aget_state(config)
    assert state.next == ("memory_tools",)
    (request,) = [i.value for task in state.tasks for i in task.interrupts]
    assert request["type"] == "memory_approval"
    assert [op["text"] for op in request["operations"]] == ["The user is allergic to kiwi."]
    assert await memories(memory_store, user) == {} and "__interrupt__" in paused

    done = await graph.ainvoke(Command(resume="approve"), config, context={"approval": "always"})
    assert [w["status"] for w in results(done)[0]["written"]] == ["applied"]
    stored = await memories(memory_store, user)
    assert [v["text"] for v in stored.values()] == ["The user is allergic to kiwi."]

    # Resuming the same approval again (a replay of that checkpoint) writes nothing twice.
    history = [s async for s in graph.aget_state_history(config)]
    waiting = next(s for s in history if s.next == ("memory_tools",))
    await graph.ainvoke(Command(resume="approve"), waiting.config,
                        context={"approval": "always"})
    assert await memories(memory_store, user) == stored


async def test_forget_by_id_removes_what_forget_removes_everywhere(
    graph: Any, fake: ToolCallingFake, memory_store: Any,
) -> None:
    user = new_user()
    fake.script = ["Nice city."]
    await say(graph, config_for(user), "I live in Ghent.")  # extracted by the write path
    await memory_store.fill_vectors()
    (key,) = [k for k, v in (await memories(memory_store, user)).items() if "Ghent" in v["text"]]
    fake.script = [{"name": "forget_memory", "args": {"memory_id": key}}, "Forgotten."]

    values = await say(graph, config_for(user), "Forget where I live.")

    assert [w["action"] for w in results(values)[0]["written"]] == ["delete"]
    everything = await memory_store.asearch(namespace(user), limit=200)
    assert not [i for i in everything if "Ghent" in str(i.value.get("text"))]  # episodes too


async def test_forged_scope_in_arguments_is_ignored_and_others_stay_unseen(
    graph: Any, fake: ToolCallingFake, memory_store: Any,
) -> None:
    user, other = new_user(), new_user()
    await memory_store.aput(namespace(other), "secret", {
        "text": "The user keeps a narwhal figurine.", "kind": "fact"})
    fake.script = [
        [{"name": "remember", "args": {"text": "The user plays the oboe.", "subject": "instrument",
                                       "user_id": other.identity,
                                       "namespace": list(namespace(other))}},
         {"name": "search_memory", "args": {"query": "narwhal figurine",
                                            "user_id": other.identity}}],
        "Done."]

    values = await say(graph, config_for(user), "Note what I play.")

    written, found = results(values)
    assert [w["status"] for w in written["written"]] == ["applied"]
    assert found["found"] == []  # the other user's memory is never returned
    assert [v["text"] for v in (await memories(memory_store, user)).values()] == [
        "The user plays the oboe."]
    assert list(await memories(memory_store, other)) == ["secret"]


async def test_a_looping_model_is_stopped_at_the_limit_and_answers(
    graph: Any, fake: ToolCallingFake,
) -> None:
    fake.script = [{"name": "search_memory", "args": {"query": f"thing {i}"}} for i in range(20)]

    values = await say(graph, config_for(new_user()), "Tell me everything.")

    assert len(results(values)) == MAX_TOOL_CALLS
    assert values["messages"][-1].text == fake.final
    assert fake.seen[-1]["tool_choice"] == "none"  # asked to answer, with no call


async def test_a_refused_call_is_answered_once_and_not_retried(
    graph: Any, fake: ToolCallingFake,
) -> None:
    call = {"name": "forget_memory", "args": {"memory_id": "no-such-memory"}}
    fake.script = [call, call, call]

    values = await say(graph, config_for(new_user()), "Forget that thing.")

    (refusal,) = results(values)
    assert "no memory with key 'no-such-memory'" in refusal["refused"]
    assert values["messages"][-1].text == fake.final  # the repeat was not run: it answered


async def test_a_correction_keeps_the_old_text_in_history_and_is_counted(
    graph: Any, fake: ToolCallingFake, memory_store: Any,
) -> None:
    user = new_user()
    fake.script = [{"name": "remember", "args": {"text": "The user's dog is called Biscuit.",
                                                 "subject": "dog's name"}}, "Noted."]
    await say(graph, config_for(user), "Note my dog's name.")
    (key,) = await memories(memory_store, user)
    corrected_before = telemetry.MODEL_TOOL_CALLS.labels(tool="correct_memory",
                                                         outcome="done")._value.get()
    fake.script = [{"name": "correct_memory", "args": {
        "memory_id": key, "text": "The user's dog is called Crumpet."}}, "Fixed."]

    values = await say(graph, config_for(user), "No, Crumpet.")

    assert [w["status"] for w in results(values)[0]["written"]] == ["applied"]
    now = await memories(memory_store, user)
    assert now[key]["text"] == "The user's dog is called Crumpet."
    kept = [v["text"] for v in now.values()] + [h["text"] for h in now[key].get("history", [])]
    assert "The user's dog is called Biscuit." in kept  # superseded or in history, not lost
    assert telemetry.MODEL_TOOL_CALLS.labels(
        tool="correct_memory", outcome="done")._value.get() == corrected_before + 1
