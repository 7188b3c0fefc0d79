"""Reconcile candidate memories with what is stored, then apply the result idempotently.

For each candidate the plan is one of:
- add: nothing like it is stored;
- update: the memory of the same subject says the same thing in other words;
- supersede: the memory of the same subject is contradicted; the old text is kept as a history
  item (`invalid_at`, `superseded_by`) and leaves retrieval, the new one takes its key;
- delete: the user asked to forget it (with the texts it superseded and the episodes that state
  them: `forget`);
- noop: already stored (same subject and text, or another subject in near-identical words), or the
  stored memory is more confident than the new statement, or the statement held nothing but
  masked secrets.
Keys come from the owner and the subject, so the plan for a turn is a pure function of the turn and
the store: running it again (retry, replay, fork) finds the result already there, plans no-ops, and
a no-op writes nothing but, once, the link to the turn that stated its memory again.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from langgraph.store.base import BaseStore, Item, SearchItem
from pydantic import BaseModel, ConfigDict

from agent.memory.model.episodes import is_current, is_episode
from agent.memory.model.schema import (
    MemoryCandidate,
    MemoryValue,
    Source,
    Stored,
    memory_key,
    normalise,
    similarity,
)
from agent.memory.read.browse import FORGET_MATCH
from agent.memory.text.injection import is_instruction_or_claim
from agent.memory.text.restatement import cosine, embedder_of
from agent.memory.text.scrub import masked_counts, only_placeholders, scrub
from agent.memory.write.evidence import forget_context, marker_words, stating_episodes

Action = Literal["add", "update", "supersede", "delete", "noop"]

# Cosine similarities between a candidate's text and stored texts (all-MiniLM-L6-v2 scale).
SAME_MEANING = 0.85
"""A stored memory of the same subject this close is reworded in place, not contradicted."""
REFINES = 0.7
"""A new text that keeps every word of the stored one and adds detail refines it (update)."""
DUPLICATE = 0.9
"""A stored memory of another subject this close is the same statement: nothing to add."""
NEAR = 5
NEAR_OVERFETCH = 4
_WORD = re.compile(r"[a-z0-9']+")
_WITH_DIGITS = re.compile(r"[\w-]*\d[\w-]*")


def same_identifiers(a: str, b: str) -> bool:
    """Whether two texts name the same numbers and codes ("T0-1" vs "T0-2" embed alike)."""
    return set(_WITH_DIGITS.findall(a.lower())) == set(_WITH_DIGITS.findall(b.lower()))
_NEGATIVE = {"not", "no", "never", "dislikes", "hates", "doesn't", "don't", "isn't", "longer"}


def same_fact(old: str, new: str, similarity: float) -> bool:
    """Whether `new` restates `old` (a rewording or refinement) rather than contradicting it.

    Embeddings score "prefers Python over Go" and "prefers Go over Python" as near-identical, and
    "likes X" close to "dislikes X": a restatement must also keep the polarity and the order of
    the words the two texts share.
    """
    old_words, new_words = _WORD.findall(old.lower()), _WORD.findall(new.lower())
    if (_NEGATIVE & set(old_words)) != (_NEGATIVE & set(new_words)):
        return False
    if not same_identifiers(old, new) and not set(old_words) < set(new_words):
        return False
    if similarity >= REFINES and set(old_words) < set(new_words):
        return True  # a refinement: "name is Ada" -> "name is Ada Lovelace"
    if similarity < SAME_MEANING:
        return False
    shared = set(old_words) & set(new_words)
    return [w for w in old_words if w in shared] == [w for w in new_words if w in shared]


class MemoryOperation(BaseModel):
    """One planned change to the store, shown to a human when approval is required."""

    model_config = ConfigDict(frozen=True)

    id: str
    action: Action
    key: str
    kind: str
    subject: str
    text: str
    previous_text: str | None = None
    reason: str
    importance: float
    confidence: float
    scrubbed: dict[str, int] = {}


def scrubbed_candidate(candidate: MemoryCandidate) -> tuple[MemoryCandidate, dict[str, int]]:
    """The candidate with secrets and identifiers masked in its text and subject.

    The turn is scrubbed before extraction; this second pass catches what a model's rewording
    exposed. The counts are those of the stored text's masks.
    """
    text, subject = scrub(candidate.text), scrub(candidate.subject)
    return (candidate.model_copy(update={"text": text.text, "subject": subject.text}),
            masked_counts(text.text))


def _decide(
    candidate: MemoryCandidate, existing: Item | None, near: Sequence[SearchItem],
    closeness: float,
) -> tuple[Action, Item | None, str]:
    """The action for one candidate, the stored item it acts on, and why.

    `closeness` is the similarity of the candidate's text to the stored memory of its subject.
    """
    current = [item for item in near if is_current(item)]
    if is_instruction_or_claim(candidate.text) or is_instruction_or_claim(candidate.subject):
        return "noop", None, "reads as an instruction to the system or a claim of authority"
    if not candidate.forget and only_placeholders(candidate.text):
        return "noop", None, "states nothing but masked values (secrets are never remembered)"
    if candidate.forget:
        target = existing or next(
            (item for item in current if similarity(item) >= FORGET_MATCH), None
        )
        if target is None:
            return "noop", None, "nothing stored matches what the user asked to forget"
        return "delete", target, "the user asked to forget it"
    if existing is not None:
        if normalise(Stored(existing.value).text) == normalise(candidate.text):
            return "noop", existing, "already stored"
        # The newer statement wins a contradiction: facts about people change (moves, jobs,
        # tastes) and the latest explicit statement is the best evidence of the present. The
        # exception is a newer statement made with less confidence, which must not overwrite a
        # firm one ("I might prefer tea" does not undo "I prefer coffee").
        if candidate.confidence < float(existing.value.get("confidence", 0.0)):
            return "noop", existing, "the stored memory is more confident than the new statement"
        if same_fact(Stored(existing.value).text, candidate.text, closeness):
            return "update", existing, "the same fact in other words"
        return "supersede", existing, "the new statement contradicts the stored one"
    duplicate = next(
        (item for item in current
         if similarity(item) >= DUPLICATE and item.value.get("kind") == candidate.kind
         and same_identifiers(Stored(item.value).text, candidate.text)),
        None,
    )
    if duplicate is not None:
        return "noop", duplicate, "already stored in other words"
    return "add", None, "new"


Read = dict[str, Item | None]
"""Stored items by key, as a plan read them (None: nothing under that key)."""


async def plan(
    store: BaseStore, namespace: tuple[str, ...], candidates: Sequence[MemoryCandidate]
) -> list[MemoryOperation]:
    """Decide what each candidate does to the store: by its subject's key and its near memories."""
    return (await plan_reading(store, namespace, candidates))[0]


