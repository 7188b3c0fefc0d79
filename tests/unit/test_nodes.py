"""Each node on its own: real Postgres store, the shipped offline embeddings, an honest fake model."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately
from langgraph.runtime import ExecutionInfo
from langgraph.store.base import BaseStore

from agent import models
from agent.memory.model.schema import Identity, identity_of, memory_namespace
from agent.models import OfflineResponder
from agent.nodes import agent, retrieve, summarize, write_memory
from agent.nodes.summarize import fold_point
from agent.prompts import MEMORY_HEADER, SUMMARY_HEADER
from tests.unit.fakes import RecordingChatModel, User, new_user, runtime_for


def namespace(user: User) -> tuple[str, ...]:
    return memory_namespace(Identity(user.identity, user["org_id"]))


async def stored(store: BaseStore, user: User) -> list[dict[str, Any]]:
    items = await store.asearch(namespace(user), limit=100)
    return sorted(({"key": i.key, **i.value} for i in items), key=lambda v: v["key"])


async def remember(store: BaseStore, user: User, *texts: str) -> None:
    for index, text in enumerate(texts):
        await store.aput(namespace(user), f"m{index}", {"text": text, "kind": "fact"})


async def test_retrieve_ranks_by_meaning_within_the_callers_namespace(memory_store: Any) -> None:
    user, other = new_user(), new_user()
    await remember(memory_store, user, "The user loves pizza with anchovies.",
                   "The user's sister lives in Porto.", "The user drives a blue bicycle.")
    await remember(memory_store, other, "The user loves pizza margherita.")
    state = {"messages": [HumanMessage("What food do I like?")]}

    found = (await retrieve(state, runtime_for(memory_store, user)))["memories"]

    assert found[0]["text"] == "The user loves pizza with anchovies."
    assert all("margherita" not in m["text"] for m in found)


async def test_retrieve_honours_the_relevance_floor_and_limit(memory_store: Any) -> None:
    user = new_user()
    await remember(memory_store, user, "The user loves pizza with anchovies.",
                   "The user plays the cello.")
    state = {"messages": [HumanMessage("What food do I like?")]}
    assert len((await retrieve(state, runtime_for(memory_store, user, memory_limit=1)))
               ["memories"]) == 1
    strict = runtime_for(memory_store, user, min_relevance=0.99)
    assert (await retrieve(state, strict))["memories"] == []


async def test_agent_shows_memories_and_summary_to_the_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = RecordingChatModel(replies=["You like pizza."])
    monkeypatch.setattr(models, "load_chat_model", lambda name: model)
    state = {
        "messages": [HumanMessage("What food do I like?")],
        "memories": [{"key": "k", "text": "The user loves pizza.", "kind": "preference",
                      "score": 0.7}],
        "summary": "User: we talked about Naples.",
    }

    result = await agent(state, runtime_for(None, new_user()))

    assert result["messages"][0].content == "You like pizza."
    (prompt,) = model.seen
    system, question = prompt
    assert f'{MEMORY_HEADER}\n- "The user loves pizza."' in system.text
    assert f"{SUMMARY_HEADER}\nUser: we talked about Naples." in system.text
    assert question.text == "What food do I like?"


async def test_the_offline_responder_answers_from_what_it_was_shown() -> None:
    state = {"messages": [HumanMessage("What food do I like?")],
             "memories": [{"key": "k", "text": "The user loves pizza.", "kind": "preference",
                           "score": 0.7}]}
    reply = (await agent(state, runtime_for(None, new_user())))["messages"][0]
    assert reply.content == "From what I remember: The user loves pizza."
    assert reply.response_metadata["seen"]["memories"] == ["The user loves pizza."]
    assert isinstance(models.load_chat_model(None), OfflineResponder)


async def test_write_memory_stores_once_and_a_rerun_changes_nothing(memory_store: Any) -> None:
    user = new_user()
    state = {"messages": [HumanMessage("My name is Ada. I prefer tea over coffee.", id="m1")]}
    runtime = runtime_for(memory_store, user)

    first = await write_memory(state, runtime)
    after_first = await stored(memory_store, user)
    second = await write_memory(state, runtime)

    assert [op["action"] for op in first["memory_operations"]] == ["add", "add"]
    assert [op["action"] for op in second["memory_operations"]] == ["noop", "noop"]
    assert await stored(memory_store, user) == after_first  # episodes included
    assert {m["text"] for m in after_first if m["kind"] != "episode"} == {
        "The user's name is Ada.", "The user prefers tea over coffee."}
    (episode,) = [m for m in after_first if m["kind"] == "episode"]
    assert episode["text"] == "My name is Ada. I prefer tea over coffee." and episode["role"] == "user"
    assert all(m["source"]["message_id"] == "m1" for m in after_first)


async def test_write_memory_scrubs_before_storing(memory_store: Any) -> None:
    user = new_user()
    message = "Remember that my backup email is ada@example.com, card 4111111111111111"
    await write_memory({"messages": [HumanMessage(message)]}, runtime_for(memory_store, user))
    memory, episode = sorted(await stored(memory_store, user), key=lambda m: m["kind"] == "episode")
    assert episode["kind"] == "episode" and episode["scrubbed"] == {"email": 1, "card_number": 1}
    assert "ada@example.com" not in str(episode) and "4111111111111111" not in str(episode)
    assert "ada@example.com" not in str(memory) and "4111111111111111" not in str(memory)
    assert memory["scrubbed"] == {"email": 1, "card_number": 1}
    assert "@" not in memory["subject"] and "4111" not in memory["subject"]


async def test_write_memory_embeds_a_message_after_the_close_of_the_answer_before_it(
    memory_store: Any,
) -> None:
    user = new_user()
    answer = " ".join(f"w{i}" for i in range(200)) + " Your card 4111111111111111 is noted."
    state = {"messages": [HumanMessage("Hello there", id="m1"), AIMessage(answer, id="a1"),
                          HumanMessage("Thanks, what next?", id="m2"),
                          AIMessage("Rest a while.", id="a2")]}
    await write_memory(state, runtime_for(memory_store, user))
    episodes = {m["text"]: m for m in await stored(memory_store, user) if m["kind"] == "episode"}
    question, reply = episodes["Thanks, what next?"], episodes["Rest a while."]
    assert (question["position"], question["role"], reply["position"]) == (4, "user", 5)
    before, own = question["gist"].split("\n")
    assert own == "Thanks, what next?" and len(before.split()) == 32
    assert before.startswith("w173 ") and before.endswith(" is noted.")
    assert "4111111111111111" not in before  # scrubbed before it is embedded and stored
    assert reply["gist"].split("\n") == ["Thanks, what next?", "Rest a while."]
    assert "4111111111111111" not in str(episodes)


async def test_an_answer_counts_as_context_for_what_it_added_not_what_it_restated(
    memory_store: Any,
) -> None:
    from agent.nodes.prompt import ADDED

    user = new_user()
    restated = AIMessage("From what I remember: the user lives in Porto. Try the tram 28.",
                         id="a1", response_metadata={ADDED: "Try the tram 28."})
    state = {"messages": [HumanMessage("Where should I go?", id="m1"), restated,
                          HumanMessage("Is it crowded?", id="m2")]}
    await write_memory(state, runtime_for(memory_store, user))
    (episode,) = [m for m in await stored(memory_store, user) if m.get("text") == "Is it crowded?"]
    assert episode["gist"] == "Try the tram 28.\nIs it crowded?"


def test_fold_point_keeps_tool_results_with_their_calls_and_the_last_question() -> None:
    call = AIMessage("", tool_calls=[{"name": "lookup", "args": {}, "id": "c1"}])
    messages = [HumanMessage("old " * 200), call, ToolMessage("result " * 50, tool_call_id="c1"),
                AIMessage("done"), HumanMessage("new question " * 100)]
    fold = fold_point(messages, budget=300)
    assert 0 < fold <= 4
    assert not isinstance(messages[fold], ToolMessage)
    assert isinstance(messages[-1], HumanMessage) and fold <= len(messages) - 1


async def test_summarize_folds_old_turns_and_stores_the_summary(memory_store: Any) -> None:
    user = new_user()
    turns = []
    for i in range(12):
        turns += [HumanMessage(f"Turn {i}: tell me about topic {i} " + "detail " * 30, id=f"h{i}"),
                  AIMessage(f"Answer {i} " + "words " * 30, id=f"a{i}")]
    turns.append(HumanMessage("And the latest question?", id="last"))
    runtime = replace(
        runtime_for(memory_store, user, max_context_tokens=600),
        execution_info=ExecutionInfo(checkpoint_id="c", checkpoint_ns="", task_id="t",
                                     thread_id="thread-1", run_id="run-1"),
    )

    result = await summarize({"messages": turns}, runtime)

    removed = {m.id for m in result["messages"] if isinstance(m, RemoveMessage)}
    assert "last" not in removed and "h0" in removed
    newest_user = next(m for m in reversed(turns) if m.id in removed and m.type == "human")
    assert newest_user.text[:40] in result["summary"]
    assert result["summarized_turns"] == sum(1 for m in turns if m.id in removed and m.type == "human")
    assert count_tokens_approximately([result["summary"]]) <= 600 // 4
    # summarize writes nothing itself: the summary is kept by write_memory, with the turn.
    assert await stored(memory_store, user) == []
    assert result["summary_to_keep"].startswith(
        f"Summary of turns 1-{result['summarized_turns']} ")
    kept = [m for m in turns if m.id not in removed]
    written = await write_memory({"messages": kept, "summary_to_keep": result["summary_to_keep"]},
                                 runtime)
    assert written["summary_to_keep"] == ""
    (memory,) = [m for m in await stored(memory_store, user) if m["kind"] == "summary"]
    assert memory["text"] == result["summary_to_keep"]
    assert memory["said_in"] == []  # stated by no one turn: forgetting it takes no episode
    assert identity_of(runtime).user_id == user.identity


async def test_summarize_leaves_a_short_conversation_alone(memory_store: Any) -> None:
    state = {"messages": [HumanMessage("hi"), AIMessage("hello")]}
    assert await summarize(state, runtime_for(memory_store, new_user())) == {}


async def test_summarize_uses_the_configured_model(
    memory_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = RecordingChatModel(replies=["User wants to learn topics 0-11."])
    monkeypatch.setenv("ENGRAM_ALLOWED_MODELS", "test:fake")
    monkeypatch.setattr(models, "load_chat_model", lambda name: model)
    turns = [HumanMessage(f"topic {i} " + "detail " * 40, id=f"h{i}") for i in range(10)]
    runtime = runtime_for(memory_store, new_user(), max_context_tokens=300, model="test:fake")

    result = await summarize({"messages": turns}, runtime)

    assert result["summary"] == "User wants to learn topics 0-11."
    (prompt,) = model.seen
    assert "topic 0 detail" in prompt[0].text
