"""Small helpers for driving the memory agent through langgraph-sdk."""

from __future__ import annotations

from typing import Any

from langgraph_sdk.client import LangGraphClient

GRAPH = "memory_agent"


def user(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


async def say(
    client: LangGraphClient, thread_id: str, text: str, **context: Any
) -> dict[str, Any]:
    """One turn; returns the thread's values after the run."""
    result = await client.runs.wait(thread_id, GRAPH, input=user(text), context=context or None)
    assert isinstance(result, dict)
    return result


def last_reply(values: dict[str, Any]) -> dict[str, Any]:
    reply = values["messages"][-1]
    assert reply["type"] == "ai", reply
    return reply  # type: ignore[no-any-return]


def seen_memories(values: dict[str, Any]) -> list[str]:
    """What the offline responder reports it was shown in its system prompt."""
    return list(last_reply(values)["response_metadata"]["seen"]["memories"])


async def all_memories(client: LangGraphClient) -> list[dict[str, Any]]:
    """Every item in the caller's memory namespace, through the HTTP store API."""
    found = await client.store.search_items(("memories",), limit=1000)
    return sorted(found["items"], key=lambda item: item["key"])


async def say_in_new_thread(client: LangGraphClient, text: str, **context: Any) -> str:
    """One turn in a thread of its own; returns the thread's id."""
    thread_id = str((await client.threads.create())["thread_id"])
    await say(client, thread_id, text, **context)
    return thread_id
