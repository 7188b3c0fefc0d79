"""Memory the model can reach: search, remember, correct and forget as tool calls.

When the chat model supports tool calling, the agent node binds these (agent/nodes/agent.py)
and the graph's `memory_tools` node runs them (LangGraph's ToolNode), until the model answers.
Scope is never an argument: every tool acts for the run's authenticated caller (the server's
identity of the run, through ToolRuntime), on their own memories, reading their organisation's
shared ones too. An argument the model makes up (a user id, a namespace) is in no schema and is
dropped before a tool sees it.

Writes take the one write path (agent/memory/write/turns.py) as a turn of their own, keyed by
the tool call: scrubbed, checked for instructions, reconciled (the same memory twice is a
no-op, a correction keeps the old text in history, a contradiction supersedes), gated by the
run's approval policy (the run pauses at the same approval request a turn's write makes, and
resuming applies it once), and recorded in the ledger, so a retried or replayed call writes
nothing twice. Results are short JSON data with memory ids, never prose the model could take
for an instruction; a refused call says why, and the agent node stops a loop that repeats a
call or passes MAX_TOOL_CALLS.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal, cast

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime
from langgraph.types import interrupt
from pydantic import Field

from agent import telemetry
from agent.context import Context
from agent.memory.model.checks import MAX_SUBJECT, MAX_TEXT, check_correction
from agent.memory.model.episodes import is_episode
from agent.memory.model.kinds import MemoryKind
from agent.memory.model.schema import (
    MemoryCandidate,
    Source,
    Stored,
    memory_key,
)
from agent.memory.service import MemoryService, NoStore, status_of

MAX_TOOL_CALLS = 6
"""Tool calls the model may make in one turn; past them it must answer with what it has."""
SEARCH_LIMIT = 5
"""Memories one search returns."""
DATED_FETCH = 50
"""Hits looked through when a search is limited to dates."""
SearchKind = Literal["preference", "fact", "procedural", "feedback", "summary", "episode"]


class Refused(Exception):
    """A call the tool will not carry out; the message says why and what would work."""


def data(payload: dict[str, Any]) -> str:
    """A tool result: JSON, so every text in it stays a quoted string."""
    return json.dumps(payload, ensure_ascii=False)


def _memory(runtime: ToolRuntime[Any, Any]) -> MemoryService:
    context = runtime.context if isinstance(runtime.context, Context) else Context()
    try:
        return MemoryService.of_run(runtime, context.approval)
    except NoStore as err:
        raise Refused("memory is not available in this run (no store configured)") from err


def _source(runtime: ToolRuntime[Any, Any]) -> Source:
    info = runtime.execution_info
    return Source(thread_id=info.thread_id if info else None,
                  run_id=info.run_id if info else None,
                  checkpoint_id=info.checkpoint_id if info else None,
                  message_id=f"tool:{runtime.tool_call_id}")


def _shown(memory: MemoryService, item: Any) -> dict[str, Any]:
    stored = Stored(item.value)
    shown: dict[str, Any] = {"id": item.key, "kind": stored.kind, "text": stored.text}
    if is_episode(item.value):
        shown["said_at"] = item.value.get("said_at")
        shown["role"] = item.value.get("role")
    else:
        shown["updated_at"] = item.value.get("updated_at")
    if tuple(item.namespace) != memory.namespace:
        shown["shared"] = True
    return shown


def _when(item: Any) -> str:
    return str(item.value.get("said_at") or item.value.get("updated_at") or "")


async def _write(memory: MemoryService, source: Source, candidate: MemoryCandidate) -> str:
    """Write `candidate` through the write path, keyed by the tool call; the result as data."""
    entry, _ = await memory.write_stated([candidate], source)
    operations = entry.operations
    if entry.plan is not None and not entry.decided:
        # Gated: the run pauses here with the approval request a turn's write makes; on
        # resume the call runs again, finds its plan in the ledger, and settles it once.
        operations = await memory.settle(entry, interrupt(memory.approval_request(entry)),
                                         source)
    return data({"written": [{"id": op["key"], "action": op["action"], "status": op["status"],
                              "reason": op["reason"]} for op in operations]})


async def _run(name: str, call: Any) -> str:
    """Run a tool's body; a refusal is answered once, as data, and counted."""
    try:
        result: str = await call
    except Refused as err:
        telemetry.MODEL_TOOL_CALLS.labels(tool=name, outcome="refused").inc()
        return data({"refused": str(err)})
    except Exception as err:
        if status_of(err) is None:
            raise
        telemetry.MODEL_TOOL_CALLS.labels(tool=name, outcome="refused").inc()
        return data({"refused": str(err)})
    telemetry.MODEL_TOOL_CALLS.labels(tool=name, outcome="done").inc()
    return result


