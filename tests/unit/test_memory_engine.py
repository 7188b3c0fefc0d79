"""Reconciliation on the real store: contradictions, duplicates, forgetting, replays, the LLM path."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langgraph.store.base import BaseStore
from langgraph.types import Command

from agent import models
from agent.graph import builder
from agent.memory.model.episodes import Utterance, episode_puts
from agent.memory.model.schema import Identity, MemoryCandidate, Source, memory_namespace
from agent.memory.write.extract_llm import Extraction
from agent.nodes import retrieve, write_memory
from tests.unit.fakes import StructuredFake, User, new_user, runtime_for


def namespace(user: User) -> tuple[str, ...]:
    return memory_namespace(Identity(user.identity, user["org_id"]))


async def everything(store: BaseStore, user: User) -> dict[str, Any]:
    """Every item of the user's namespace, history included, with its timestamps."""
    items = await store.asearch(namespace(user), limit=1000)
    return {i.key: (i.value, i.created_at, i.updated_at) for i in items}


async def current_texts(store: BaseStore, user: User) -> list[str]:
    """The texts of the user's current memories (episodes, the turns themselves, left out)."""
    items = await store.asearch(namespace(user), limit=1000)
    return sorted(i.value["text"] for i in items
                  if not i.value.get("invalid_at") and i.value["kind"] != "episode")


async def tell(store: BaseStore, user: User, text: str, message_id: str | None = None) -> dict[str, Any]:
    state = {"messages": [HumanMessage(text, id=message_id or str(uuid.uuid4()))]}
    return await write_memory(state, runtime_for(store, user))


async def test_a_contradiction_supersedes_and_keeps_history(memory_store: Any) -> None:
    user = new_user()
    await tell(memory_store, user, "I live in Paris.")
    result = await tell(memory_store, user, "I moved to Berlin last year.")

    assert [op["action"] for op in result["memory_operations"]] == ["supersede"]
    assert await current_texts(memory_store, user) == ["The user lives in Berlin."]
    await memory_store.fill_vectors()  # the worker's, moments after the turn: Berlin by meaning
    found = await retrieve({"messages": [HumanMessage("Where do I live?")]},
                           runtime_for(memory_store, user))
    assert [m["text"] for m in found["memories"] if m["kind"] != "episode"] == [
        "The user lives in Berlin."]
    # The turns themselves are episodes: both statements, dated, as said.
    assert {m["text"] for m in found["memories"] if m["kind"] == "episode"} == {
        "I live in Paris.", "I moved to Berlin last year."}

    items = [i for i in await memory_store.asearch(namespace(user), limit=10)
             if i.value["kind"] != "episode"]
    (old,) = [i for i in items if i.value.get("invalid_at")]
    (new,) = [i for i in items if not i.value.get("invalid_at")]
    assert old.value["text"] == "The user lives in Paris."
    assert old.value["superseded_by"] == new.key
    assert new.value["supersedes"] == [old.key]
    assert new.value["history"][-1]["text"] == "The user lives in Paris."
    assert "contradicts" in new.value["history"][-1]["reason"]
    # One field says "no longer current" for every kind: the episode that stated Paris has it.
    (said,) = [i for i in await memory_store.asearch(namespace(user), limit=10)
               if i.value["kind"] == "episode" and i.value.get("invalid_at")]
    assert said.value["text"] == "I live in Paris."
    assert said.value["superseded_by"] == new.key
    assert said.value["superseded_at"] == said.value["invalid_at"]


async def test_reversed_preferences_are_contradictions_not_rewordings(memory_store: Any) -> None:
    user = new_user()
    await tell(memory_store, user, "I prefer Python over TypeScript.")
    result = await tell(memory_store, user, "Actually, I prefer TypeScript to Python now.")
    assert [op["action"] for op in result["memory_operations"]] == ["supersede"]
    assert await current_texts(memory_store, user) == ["The user prefers TypeScript to Python."]


@pytest.mark.parametrize(
    ("first", "second", "action"),
    [("I love hiking.", "I really enjoy hiking!", "update"),
     ("Remember that I am vegetarian.", "Remember that I'm a vegetarian.", "noop"),
     ("My name is Ada.", "My name is Ada Lovelace.", "update"),
     ("I prefer tea over coffee.", "I prefer tea over coffee.", "noop")],
)
async def test_the_same_statement_in_other_words_stays_one_memory(
    memory_store: Any, first: str, second: str, action: str
) -> None:
    user = new_user()
    await tell(memory_store, user, first)
    result = await tell(memory_store, user, second)
    assert [op["action"] for op in result["memory_operations"]] == [action]
    assert len(await current_texts(memory_store, user)) == 1


async def test_forget_removes_the_memory_from_retrieval(memory_store: Any) -> None:
    user = new_user()
    await tell(memory_store, user, "I live in Berlin. I love jazz.")
    result = await tell(memory_store, user, "Forget that I live in Berlin.")
    assert [op["action"] for op in result["memory_operations"]] == ["delete"]
    assert await current_texts(memory_store, user) == ["The user loves jazz."]
    nothing = await tell(memory_store, user, "Please forget that I live in Berlin.")
    assert [op["action"] for op in nothing["memory_operations"]] == ["noop"]


async def test_forget_also_forgets_what_the_memory_said_before(memory_store: Any) -> None:
    user = new_user()
    await tell(memory_store, user, "I live in Paris.")
    await tell(memory_store, user, "I moved to Berlin.")

    async def memories() -> list[str]:  # history items included, episodes left out
        return sorted(value["text"] for value, _, _ in (await everything(memory_store, user)).values()
                      if value.get("kind") != "episode")

    assert await memories() == ["The user lives in Berlin.", "The user lives in Paris."]
    result = await tell(memory_store, user, "Forget that I live in Berlin.")
    assert [op["action"] for op in result["memory_operations"]] == ["delete"]
    assert await memories() == []


