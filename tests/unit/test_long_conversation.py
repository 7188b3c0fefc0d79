"""A 300-turn conversation: the prompt stays within budget, and early facts stay answerable."""

from __future__ import annotations

import random
import uuid
from typing import Any

from agent.graph import builder
from tests.unit.fakes import new_user

BUDGET = 1000
TOPICS = ["the weather", "a film I saw", "my commute", "a recipe", "the news", "a book",
          "my garden", "a podcast", "football", "a museum visit"]


def script(turns: int) -> list[str]:
    rng = random.Random(300)
    lines = []
    for turn in range(1, turns + 1):
        if turn == 5:
            lines.append("By the way, I'm allergic to peanuts.")
        elif turn == 7:
            lines.append("My name is Ada Lovelace.")
        elif turn == turns:
            lines.append("What am I allergic to?")
        else:
            topic = rng.choice(TOPICS)
            lines.append(f"Let me tell you about {topic}: " + " ".join(
                rng.choice(["it", "was", "quite", "long", "and", "rather", "interesting", "today"])
                for _ in range(rng.randint(10, 40))) + ".")
    return lines


async def test_three_hundred_turns_stay_in_budget_and_remember_turn_five(
    memory_store: Any, checkpointer: Any
) -> None:
    graph = builder.compile(checkpointer=checkpointer, store=memory_store)
    config = {"configurable": {"thread_id": str(uuid.uuid4()), "langgraph_auth_user": new_user()}}
    context = {"max_context_tokens": BUDGET}
    sizes, first_fold = [], None
    for turn, text in enumerate(script(300), start=1):
        values = await graph.ainvoke({"messages": [{"role": "user", "content": text}]}, config,
                                     context=context)
        sizes.append(values["messages"][-1].response_metadata["seen"]["prompt_tokens"])
        if first_fold is None and values.get("summarized_turns"):
            first_fold = turn

    assert first_fold is not None and first_fold < 30
    assert max(sizes[first_fold:]) <= BUDGET
    assert sum(sizes[:first_fold]) / first_fold < max(sizes)  # it grew, then stayed bounded
    seen = values["messages"][-1].response_metadata["seen"]
    assert "The user is allergic to peanuts." in seen["memories"]
    state = await graph.aget_state(config)
    assert len(state.values["messages"]) < 20
    assert state.values["summarized_turns"] > 280


async def test_a_summary_is_written_by_the_turn_and_asked_about_under_always(
    memory_store: Any, checkpointer: Any
) -> None:
    # One writer: the summary goes through write_memory (ledger, approval policy), so under
    # "always" it waits for the human like every other memory, and is written once.
    from langgraph.types import Command

    graph = builder.compile(checkpointer=checkpointer, store=memory_store)
    user = new_user()
    config = {"configurable": {"thread_id": str(uuid.uuid4()), "langgraph_auth_user": user}}
    context = {"max_context_tokens": 600, "approval": "always"}
    namespace = ("memories", user["org_id"], f"user:{user.identity}")

    async def summaries() -> list[Any]:
        return [i for i in await memory_store.asearch(namespace, limit=200)
                if i.value.get("kind") == "summary"]

    for turn in range(1, 40):
        text = f"Let me tell you about walk number {turn}: " + "long and rather muddy " * 8
        values = await graph.ainvoke(
            {"messages": [{"role": "user", "content": text}]}, config, context=context)
        pending = values.get("pending_memory_operations") or []
        if any(op["kind"] == "summary" for op in pending):
            break
        await graph.ainvoke(Command(resume="approve"), config, context=context)
    else:
        raise AssertionError("no fold asked about its summary in 40 turns")
    assert await summaries() == []  # not stored before the human says so
    done = await graph.ainvoke(Command(resume="approve"), config, context=context)
    assert any(op["status"] == "applied" and op["action"] != "noop"
               for op in done["memory_operations"])
    (summary,) = await summaries()
    assert summary.value["text"].startswith("Summary of turns 1-")
    assert summary.value["said_in"] == []

    # Replaying the approved step writes nothing twice.
    history = [s async for s in graph.aget_state_history(config)]
    before_approval = next(s for s in history if s.next == ("approve_memory",))
    await graph.ainvoke(Command(resume="approve"), before_approval.config, context=context)
    assert [(s.key, s.value["updated_at"]) for s in await summaries()] == [
        (summary.key, summary.value["updated_at"])]
