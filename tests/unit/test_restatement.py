"""What a turn adds and what it only repeats, on the real store and the shipped embeddings."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langgraph.store.base import BaseStore

from agent import models
from agent.graph import builder
from agent.memory.model.schema import Identity, memory_namespace
from agent.memory.text.restatement import embedder_of, is_question, novel_part, same_question
from tests.unit.fakes import RecordingChatModel, User, new_user

BISCUIT = "We adopted a beagle called Biscuit from the shelter on Saturday."


async def test_restated_sentences_go_by_words_and_by_meaning(memory_store: Any) -> None:
    embed = embedder_of(memory_store)
    assert embed is not None
    shown = ["The user lives in Paris.", f'On 2 May 2026 the user said: "{BISCUIT}"']
    quoted = f'From what I remember: The user lives in Paris. On 2 May 2026 the user said: "{BISCUIT}"'
    assert await novel_part(quoted, shown, embed) == ""
    # "home" is not in the memory: only the meaning says this restates it.
    assert await novel_part("Your home is in Paris.", shown, None) == "Your home is in Paris."
    assert await novel_part("Your home is in Paris.", shown, embed) == ""
    added = await novel_part("Since you're in Paris, you could visit the Louvre this weekend. "
                             "That comes to 42 euros per person.", shown, embed)
    assert added == ("Since you're in Paris, you could visit the Louvre this weekend. "
                     "That comes to 42 euros per person.")
    assert await novel_part("Anything new is kept whole.", [], embed) == "Anything new is kept whole."


@pytest.mark.parametrize(
    ("asked", "earlier", "same"),
    [("Where do I live?", "where do I live?", True),
     ("What's my dog's name?", "What is the name of my dog?", True),
     ("Can you suggest a vegetarian recipe? I'm cooking for 6", "Can you suggest a vegetarian recipe?",
      False),
     ("Where do I live?", "I live in Paris.", False),
     ("What is my favourite colour?", "What is my favourite food?", False)],
)
def test_a_question_asked_again_is_recognised(asked: str, earlier: str, same: bool) -> None:
    assert same_question(asked, earlier) is same


def test_a_question_that_states_something_is_not_only_a_question() -> None:
    assert is_question("Where do I live?")
    assert not is_question("Can you suggest a vegetarian recipe? I'm cooking for 6")


async def episodes_of(store: BaseStore, user: User) -> list[dict[str, Any]]:
    namespace = memory_namespace(Identity(user.identity, user["org_id"]))
    return [i.value for i in await store.asearch(namespace, limit=200)
            if i.value.get("kind") == "episode"]


def config(user: User) -> dict[str, Any]:
    return {"configurable": {"thread_id": str(uuid.uuid4()), "langgraph_auth_user": user}}


async def test_an_answer_keeps_what_it_added_and_is_found_by_it(
    memory_store: Any, checkpointer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = new_user()
    graph = builder.compile(checkpointer=checkpointer, store=memory_store)
    await graph.ainvoke({"messages": [{"role": "user", "content": BISCUIT}]}, config(user))
    # No rule learns a fact from it: the message is found by meaning ("dog" for "beagle") once
    # the store's vector worker has embedded it, moments after the turn.
    await memory_store.fill_vectors()
    model = RecordingChatModel(replies=[
        "You adopted a beagle named Biscuit from the shelter last Saturday. A good first walk "
        "for a young beagle is twenty minutes around the park, twice a day."])
    monkeypatch.setattr(models, "load_chat_model", lambda name: model)
    asked = await graph.ainvoke(
        {"messages": [{"role": "user", "content": "What do you know about my dog?"}]},
        config(user))
    assert any("Biscuit" in m["text"] for m in asked["memories"])  # the answer was shown it

    answers = [e["text"] for e in await episodes_of(memory_store, user) if e["role"] == "assistant"]
    assert "A good first walk for a young beagle is twenty minutes around the park, twice a day." \
        in answers
    assert not [a for a in answers if "shelter" in a]  # the restated sentence is not kept

    monkeypatch.setattr(models, "load_chat_model", lambda name: models.OfflineResponder())
    later = await graph.ainvoke(
        {"messages": [{"role": "user", "content": "How long was the walk you suggested?"}]},
        config(user))
    assert any("twenty minutes" in m["text"] and m.get("role") == "assistant"
               for m in later["memories"])


async def test_a_question_asked_again_neither_is_stored_nor_crowds_out_the_answer(
    memory_store: Any, checkpointer: Any
) -> None:
    user = new_user()
    graph = builder.compile(checkpointer=checkpointer, store=memory_store)
    await graph.ainvoke({"messages": [{"role": "user", "content": BISCUIT}]}, config(user))
    for _ in range(3):
        result = await graph.ainvoke(
            {"messages": [{"role": "user", "content": "What is my dog called?"}]}, config(user))
    stored = await episodes_of(memory_store, user)
    assert [e["text"] for e in stored if e["role"] == "user"].count("What is my dog called?") == 1
    assert result["asked_before"]  # the first asking was found, and left out
    assert not [m for m in result["memories"] if m["text"] == "What is my dog called?"]
    assert result["memories"][0]["text"] == BISCUIT
    # The offline responder's answers only restated the memory: none was kept.
    assert not [e for e in stored if e["role"] == "assistant" and "Biscuit" in e["text"]]


@pytest.mark.parametrize(
    ("text", "subject", "markers"),
    [("The user lives in Oslo.", "home location", {"oslo"}),
     ("The user's name is Ada Lovelace.", "name", {"ada", "lovelace"}),
     ("Our standup is at 9:15.", "standup", {"9", "15"}),
     ("The user is allergic to peanuts.", "allergy", {"allergic", "peanut"})],
)
def test_marker_words_are_names_and_numbers_else_what_the_subject_does_not_say(
    text: str, subject: str, markers: set[str]
) -> None:
    from agent.memory.write.evidence import marker_words, states

    assert marker_words(text, subject) == markers
    assert states(f"Honestly, {text.lower()}", marker_words(text, subject))
    assert not states("Something else entirely.", marker_words(text, subject))


@pytest.mark.parametrize(
    ("text", "placeholder_only"),
    [("My wifi password is [password].", True), ("Email me at [email].", True),
     ("The user's phone: [phone]", True), ("[api_key]", True),
     ("The user lives in Leeds.", False), ("Email me at [email] about the Rust meetup.", False),
     ("My key is [api_key] and I live in Leeds.", False)],
)
def test_a_statement_of_nothing_but_a_secret_is_recognised(text: str, placeholder_only: bool) -> None:
    from agent.memory.text.scrub import only_placeholders

    assert only_placeholders(text) is placeholder_only
