"""The one way memories are written: from turns, by write_memory and by import alike.

(The console's corrections and deletions, and forget-me, change what this wrote; they are in
agent/memory/write/corrections.py and agent/memory/write/erase.py, behind MemoryService.)

For each turn not yet in the ledger: scrub the user's message, extract candidate memories from
it, reconcile them with the store, and keep both messages as episodes. The facts the approval
policy gates are returned instead of written (with the turn's episodes, which would carry them);
the rest goes out batched: the store sends concurrent writes as one round trip and one embedding
call. The ledger is written last. Turns already in it write nothing: replays, forks, retries
and re-imports are no-ops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from langgraph.store.base import BaseStore, Item, PutOp

from agent import models
from agent.memory.model.episodes import Utterance, episode_key, episode_puts
from agent.memory.model.schema import Identity, MemoryCandidate, Source, memory_namespace
from agent.memory.text.offload import sized
from agent.memory.text.scrub import scrub_all
from agent.memory.write import approval, ledger, reconcile, usage
from agent.memory.write.extract import extract_candidates
from agent.memory.write.extract_llm import llm_candidates
from agent.memory.write.reconcile import MemoryOperation

Extractor = Callable[[str], Awaitable[list[MemoryCandidate]]]
"""Candidate memories from a user's (already scrubbed) message."""
Gate = Callable[[MemoryOperation], bool]
"""Whether an operation must wait for a human's approval."""


@dataclass(frozen=True)
class Turn:
    """A user's message and the answer to it: the unit the ledger records."""

    source: Source
    """Thread, run and checkpoint of the turn; `message_id` is the user's message id."""
    said_at: datetime
    user: Utterance
    answers: tuple[Utterance, ...] = ()
    asked_before: bool = False
    """The user's message is a question asked before: its episode is not kept again."""
    stated: tuple[MemoryCandidate, ...] = ()
    """Memories the turn keeps beside what its words teach: the running summary of the
    messages it folded (they are written, gated and recorded with the turn's own)."""
    before: Utterance | None = None
    """The message said just before the turn in its thread: its close is embedded with the
    turn's first episode (agent/memory/model/episodes.py). Scrubbed with the turn."""
    shown: tuple[str, ...] = ()
    """Keys of the memories the turn was shown: each counts one retrieval, once, recorded with
    the turn (agent/memory/write/usage.py)."""


@dataclass
class Written:
    """What a write did."""

    applied: list[MemoryOperation] = field(default_factory=list)
    gated: list[MemoryOperation] = field(default_factory=list)
    """Operations waiting for a human: recorded with their turn's episodes as the ledger's plan."""
    episodes: int = 0
    turns: int = 0
    replayed: list[ledger.Entry] = field(default_factory=list)
    """For each turn that was already in the ledger: what it recorded then."""


async def _extract(extract: Extractor, text: str) -> list[MemoryCandidate]:
    return await extract(text) if text.strip() else []


async def scrub_turns(turns: Sequence[Turn]) -> list[Turn]:
    """The turns with every message scrubbed, in one batch (off the event loop when large).

    A message scrubbed before (an import scrubs ahead of its writes) is kept as it is.
    """
    texts = [u.text for t in turns for u in (t.user, *t.answers, *_before(t))
             if u.scrubbed is None]
    results = iter(await scrub_all(texts))

    def clean(utterance: Utterance) -> Utterance:
        return utterance if utterance.scrubbed is not None else utterance.cleaned(next(results))

    return [replace(t, user=clean(t.user), answers=tuple(clean(a) for a in t.answers),
                    before=clean(t.before) if t.before is not None else None)
            for t in turns]


def _before(turn: Turn) -> tuple[Utterance, ...]:
    return (turn.before,) if turn.before is not None else ()


def extractor(model_name: str | None, near: Sequence[dict[str, Any]] = ()) -> Extractor:
    """The chat model's extraction when a model is configured, else the offline rules.

    Args:
        model_name: the run's model setting (empty: the server's MODEL, else offline).
        near: stored memories the model is shown beside the message.
    """
    if models.configured_model_name(model_name):
        model = models.load_chat_model(model_name)
        return lambda text: llm_candidates(model, text, near)

    async def rules(text: str) -> list[MemoryCandidate]:
        return await sized(len(text), extract_candidates, text)

    return rules


async def put_episodes(store: BaseStore, puts: Sequence[PutOp]) -> None:
    """Store episodes (concurrently: the store batches them with whatever else is in flight)."""
    await asyncio.gather(*(store.aput(put.namespace, put.key, put.value or {}, index=put.index)
                           for put in puts))


def _stated_in(namespace: tuple[str, ...], turn: Turn) -> str | None:
    """The key of the user's episode of the turn, which its memories link to (`said_in`).

    None for a turn with no words of the user's (a memory tool call): nothing stated it.
    """
    if not turn.user.text.strip():
        return None
    return episode_key(namespace, turn.source.thread_id, turn.user.key_id)


def report(operations: Sequence[MemoryOperation], status: str) -> list[dict[str, Any]]:
    """What happened to each operation; a no-op is reported as unchanged, whatever was decided."""
    return [{"id": op.id, "action": op.action, "key": op.key, "text": op.text,
             "reason": op.reason, "status": "unchanged" if op.action == "noop" else status}
            for op in operations]