async def plan_reading(
    store: BaseStore, namespace: tuple[str, ...], candidates: Sequence[MemoryCandidate]
) -> tuple[list[MemoryOperation], Read]:
    """The plan (`plan`) and the stored items it was made from, for an `apply` that follows at once."""
    cleaned = [scrubbed_candidate(c) for c in candidates]
    keys = [memory_key(namespace, c.kind, c.subject) for c, _ in cleaned]
    # One round: the store batches these gets and searches (and embeds the queries together).
    found, near = await asyncio.gather(
        asyncio.gather(*(store.aget(namespace, key) for key in keys)),
        asyncio.gather(*(_near(store, namespace, c) for c, _ in cleaned)),
    )
    closeness = await _closeness(store, [c for c, _ in cleaned], keys, found, near)
    operations = []
    for (candidate, counts), key, existing, close, closer in zip(
            cleaned, keys, found, near, closeness, strict=True):
        action, target, reason = _decide(candidate, existing, close, closer)
        target_key = target.key if target is not None else key
        operations.append(MemoryOperation(
            id=f"{action}:{target_key}", action=action, key=target_key, kind=candidate.kind,
            subject=candidate.subject, text=candidate.text, reason=reason,
            previous_text=str(target.value.get("text")) if target is not None else None,
            importance=candidate.importance, confidence=candidate.confidence, scrubbed=counts,
        ))
    read: Read = {item.key: item for close in near for item in close}
    read.update(zip(keys, found, strict=True))
    return _one_per_key(operations), read