async def test_replaying_every_turn_leaves_the_store_exactly_as_it_was(memory_store: Any) -> None:
    user = new_user()
    turns = [("m1", "I live in Paris. My name is Ada."), ("m2", "I moved to Berlin."),
             ("m3", "I love jazz."), ("m4", "Forget that I love jazz."),
             ("m5", "My name is Ada Lovelace.")]
    for message_id, text in turns:
        await tell(memory_store, user, text, message_id)
    before = await everything(memory_store, user)

    for message_id, text in turns[1:]:  # a replay or fork re-runs later turns
        result = await tell(memory_store, user, text, message_id)
        assert {op["status"] for op in result["memory_operations"]} <= {"replayed"}

    assert await everything(memory_store, user) == before
    assert await current_texts(memory_store, user) == [
        "The user lives in Berlin.", "The user's name is Ada Lovelace."]


async def test_on_change_policy_asks_before_forgetting(memory_store: Any, checkpointer: Any) -> None:
    user = new_user()
    graph = builder.compile(checkpointer=checkpointer, store=memory_store)
    config = {"configurable": {"thread_id": str(uuid.uuid4()), "langgraph_auth_user": user}}
    context = {"approval": "on_change"}
    await graph.ainvoke({"messages": [{"role": "user", "content": "I live in Oslo."}]}, config,
                        context=context)
    assert await current_texts(memory_store, user) == ["The user lives in Oslo."]

    paused = await graph.ainvoke(
        {"messages": [{"role": "user", "content": "Forget that I live in Oslo."}]}, config,
        context=context)
    (interrupt,) = paused["__interrupt__"]
    assert [op["action"] for op in interrupt.value["operations"]] == ["delete"]
    assert await current_texts(memory_store, user) == ["The user lives in Oslo."]

    await graph.ainvoke(Command(resume="approve"), config, context=context)
    assert await current_texts(memory_store, user) == []


async def test_llm_extraction_sees_the_turn_and_near_memories_and_drives_the_plan(
    memory_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = new_user()
    await tell(memory_store, user, "I prefer coffee over tea.")
    near = [{"key": "k", "text": "The user prefers coffee over tea.", "kind": "preference"}]
    model = StructuredFake(replies=[], structured=[Extraction(memories=[
        MemoryCandidate(kind="preference", subject="choice between coffee and tea",
                        text="The user might prefer tea over coffee.", confidence=0.4),
        MemoryCandidate(kind="fact", subject="pet", text="The user has a cat called Miso.",
                        importance=0.6, confidence=0.9),
    ])])
    monkeypatch.setenv("ENGRAM_ALLOWED_MODELS", "test:fake")
    monkeypatch.setattr(models, "load_chat_model", lambda name: model)
    state = {"messages": [HumanMessage("Maybe tea is nicer? Also my cat Miso says hi.")],
             "memories": near}

    result = await write_memory(state, runtime_for(memory_store, user, model="test:fake"))

    (prompt,) = model.prompts
    assert "Maybe tea is nicer? Also my cat Miso says hi." in prompt
    assert "- [preference] The user prefers coffee over tea." in prompt
    assert [(op["action"], op["reason"]) for op in result["memory_operations"]] == [
        ("noop", "the stored memory is more confident than the new statement"),
        ("add", "new")]
    assert await current_texts(memory_store, user) == [
        "The user has a cat called Miso.", "The user prefers coffee over tea."]


async def test_a_rewording_is_an_update_when_episodes_crowd_the_near_memories(
    memory_store: Any,
) -> None:
    user = new_user()
    await tell(memory_store, user, "My name is Ada.")
    # Messages in other threads that say what the next statement will: they fill every hit of
    # its near search, above the stored memory of the name.
    said = [episode_puts(namespace(user), [Utterance("user", "The user's name is Ada Lovelace.",
                                                     f"m-{n}")],
                         datetime.now(UTC), Source(thread_id=f"t-{n}", message_id=f"m-{n}"))
            for n in range(30)]
    await memory_store.abatch([put for puts in said for put in puts])
    await memory_store.fill_vectors()
    result = await tell(memory_store, user, "My name is Ada Lovelace.")
    assert [(op["action"], op["reason"]) for op in result["memory_operations"]] == [
        ("update", "the same fact in other words")]
    assert "The user's name is Ada Lovelace." in await current_texts(memory_store, user)


async def test_retrievals_are_counted_once_per_turn(memory_store: Any) -> None:
    from agent.memory.model.schema import usage_namespace

    user = new_user()
    await tell(memory_store, user, "I love jazz.")
    runtime = runtime_for(memory_store, user)
    for message_id in ("q1", "q2", "q2"):  # the third is a replay of the second turn
        state = {"messages": [HumanMessage("What music do I like?", id=message_id)]}
        state |= await retrieve(state, runtime)
        await write_memory(state, runtime)
    (memory,) = [m for m in (await retrieve(state, runtime))["memories"] if m["kind"] != "episode"]
    usage = await memory_store.aget(usage_namespace(Identity(user.identity, "acme")), memory["key"])
    assert usage.value["retrievals"] == 2
    assert usage.value["last_retrieved_at"]


async def test_statements_that_differ_in_a_number_are_not_duplicates(memory_store: Any) -> None:
    user = new_user()
    await tell(memory_store, user, "Remember that ticket T7-1 is assigned to me.")
    result = await tell(memory_store, user, "Remember that ticket T7-2 is assigned to me.")
    assert [op["action"] for op in result["memory_operations"]] == ["add"]
    assert len(await current_texts(memory_store, user)) == 2