@tool
async def search_memory(
    query: Annotated[str, Field(description="What to look for, in words.")],
    runtime: ToolRuntime[Any, Any],
    kind: Annotated[SearchKind | None, Field(
        description="Only this kind; 'episode' searches what was said in past conversations.")]
    = None,
    since: Annotated[str | None, Field(description="Only from this date on (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, Field(description="Only up to this date (YYYY-MM-DD).")] = None,
) -> str:
    """Search the user's memories and past conversations by meaning and words, best first.

    Use it when what you were shown does not answer the question. Returns up to five memories
    with their ids (to correct or forget one), kinds and dates.
    """
    async def body() -> str:
        memory = _memory(runtime)
        dated = since is not None or until is not None
        for name, value in (("since", since), ("until", until)):
            if value is not None:
                try:
                    datetime.fromisoformat(value)
                except ValueError as err:
                    raise Refused(f"`{name}` must be a date like 2024-05-31, got {value!r}") from err
        items = await memory.search(query, DATED_FETCH if dated else SEARCH_LIMIT, kind)
        if dated:
            items = [item for item in items
                     if (since is None or _when(item)[:10] >= since[:10])
                     and (until is None or _when(item)[:10] <= until[:10])][:SEARCH_LIMIT]
        telemetry.MODEL_SEARCHES.labels(outcome="hit" if items else "miss").inc()
        return data({"found": [_shown(memory, item) for item in items]})

    return await _run("search_memory", body())


@tool
async def remember(
    text: Annotated[str, Field(description="The memory, one plain statement about the user.",
                               max_length=MAX_TEXT)],
    subject: Annotated[str, Field(description="What it is about, in a few words ('favourite tea'"
                                              "); a later memory of the same subject replaces it.",
                                  max_length=MAX_SUBJECT)],
    runtime: ToolRuntime[Any, Any],
    kind: Annotated[MemoryKind, Field(description="preference, fact, procedural (how the user "
                                                  "wants things done), feedback or summary.")]
    = "fact",
) -> str:
    """Keep something about the user for later conversations.

    The same memory twice changes nothing; a new statement on a subject already kept replaces
    the old one (which stays in history). The user's approval policy may hold it for them.
    """
    async def body() -> str:
        memory = _memory(runtime)
        said = check_correction(text)
        about = check_correction(subject, "subject") if subject.strip() else said[:MAX_SUBJECT]
        candidate = MemoryCandidate(kind=kind, subject=about[:MAX_SUBJECT], text=said,
                                    importance=0.6, confidence=0.9)
        return await _write(memory, _source(runtime), candidate)

    return await _run("remember", body())


@tool
async def correct_memory(
    memory_id: Annotated[str, Field(description="The id of the memory, as a search showed it.")],
    text: Annotated[str, Field(description="What the memory should say now.",
                               max_length=MAX_TEXT)],
    runtime: ToolRuntime[Any, Any],
) -> str:
    """Correct one of the user's memories; the old text is kept in its history."""
    async def body() -> str:
        memory = _memory(runtime)
        said = check_correction(text)
        item = await memory.get(memory_id)
        stored = Stored(item.value)
        if is_episode(item.value):
            raise Refused("that id is a message of a past conversation, a record of what was "
                          "said: it cannot be corrected (remember the correct fact instead)")
        if memory_key(memory.namespace, stored.kind, stored.subject) != item.key:
            raise Refused("that memory was written outside Engram's extraction: the user can "
                          "correct it in the memory console")
        candidate = MemoryCandidate(kind=cast(MemoryKind, stored.kind), subject=stored.subject,
                                    text=said, importance=stored.importance, confidence=1.0)
        return await _write(memory, _source(runtime), candidate)

    return await _run("correct_memory", body())


@tool
async def forget_memory(
    runtime: ToolRuntime[Any, Any],
    memory_id: Annotated[str | None, Field(description="The id of the memory to forget.")] = None,
    description: Annotated[str | None, Field(
        description="Or what to forget, in words (the one memory that matches it closely).")]
    = None,
) -> str:
    """Forget one of the user's memories, with its history and the messages that stated it."""
    async def body() -> str:
        memory = _memory(runtime)
        item = await memory.named(memory_id, description, ("memory_id", "description"))
        if is_episode(item.value):
            raise Refused("that id is a message of a past conversation: forget the memory it "
                          "states (by its id or in words)")
        stored = Stored(item.value)
        if memory_key(memory.namespace, stored.kind, stored.subject) != item.key:
            raise Refused("that memory was written outside Engram's extraction: the user can "
                          "delete it in the memory console")
        candidate = MemoryCandidate(kind=cast(MemoryKind, stored.kind), subject=stored.subject,
                                    text=stored.text, forget=True)
        return await _write(memory, _source(runtime), candidate)

    return await _run("forget_memory", body())


TOOLS: list[BaseTool] = [search_memory, remember, correct_memory, forget_memory]
"""What the model is given, in this order."""