async def _closeness(
    store: BaseStore, candidates: Sequence[MemoryCandidate], keys: Sequence[str],
    found: Sequence[Item | None], near: Sequence[Sequence[SearchItem]],
) -> list[float]:
    """Each candidate's similarity to the stored memory of its subject (0.0: none stored).

    Read off the near search when the memory is among its hits; else (the namespace's episodes
    can fill every hit, and a rewording then passed for a contradiction) computed from the two
    texts with the store's model, whose cache usually holds the candidate's vector already.
    """
    closeness = [next((similarity(item) for item in close if item.key == key), None)
                 if existing is not None else 0.0
                 for key, existing, close in zip(keys, found, near, strict=True)]
    # A thread's summary is never weighed by meaning (it skips the near search too), nor is a
    # request to forget (it deletes whatever it finds).
    missing = [i for i, value in enumerate(closeness) if value is None
               and candidates[i].kind != "summary" and not candidates[i].forget]
    embed = embedder_of(store)
    if missing and embed is not None:
        vectors = await embed([text for i in missing for text in (
            candidates[i].text, Stored(found[i].value).text)])  # type: ignore[union-attr]
        for n, i in enumerate(missing):
            closeness[i] = cosine(vectors[2 * n], vectors[2 * n + 1])
    return [value or 0.0 for value in closeness]


async def _near(
    store: BaseStore, namespace: tuple[str, ...], candidate: MemoryCandidate
) -> list[SearchItem]:
    """Stored memories close to the candidate (none looked up for a thread's summary).

    A summary has one key per thread and nothing to be a duplicate of, so it skips the search
    and the embedding of a long text.
    """
    if candidate.kind == "summary":
        return []
    # Episodes share the namespace: they are the record, never a memory to update or delete.
    found = await store.asearch(namespace, query=candidate.text, limit=NEAR * NEAR_OVERFETCH)
    return [item for item in found if not is_episode(item.value)][:NEAR]


def _one_per_key(operations: list[MemoryOperation]) -> list[MemoryOperation]:
    """Keep the last operation on each key (two candidates may resolve to the same memory)."""
    return list({op.key: op for op in operations}.values())


def edited(operation: MemoryOperation, text: str) -> MemoryOperation:
    """The operation with a human's replacement text, scrubbed like any other."""
    cleaned = scrub(text).text
    return operation.model_copy(update={"text": cleaned, "scrubbed": masked_counts(cleaned)})


def history_key(namespace: tuple[str, ...], key: str, text: str) -> str:
    """The key of a superseded text of memory `key` (deterministic, so replays do not repeat it)."""
    return memory_key(namespace, "history", f"{key} {text}")


RESTATED = ("already stored", "already stored in other words")
"""The reasons of a no-op whose turn stated a stored memory again."""


