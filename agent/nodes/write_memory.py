"""write_memory: keep the turn as episodes, learn memories from it, reconcile, write.

The steps are agent/memory/write/turns.py's, shared with import.

Operations the run's approval policy gates are not written here: they go to `approve_memory`,
which asks a human. Splitting the two keeps the approval deterministic: on resume only the
approval node runs again, over the plan saved in the checkpoint, never a new extraction.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent.context import Context, context_of
from agent.memory.model.episodes import Utterance, closing, turn_episode_ids
from agent.memory.model.schema import MemoryCandidate, Source
from agent.memory.service import MemoryService, Turn
from agent.memory.text.restatement import Embed, novel_part
from agent.nodes.common import last_user_message, thread_and_run
from agent.nodes.prompt import ADDED, shown_lines
from agent.state import State


def _source(state: State, runtime: Runtime[Context]) -> Source:
    message = last_user_message(state["messages"])
    thread_id, run_id = thread_and_run(runtime)
    checkpoint_id = runtime.execution_info.checkpoint_id if runtime.execution_info else None
    return Source(thread_id=thread_id, run_id=run_id, checkpoint_id=checkpoint_id,
                  message_id=message.id if message else None)


def turn_message_id(message: HumanMessage) -> str:
    """The id a turn is recorded under: the server gives every message one; else its text names it."""
    return message.id or str(uuid.uuid5(uuid.NAMESPACE_OID, message.text))


async def added_by(reply: AIMessage, state: State, embed: Embed | None) -> str:
    """What an answer added to the memories it was shown.

    As the agent node noted it; else (a message the node did not write: a fork, an edit) worked
    out from the memories in state.
    """
    added = reply.response_metadata.get(ADDED)
    if isinstance(added, str):
        return added
    facts, episodes = shown_lines(state.get("memories", []), 1_000_000)
    return await novel_part(reply.text, [*facts, *episodes], embed)


async def _turn(state: State, runtime: Runtime[Context], message: HumanMessage,
                embed: Embed | None) -> Turn:
    """The latest user message and what the assistant's answers to it added."""
    after = state["messages"][state["messages"].index(message) + 1:]
    # The answers: not the model's memory tool calls on the way to them.
    replies = [m for m in after if isinstance(m, AIMessage) and not m.tool_calls and m.id
               and m.text.strip()]
    ordinal = state.get("summarized_turns", 0) + sum(
        isinstance(m, HumanMessage) for m in state["messages"][: len(state["messages"])
                                                               - len(after)])
    user_episode, answer_episodes = turn_episode_ids(ordinal, message.text, len(replies))
    answers = []
    # Places in the thread: the user's message of turn n at 2n, its answers after it.
    for number, (reply, episode_id) in enumerate(zip(replies, answer_episodes, strict=True)):
        if added := await added_by(reply, state, embed):
            answers.append(Utterance("assistant", added, str(reply.id), episode_id,
                                     position=2 * ordinal + 1 + number))
    message_id = turn_message_id(message)
    source = _source(state, runtime).model_copy(update={"message_id": message_id})
    return Turn(source=source, said_at=datetime.now(UTC),
                before=_said_before(state["messages"][: len(state["messages"]) - len(after) - 1]),
                user=Utterance("user", message.text, message_id, user_episode,
                               position=2 * ordinal),
                answers=tuple(answers), asked_before=bool(state.get("asked_before")),
                stated=summary_memory(state.get("summary_to_keep", ""), source.thread_id))


def _said_before(earlier: list[Any]) -> Utterance | None:
    """The message said just before the turn, as its episode keeps it, for the turn's context.

    An answer counts for what it added to the memories it was shown (as the agent node noted
    it): what it restated is not what the user replied to. Scrubbed with the turn.
    """
    said = [m for m in earlier if isinstance(m, HumanMessage | AIMessage)
            and not getattr(m, "tool_calls", None) and m.text.strip()]
    if not said:
        return None
    message = said[-1]
    added = message.response_metadata.get(ADDED) if isinstance(message, AIMessage) else None
    text = closing(added if isinstance(added, str) else message.text)
    if not text:
        return None
    return Utterance("user" if isinstance(message, HumanMessage) else "assistant", text,
                     str(message.id))


def summary_memory(text: str, thread_id: str | None) -> tuple[MemoryCandidate, ...]:
    """The thread's running summary as a memory (one per thread, updated in place), if any."""
    if not text or not thread_id:
        return ()
    return (MemoryCandidate(kind="summary", subject=f"conversation {thread_id}",
                            text=text[:2000], importance=0.4, confidence=1.0),)


async def write_memory(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Keep the turn as episodes and store what it said about the user, once per message."""
    message = last_user_message(state["messages"])
    if message is None:
        return {"memory_operations": [], "pending_memory_operations": [], "summary_to_keep": ""}
    context = context_of(runtime)
    memory = MemoryService.of_run(runtime, context.approval)
    thread_id, run_id = thread_and_run(runtime)
    shown = state.get("memories", [])
    turn = await _turn(state, runtime, message, memory.embed)
    # The memories it was shown count a retrieval each, recorded with the turn.
    written = await memory.write_turn(replace(turn, shown=tuple(m["key"] for m in shown)),
                                      context.model, shown, thread_id=thread_id, run_id=run_id)
    if written.replayed is not None:
        return {**_replayed(written.replayed), "summary_to_keep": ""}
    return {"memory_operations": written.applied,
            "pending_memory_operations": written.pending, "summary_to_keep": ""}


def _replayed(entry: Any) -> dict[str, Any]:
    """A turn already in the ledger: nothing new is written; a plan still unanswered is asked again.

    A run that planned the gate and then died before its checkpoint comes back here on retry:
    its operations wait for the human as they would have.
    """
    if entry.plan is not None and not entry.decided:
        done = [op for op in entry.operations if op.get("status") != "pending approval"]
        return {"memory_operations": done, "pending_memory_operations": entry.plan.operations}
    replayed = [{**op, "action": "noop", "reason": "this turn was already applied",
                 "status": "replayed"} for op in entry.operations]
    return {"memory_operations": replayed, "pending_memory_operations": []}


async def approve_memory(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Ask a human about the turn's gated operations, then write what they let through.

    What is asked and written comes from the turn's plan in the ledger, in the caller's own
    namespace, never from the thread's state: a thread's owner can rewrite its state.
    """
    memory = MemoryService.of_run(runtime, context_of(runtime).approval)
    thread_id, _ = thread_and_run(runtime)
    message = last_user_message(state["messages"])
    message_id = turn_message_id(message) if message else None
    entry = await memory.plan_of(thread_id, message_id)
    if entry is None or entry.plan is None:
        return {"pending_memory_operations": []}  # this turn asked nobody anything
    reply = interrupt(memory.approval_request(entry))
    source = _source(state, runtime).model_copy(update={"message_id": message_id})
    operations = await memory.settle(entry, reply, source)
    return {"memory_operations": operations, "pending_memory_operations": []}