async def write_turns(
    store: BaseStore, identity: Identity, turns: Sequence[Turn], extract: Extractor,
    gate: Gate | None = None,
) -> Written:
    """Write what `turns` teach about the user, and the turns themselves, once per turn.

    Turns that teach something are reconciled one after the other, each against what the one
    before wrote, as they would be one turn at a time; the episodes of all of them are written
    together, which is what makes an import of many turns fast.
    """
    namespace = memory_namespace(identity)
    # The turns' ledger entries and the counts of what they were shown: one round trip.
    entries = [ledger.entry_read(identity, t.source.thread_id, t.user.message_id) for t in turns]
    counting = usage.reads(identity, [key for turn in turns for key in turn.shown])
    found = [item if isinstance(item, Item) else None for item in await store.abatch(
        [*(op for op in entries if op is not None), *counting])]
    items = iter(found[:len(found) - len(counting)])
    recorded = [ledger.entry_of(next(items)) if op is not None else None for op in entries]
    counts = usage.counts_of(found[len(found) - len(counting):], counting)
    written = Written(replayed=[done for done in recorded if done is not None])
    fresh = [turn for turn, done in zip(turns, recorded, strict=True) if done is None]
    if not fresh:
        return written
    # Scrub before extraction: no rule, subject, key or model call sees a secret of the turn.
    fresh = await scrub_turns(fresh)
    extracted = [[*found, *turn.stated] for found, turn in zip(
        await asyncio.gather(*(_extract(extract, t.user.text) for t in fresh)), fresh,
        strict=True)]
    per_turn: list[list[dict[str, Any]]] = [[] for _ in fresh]
    gated_per_turn: list[list[MemoryOperation]] = [[] for _ in fresh]
    applying: Awaitable[None] | None = None
    for index, candidates in enumerate(extracted):
        if not candidates:
            continue
        if applying is not None:
            await applying  # the next turn is planned against what the previous one wrote
        operations, read = await reconcile.plan_reading(store, namespace, candidates)
        gated = [op for op in operations if gate is not None and gate(op)]
        applied = [op for op in operations if op not in gated]
        written.applied += applied
        written.gated += gated
        gated_per_turn[index] = gated
        per_turn[index] = report(applied, "applied") + report(gated, "pending approval")
        turn = fresh[index]
        applying = reconcile.apply(store, namespace, applied, turn.source,
                                   _stated_in(namespace, turn), read)
    # A turn that asks to forget keeps no episode: the request would restate what it forgets.
    episodes = [[] if any(c.forget for c in candidates) else episode_puts(
                    namespace, (*(() if turn.asked_before else (turn.user,)), *turn.answers),
                    turn.said_at, turn.source, turn.before.text if turn.before else "")
                for turn, candidates in zip(fresh, extracted, strict=True)]
    # What a human may still refuse must not reach memory through the turn's own words: a turn
    # with gated operations keeps its episodes in its plan, written once they are approved.
    plans = [ledger.Plan([op.model_dump(mode="json") for op in gated],
                         [{"key": put.key, "value": put.value} for put in puts],
                         _stated_in(namespace, turn))
             if gated else None
             for gated, puts, turn in zip(gated_per_turn, episodes, fresh, strict=True)]
    now = [put for puts, plan in zip(episodes, plans, strict=True) if plan is None
           for put in puts]
    # The ledger last: a turn counts as applied only once everything it wrote is stored. The
    # retrievals of the turns not replayed are counted with it.
    records = [ledger.record_write(identity, turn.source.thread_id, turn.user.message_id, done,
                                   plan) for turn, done, plan in zip(fresh, per_turn, plans,
                                                                     strict=True)]
    last = [*(op for op in records if op is not None),
            *usage.writes(identity, [key for turn in fresh for key in turn.shown], counts)]
    if applying is None and all(put.index is False for put in now):
        # Nothing but rows to insert (an episode's vector is queued by the store itself): one
        # statement writes the episodes and the ledger together, all or none.
        await store.abatch(last_per_key([*now, *last]))
    else:
        # The last facts and every episode in one gather: the store sends them as one batch,
        # with one embedding call; then the ledger.
        await asyncio.gather(applying or asyncio.sleep(0), put_episodes(store, now))
        await store.abatch(last_per_key(last))
    written.episodes, written.turns = len(now), len(fresh)
    return written


def last_per_key(writes: Sequence[PutOp]) -> list[PutOp]:
    """The last write of each item (one statement cannot write a row twice)."""
    return list({(op.namespace, op.key): op for op in writes}.values())


async def settle(
    store: BaseStore, identity: Identity, entry: ledger.Entry, reply: Any, source: Source,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Apply what a human's reply lets through of a turn's held-back plan, and record it, once.

    `entry` is the turn's ledger entry with an undecided plan; `source` names the turn (its
    thread and message id are the ledger's key). The turn's held-back episodes are kept only
    when nothing in it was refused. Returns the turn's operations, all of them, and those
    decided now. Raises approval.ApprovalReplyError for a reply it cannot read.
    """
    assert entry.plan is not None, "only a turn that held operations back is settled"
    pending = [MemoryOperation.model_validate(op) for op in entry.plan.operations]
    approved = approval.decide(pending, reply)
    chosen = {op.id for op in approved}
    rejected = [op for op in pending if op.id not in chosen]
    namespace = memory_namespace(identity)
    episodes = [] if rejected else approval.episode_writes(namespace, entry.plan)
    await asyncio.gather(
        reconcile.apply(store, namespace, approved, source, entry.plan.stated_in),
        put_episodes(store, episodes))
    decided = report(approved, "applied") + report(rejected, "rejected")
    operations = [*(op for op in entry.operations if op.get("status") != "pending approval"),
                  *decided]
    await ledger.record(store, identity, source.thread_id, str(source.message_id), operations,
                        entry.plan, decided=True)
    return operations, decided