async def apply(
    store: BaseStore,
    namespace: tuple[str, ...],
    operations: Sequence[MemoryOperation],
    source: Source,
    stated_in: str | None = None,
    read: Read | None = None,
) -> None:
    """Write the plan; applying the same plan twice changes nothing more.

    `stated_in` is the key of the user episode of the turn: a memory it adds, updates or states
    again links to it (`said_in`; that link, once, is all a no-op writes). A supersession dates
    the episodes that stated the old value; a deletion removes them (agent/memory/write/evidence.py).
    Updates and supersessions read their item again: between planning and applying a human may
    have taken hours to approve. A plan applied at once passes what it `read` instead (a round
    trip less in every turn that teaches something).
    """
    # A summary is stated by no one turn: forgetting it takes no episode with it.
    stated_by = {op.key: None if op.kind == "summary" else stated_in for op in operations}
    touched = [op.key for op in operations if op.action != "noop" or op.reason in RESTATED]
    known = read or {}
    unread = [key for key in touched if key not in known]
    current = {key: known[key] for key in touched if key in known} | dict(zip(
        unread, await asyncio.gather(*(store.aget(namespace, key) for key in unread)),
        strict=True))
    now = datetime.now(UTC).isoformat()
    writes: list[Any] = []
    for op in operations:
        existing, stated = current.get(op.key), stated_by[op.key]
        if op.action == "delete":
            if existing is not None:
                writes.append(forget(store, namespace, existing))
            continue
        if op.action == "noop":
            if existing is not None and op.reason in RESTATED and stated and (
                stated not in Stored(existing.value).said_in
            ):  # stated again: link the turn, so forgetting the memory forgets it too
                writes.append(store.aput(namespace, op.key, {
                    **existing.value, "said_in": [*Stored(existing.value).said_in, stated]},
                    index=False))
            continue
        if existing is not None and normalise(Stored(existing.value).text) == normalise(
            op.text
        ):
            continue
        previous = existing.value if existing is not None else None
        said_in = list(dict.fromkeys([*(previous or {}).get("said_in", []),
                                      *([stated] if stated else [])]))
        if op.action == "supersede" and previous is not None:
            old_key = history_key(namespace, op.key, str(previous.get("text", "")))
            writes.append(store.aput(namespace, old_key, {
                **previous, "invalid_at": now, "superseded_by": op.key,
            }))
            writes.append(_date_episodes(store, namespace, previous, op, now))
            previous = {**previous, "supersedes": [*previous.get("supersedes", []), old_key]}
            said_in = [stated] if stated else []
        value = _value(op, previous, source, now)
        writes.append(store.aput(namespace, op.key, {**value, "said_in": said_in}))
    await asyncio.gather(*writes)


async def _date_episodes(
    store: BaseStore, namespace: tuple[str, ...], previous: dict[str, Any],
    op: MemoryOperation, now: str,
) -> None:
    """Mark the episodes that stated a superseded value: dated history, ranked below the new one."""
    episodes = await stating_episodes(store, namespace, [previous],
                                      unless=marker_words(op.text, op.subject))
    await asyncio.gather(*(
        store.aput(namespace, item.key, {**_stored(item), "superseded_by": op.key,
                                         "invalid_at": now, "superseded_at": now}, index=False)
        for item in episodes if not item.value.get("superseded_by")))


async def forget(store: BaseStore, namespace: tuple[str, ...], memory: Item) -> list[str]:
    """Delete a memory, the texts it superseded, and every episode that states any of them.

    Returns the keys deleted.
    """
    history = await asyncio.gather(*(store.aget(namespace, str(key))
                                     for key in Stored(memory.value).supersedes))
    said = [memory.value, *(old.value for old in history if old is not None)]
    episodes = await stating_episodes(store, namespace, said)
    keys = list(dict.fromkeys([memory.key, *(old.key for old in history if old is not None),
                               *(item.key for item in episodes)]))
    await asyncio.gather(*(store.adelete(namespace, key) for key in keys))
    await forget_context(store, namespace, episodes)
    return keys


def _stored(item: Item) -> dict[str, Any]:
    return dict(item.value)


def _value(
    op: MemoryOperation, existing: dict[str, Any] | None, source: Source, now: str
) -> dict[str, Any]:
    history = list(existing.get("history", [])) if existing else []
    if existing:
        history.append({"text": existing.get("text"), "until": now, "reason": op.reason,
                        "source": existing.get("source")})
    return MemoryValue(
        text=op.text, kind=op.kind,  # type: ignore[arg-type]
        subject=op.subject, importance=op.importance, confidence=op.confidence,
        source=source, created_at=str(existing.get("created_at", now)) if existing else now,
        updated_at=now, scrubbed=op.scrubbed, history=history,
        supersedes=list(existing.get("supersedes", [])) if existing else [],
    ).model_dump(mode="json", exclude_none=True)
