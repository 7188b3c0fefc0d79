"""One caller's memory: the operations every way in needs, behind one set of checks.

The ways in (the console's routes, the MCP tools, the import route and command, and the
graph's nodes for what a turn writes) are adapters: each works out who is calling and parses
its own shape, calls one method here, and renders what comes back. The limits and checks live
here or below (query and text sizes, kinds, scrubbing, the instruction check, reconciliation,
the approval policy, the ledger), so a new way in inherits them. Every method acts on the
caller's own namespace (and reads their organisation's shared one): nothing here widens it.

Refusals are exceptions an adapter maps to its own error shape (`REFUSALS` gives the HTTP
status of each).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from langgraph.store.base import BaseStore, Item, SearchItem
from langgraph_sdk.client import LangGraphClient

from agent import telemetry
from agent.context import ApprovalPolicy
from agent.memory.model.checks import (
    InvalidCorrection,
    check_correction,
    check_label,
    check_metadata,
    check_search_text,
)
from agent.memory.model.episodes import Utterance, is_episode
from agent.memory.model.kinds import KINDS
from agent.memory.model.limits import (
    MAX_LISTED,
    MAX_NAMESPACE_LABEL_CHARS,
    MAX_SCANNED,
    MAX_SCOPE_ID_CHARS,
    MAX_STATED,
    MAX_SUB_NAMESPACES,
)
from agent.memory.model.schema import (
    Identity,
    MemoryCandidate,
    RunInfo,
    Source,
    Stored,
    identity_of,
    memory_namespace,
    shared_namespace,
)
from agent.memory.read import browse, filters
from agent.memory.read.browse import MemoryNotFound
from agent.memory.read.filters import Filter
from agent.memory.read.retrieval import Found, find_memories
from agent.memory.text.messages import control_character
from agent.memory.text.offload import owned_by
from agent.memory.text.restatement import Embed, embedder_of
from agent.memory.write import approval, corrections, erase, ledger
from agent.memory.write.importer import ImportReport, InvalidImport, import_sessions, parse_sessions

# Re-exported: the ways in name operations and turns, never the write layer itself.
from agent.memory.write.reconcile import MemoryOperation as MemoryOperation
from agent.memory.write.turns import Extractor, extractor, report, settle, write_turns
from agent.memory.write.turns import Turn as Turn
from store import conversations

ItemT = TypeVar("ItemT", bound=Item)
logger = logging.getLogger(__name__)


class NoStore(RuntimeError):
    """A graph run without a store: the server was not started with Engram's factories."""


class RunWithStore(RunInfo, Protocol):
    """A graph run (its runtime): the server's identity of the caller, and its store."""

    @property
    def store(self) -> BaseStore | None:
        """The run's store."""


@dataclass(frozen=True)
class TurnWritten:
    """What a turn's write did: operations applied and held for a human, as reported.

    `replayed` is the ledger's entry when the turn was written before (nothing new written).
    """

    applied: list[dict[str, Any]]
    pending: list[dict[str, Any]]
    replayed: ledger.Entry | None


class NotYours(PermissionError):
    """A request that names another user's namespace."""


REFUSALS: dict[type[Exception], int] = {
    MemoryNotFound: 404, InvalidCorrection: 422, InvalidImport: 422, NotYours: 403,
    OverflowError: 413,
}
"""The HTTP status of each refusal (the message says what is wrong and what to send)."""


def status_of(err: Exception) -> int | None:
    """The HTTP status of a refusal, None for an error that is not one."""
    return next((status for kind, status in REFUSALS.items() if isinstance(err, kind)), None)


def check_limit(raw: Any, default: int) -> int:
    """A listing's `limit` (None: `default`), a whole number from 1 to MAX_LISTED."""
    if raw is None:
        return default
    text = str(raw)
    if not text.isdigit() or not 1 <= int(text) <= MAX_LISTED:
        raise InvalidCorrection(f"`limit` must be a whole number from 1 to {MAX_LISTED}, got "
                                f"{raw!r}")
    return int(text)


def check_kind(kind: str | None) -> str | None:
    """A kind filter: None (every kind) or one of KINDS."""
    if kind and kind not in KINDS:
        raise InvalidCorrection(f"`kind` must be one of {sorted(KINDS)}, got {kind!r}")
    return kind or None


def check_query(query: str, field: str = "q") -> str:
    """A search query, single-spaced, within MAX_QUERY_CHARS (empty: no search)."""
    return check_search_text(query, field)


def check_message(text: str, field: str = "text") -> str:
    """What a user said, to be written as a turn: non-empty plain text."""
    if not text.strip():
        raise InvalidCorrection(f"`{field}` must not be empty")
    if control := control_character(text):
        raise InvalidCorrection(f"`{field}` contains the control character {control}: send "
                                "plain text")
    return text


APPROVAL_BY_DOOR: dict[str, str] = {
    "graph turns and the model's tools": "the run's `context.approval` (default never)",
    "MCP remember and forget": "ENGRAM_MCP_APPROVAL, else the run context's default (never)",
    "Mem0 adds": "never: Mem0's clients have no approval step; a key's add is its user's own "
                 "statement, checked and reconciled like a turn's",
    "console edits and deletes": "never: the console's user is the human who approves",
    "import (route and command)": "never: the user's own history, scrubbed and reconciled",
    "HTTP store API writes": "never: the user's own memory, checked as a correction",
}
"""Which approval policy each way in writes under: one table, one place."""

SCOPE_FIELDS = ("agent_id", "app_id", "run_id")
"""What a memory may be kept under besides its user (a client's labels, checked)."""


def check_count(count: int, most: int, field: str) -> None:
    """Refuse a list or a limit over `most`, naming the field."""
    if count > most:
        raise InvalidCorrection(f"`{field}` has {count}; at most {most}")


def check_scope(scope: dict[str, Any] | None) -> dict[str, str] | None:
    """Agent, app and run ids a memory is kept under: short plain text each."""
    if not scope:
        return None
    if unknown := sorted(set(scope) - set(SCOPE_FIELDS)):
        raise InvalidCorrection(f"unknown scope fields {unknown}: use {list(SCOPE_FIELDS)}")
    return {field: check_label(value, field, MAX_SCOPE_ID_CHARS)
            for field, value in scope.items() if value is not None} or None


FILTER_ENTITIES = filters.ENTITIES
"""The ids a filter names (the user's own, and the scope a memory is kept under)."""


def parse_filter(raw: Any) -> Filter | None:
    """A caller's filter, bounded and typed (agent/memory/read/filters.py); {} or None: none."""
    return filters.parse(raw) if raw else None


@dataclass(frozen=True)
class MemoryService:
    """The memory of `identity` in `store`, written under `approval`."""

    store: BaseStore
    identity: Identity
    approval: ApprovalPolicy = "never"
    """The approval policy of this door (see APPROVAL_BY_DOOR); "never" is Context's default."""

    @property
    def namespace(self) -> tuple[str, ...]:
        """The caller's own memory namespace (every write goes here)."""
        return memory_namespace(self.identity)

    @property
    def readable(self) -> list[tuple[str, ...]]:
        """What the caller's searches read: their own memories, then their organisation's."""
        return [self.namespace, shared_namespace(self.identity.org_id)]

    # --- Reading ---------------------------------------------------------------------------

    async def search(self, query: str, limit: int, kind: str | None = None, *,
                     episodes: bool = True) -> list[SearchItem]:
        """The best current memories for `query`, ranked as the retrieve node ranks them."""
        return await browse.search(self.store, self.readable, check_query(query), limit,
                                   check_kind(kind), episodes=episodes)

    async def recent(self, limit: int, kind: str | None = None) -> list[Item]:
        """The caller's most recently written current memories (no episodes unless `kind`)."""
        return await browse.recent(self.store, self.namespace, limit, check_kind(kind))

    async def check_write_namespace(self, namespace: tuple[str, ...]) -> None:
        """Refuse a store write below a namespace the caller may write (`root`) past the caps.

        One label below it at most, of MAX_NAMESPACE_LABEL_CHARS, and at most MAX_SUB_NAMESPACES
        of them: each may grow an index of its own and every search of the root reads them all.
        """
        root = next((r for r in self.readable if namespace[:len(r)] == r), None)
        if root is None or namespace == root:
            return
        if len(namespace) > len(root) + 1:
            raise InvalidCorrection(f"namespace {list(namespace)} is more than one level below "
                                    f"{list(root)}: write to {list(root)} or one label below it")
        check_label(namespace[-1], "namespace label", MAX_NAMESPACE_LABEL_CHARS)
        below = await self.store.alist_namespaces(prefix=root, max_depth=len(root) + 1,
                                                  limit=MAX_SUB_NAMESPACES + 1)
        children = {tuple(found) for found in below if len(found) == len(root) + 1}
        if namespace not in children and len(children) >= MAX_SUB_NAMESPACES:
            raise InvalidCorrection(f"{list(root)} has {MAX_SUB_NAMESPACES} namespaces below it "
                                    "already, the most it may have: write to one of them or "
                                    "delete one first")

    def filter_fields(self, item: Item) -> dict[str, Any]:
        """What a filter (agent/memory/read/filters.py) reads of a memory."""
        scope = item.value.get("scope")
        scope = scope if isinstance(scope, dict) else {}
        return {"user_id": self.identity.user_id, **{f: scope.get(f) for f in SCOPE_FIELDS},
                "categories": [Stored(item.value).kind], "metadata": item.value.get("metadata"),
                "created_at": item.created_at.isoformat(),
                "updated_at": item.updated_at.isoformat()}

    async def _kept(self, items: Sequence[ItemT], where: Filter | None) -> list[ItemT]:
        """The items `where` keeps: at most MAX_FILTER_PARTS checks for each, off the loop."""
        if where is None:
            return list(items)
        fields = [self.filter_fields(item) for item in items]
        kept = await asyncio.to_thread(
            lambda: [filters.matches(where, f) for f in fields])
        return [item for item, keep in zip(items, kept, strict=True) if keep]

    async def search_where(self, query: str, limit: int, raw_filter: Any,
                           threshold: float | None = None) -> list[SearchItem]:
        """`search` of memories (no episodes) narrowed by a filter and a least score.

        `raw_filter` is parsed and bounded first (parse_filter). Filtering comes after ranking,
        so a filtered search looks through MAX_SCANNED hits.
        """
        check_count(limit, MAX_LISTED, "limit")
        where = parse_filter(raw_filter)
        hits = await self.search(query, MAX_SCANNED if where else limit, episodes=False)
        hits = [h for h in hits if threshold is None or (h.score or 0.0) >= threshold]
        return (await self._kept(hits, where))[:limit]

    async def listing(self, raw_filter: Any = None) -> list[Item]:
        """The caller's current memories a filter keeps, newest first (MAX_SCANNED read)."""
        where = parse_filter(raw_filter)
        return await self._kept(await self.recent(MAX_SCANNED), where)

    async def get(self, key: str) -> Item:
        """The caller's current memory `key` (MemoryNotFound if there is none)."""
        return await browse.current(self.store, self.namespace, key)

    async def get_memory(self, key: str) -> Item:
        """The caller's current memory `key` that is not an episode (else MemoryNotFound)."""
        item = await self.get(key)
        if is_episode(item.value):
            raise MemoryNotFound(f"no memory with key {key!r} is yours: {key!r} is a "
                                 "conversation's episode, not a memory")
        return item

    async def text_history(self, item: Item) -> list[tuple[str, str | None]]:
        """Each text the memory has said, oldest first, with when it stopped (None: now)."""
        texts = [(Stored(old.value).text, _text_or_none(old.value.get("invalid_at")))
                 for old in await self.history(item)]
        texts += [(str(h.get("text", "")), _text_or_none(h.get("until")))
                  for h in item.value.get("history", []) if isinstance(h, dict)]
        texts.sort(key=lambda pair: pair[1] or "")
        return [*texts, (Stored(item.value).text, None)]

    async def history(self, item: Item) -> list[Item]:
        """The superseded texts a memory replaced, oldest first (none for a shared one)."""
        if tuple(item.namespace) != self.namespace:
            return []
        return await browse.history_of(self.store, self.namespace, item)

    def present(self, item: Item) -> dict[str, Any]:
        """A memory as every way in shows it (`shared` when it is the organisation's)."""
        return browse.present(item, self.namespace)

    async def present_with_history(self, items: Sequence[Item]) -> list[dict[str, Any]]:
        """The memories as `present` shows them, each with the texts it superseded."""
        shown = []
        for item in items:
            memory = self.present(item)
            memory["superseded"] = [self.present(old) for old in await self.history(item)]
            shown.append(memory)
        return shown

    async def conversations(self, limit: int) -> list[dict[str, Any]]:
        """The threads the caller's episodes came from, most recent first."""
        return await conversations.threads(self.store, self.namespace, limit)

    async def episodes(self, thread_id: str | None, limit: int) -> list[dict[str, Any]]:
        """One thread's episodes, newest first (None: those kept without a thread)."""
        return await conversations.episodes(self.store, self.namespace, thread_id, limit)

    # --- Changing --------------------------------------------------------------------------

    async def edit(self, key: str, text: Any) -> Item:
        """Give a memory a new text (checked, scrubbed, re-embedded), keeping the old one."""
        edited = await corrections.edit(self.store, self.namespace, key, text)
        telemetry.record_operations([{"action": "update", "status": "applied"}])
        return edited

    async def delete(self, key: str) -> list[str]:
        """Delete a memory with its history and the episodes that state it; the keys deleted."""
        deleted = await corrections.delete(self.store, self.namespace, key)
        telemetry.record_operations([{"action": "delete", "status": "applied"}])
        return deleted

    async def delete_where(self, raw_filter: Any) -> int:
        """Delete every current memory a filter keeps (of the MAX_SCANNED newest); how many went."""
        if not raw_filter:
            raise InvalidCorrection("name what to delete: an empty filter would delete everything")
        deleted = 0
        for item in await self.listing(raw_filter):
            deleted += len(await self.delete(item.key))
        return deleted

    async def annotate(self, key: str, scope: dict[str, Any] | None, metadata: Any) -> Item:
        """Keep the caller's memory `key` under `scope` (agent, app, run ids) with `metadata`.

        Both are checked like every stored string (size, control characters) and scrubbed.
        """
        checked = check_scope(scope)
        return await corrections.annotate(self.store, self.namespace, key, checked,
                                          check_metadata(metadata))

    async def add_stated(
        self, texts: Sequence[str], request_id: str, scope: dict[str, Any] | None = None,
        metadata: Any = None,
    ) -> list[tuple[dict[str, Any], Item | None]]:
        """Keep each of `texts` as a fact stated outright, one write keyed by `request_id`.

        Every text is checked as a correction is (plain, bounded, not an instruction) and
        every annotation as `annotate` checks it, all before anything is written. Returns each
        operation (as the ledger reports it) with the memory it left (None: a no-op, a deletion).
        """
        check_count(len(texts), MAX_STATED, "messages")
        checked_scope, checked_metadata = check_scope(scope), check_metadata(metadata)
        candidates = [MemoryCandidate(kind="fact", subject=" ".join(text.split())[:200],
                                      text=check_correction(text, f"messages[{index}]"),
                                      importance=0.5, confidence=1.0)
                      for index, text in enumerate(texts)]
        entry, _ = await self.write_stated(
            candidates, Source(thread_id=f"stated-{request_id}", message_id=request_id),
            gated=False)
        results: list[tuple[dict[str, Any], Item | None]] = []
        for op in entry.operations:
            item = None
            if op["action"] not in ("noop", "delete"):
                item = await self.store.aget(self.namespace, op["key"])
                if item is not None and (checked_scope or checked_metadata):
                    item = await corrections.annotate(self.store, self.namespace, item.key,
                                                      checked_scope, checked_metadata)
            results.append((op, item))
        return results

    async def record_event(self, event_id: str, results: Any) -> None:
        """Record what a write request did, for the caller to read back by `event_id`."""
        await ledger.record_event(self.store, self.identity, event_id, results)

    async def event(self, event_id: str) -> dict[str, Any]:
        """What the caller's write request `event_id` did (MemoryNotFound if there was none)."""
        found = await ledger.event(self.store, self.identity, event_id)
        if found is None:
            raise MemoryNotFound(f"no event {event_id!r} of yours")
        return found

    async def named(self, key: str | None = None, text: str | None = None,
                    fields: tuple[str, str] = ("key", "text")) -> Item:
        """The one memory a forget request names: by its key, or by a description of it.

        `fields` are the adapter's names for the two, for the refusal's message.
        """
        if (key is None) == (text is None) or not (key or text or "").strip():
            raise InvalidCorrection(f"give exactly one of {fields[0]} or {fields[1]}, not empty")
        if key is not None:
            return await self.get(key)
        return await browse.matching(self.store, self.namespace, check_query(str(text), "text"))

    def deletion(self, item: Item, reason: str) -> MemoryOperation:
        """The operation that deletes `item`, as the approval gate shows it."""
        stored = Stored(item.value)
        return MemoryOperation(
            id=f"delete:{item.key}", action="delete", key=item.key, kind=stored.kind,
            subject=stored.subject, text=stored.text, previous_text=stored.text, reason=reason,
            importance=stored.importance, confidence=stored.confidence,
        )

    def needs_approval(self, operation: MemoryOperation) -> bool:
        """Whether the caller's approval policy asks a human before `operation`."""
        return approval.needs_approval(self.approval, operation)

    async def hold_for_approval(self, thread_id: str, message_id: str,
                                operation: MemoryOperation) -> None:
        """Record `operation` as the gated plan of a turn, where the approval gate finds it.

        Written server-side in the caller's ledger (a thread's owner can rewrite its state,
        never this), before the turn runs: the turn's write_memory then asks a human about it.
        """
        await ledger.record(self.store, self.identity, thread_id, message_id,
                            report([operation], "pending approval"),
                            ledger.Plan(operations=[operation.model_dump(mode="json")]))

    @staticmethod
    def messages_in(body: Any) -> int:
        """How many messages an import holds, every session checked (InvalidImport if not)."""
        return sum(len(session.messages) for session in parse_sessions(body))

    async def fill_vectors(self) -> None:
        """Embed what the vector worker has not yet, where the store has one (a command's end)."""
        fill = getattr(self.store, "fill_vectors", None)
        if fill is not None:
            await fill()

    async def import_history(self, body: Any, extract: Extractor | None = None,
                             progress: Callable[[int], None] | None = None) -> ImportReport:
        """Import conversations (`{"sessions": [...]}`) through the turn's write path.

        Every session is checked before anything is written; a `namespace` other than the
        caller's own is refused (NotYours).
        """
        sessions = parse_sessions(body)
        own = list(self.namespace)
        if isinstance(body, dict) and "namespace" in body and body["namespace"] != own:
            raise NotYours(f"namespace {body['namespace']!r} is not yours: you can import only "
                           f"into {own} (or leave namespace out)")
        with owned_by(self.identity.owner):
            imported = await import_sessions(self.store, self.identity, sessions,
                                             extract or extractor(None), progress)
        telemetry.record_operations([{"action": action, "status": "applied"}
                                     for action, n in imported.memories.items()
                                     for _ in range(n)])
        return imported

    async def erase(self, threads: LangGraphClient) -> dict[str, Any]:
        """Forget the caller entirely: memories, ledger, usage counts and threads; what went.

        `threads` reaches the server's own API without the caller's filters (the in-process
        client), to find their threads by the owner stamp each gets on creation.
        """
        return await erase.erase_user(self.identity, self.store, threads)

    # --- A graph run's turn ---------------------------------------------------------------

    @classmethod
    def of_run(cls, runtime: RunWithStore, approval: ApprovalPolicy) -> MemoryService:
        """The memory of a run's caller, in the run's store, under the run's approval policy."""
        if runtime.store is None:
            raise NoStore("no memory store configured: serve the graph with `langgraph dev` "
                          "(langgraph.json names agent/stores.py:store) or compile it with a "
                          "store")
        return cls(runtime.store, identity_of(runtime), approval)

    @property
    def embed(self) -> Embed | None:
        """The store's embedding model, where it has one (restatement checks reuse it)."""
        return embedder_of(self.store)

    async def recall(self, text: str, limit: int, min_relevance: float,
                     **ids: str | None) -> Found:
        """What a turn is shown for `text`: the caller's and their organisation's best memories.

        `ids` (thread_id, run_id) go in the log line only.
        """
        started = time.perf_counter()
        # A turn's whole message (up to a run's limit), single-spaced: the text its episode
        # embeds, so the vector is computed once.
        found = await find_memories(self.store, self.readable, " ".join(text.split()),
                                    limit=limit, min_relevance=min_relevance)
        telemetry.log_retrieval(len(found.ranked), time.perf_counter() - started,
                                user_id=self.identity.user_id, org_id=self.identity.org_id,
                                **ids)
        return found

    async def write_turn(self, turn: Turn, model: str | None,
                         shown: Sequence[dict[str, Any]], **ids: str | None) -> TurnWritten:
        """Write a turn of a run: its episodes, what it teaches, gated by the approval policy.

        Once per turn (the ledger): a replayed turn comes back as `replayed`. `model` extracts
        (None: the offline rules) beside the memories the turn was `shown`.
        """
        with owned_by(self.identity.owner):
            written = await write_turns(self.store, self.identity, [turn],
                                        extractor(model, shown), gate=self.needs_approval)
        if written.replayed:
            return TurnWritten([], [], written.replayed[0])
        applied = report(written.applied, "applied")
        gated = report(written.gated, "pending approval")
        for op in [*written.applied, *written.gated]:
            telemetry.record_scrubbed(op.scrubbed)
        telemetry.record_operations(applied + gated)
        logger.info("memory_write operations=%d pending=%d", len(applied), len(gated),
                    extra={**ids, "user_id": self.identity.user_id,
                           "org_id": self.identity.org_id,
                           "actions": sorted(op.action for op in
                                             [*written.applied, *written.gated])})
        return TurnWritten(applied, [op.model_dump(mode="json") for op in written.gated], None)

    async def plan_of(self, thread_id: str | None, message_id: str | None) -> ledger.Entry | None:
        """The ledger's entry of a turn (its operations, and a plan a human is asked about)."""
        return await ledger.entry(self.store, self.identity, thread_id, message_id)

    def approval_request(self, entry: ledger.Entry) -> dict[str, Any]:
        """What a human is asked about a turn's held-back plan (the interrupt's value)."""
        assert entry.plan is not None, "only a turn with a plan asks anything"
        return approval.request([MemoryOperation.model_validate(op)
                                 for op in entry.plan.operations])

    async def settle(self, entry: ledger.Entry, reply: Any,
                     source: Source) -> list[dict[str, Any]]:
        """Apply what a human's `reply` lets through of a turn's plan, once; the turn's operations."""
        operations, decided = await settle(self.store, self.identity, entry, reply, source)
        telemetry.record_operations(decided)
        return operations

    async def write_stated(
        self, candidates: Sequence[MemoryCandidate], source: Source, *, gated: bool = True,
    ) -> tuple[ledger.Entry, bool]:
        """Write memories stated outright (no words to learn from) as a turn of their own.

        The turn is keyed by `source` (its thread and message id) in the ledger, so a retried
        or replayed call writes nothing twice; the candidates are scrubbed, checked and
        reconciled like a turn's, and with `gated` the approval policy holds back what it asks
        a human about (the entry's plan, undecided). Returns the turn's ledger entry and
        whether it was written by an earlier call.
        """
        turn = Turn(source=source, said_at=datetime.now(UTC),
                    user=Utterance("user", "", str(source.message_id)), stated=tuple(candidates))
        with owned_by(self.identity.owner):
            written = await write_turns(self.store, self.identity, [turn], _no_words,
                                        gate=self.needs_approval if gated else None)
        if written.replayed:
            return written.replayed[0], True
        entry = await ledger.entry(self.store, self.identity, source.thread_id,
                                   str(source.message_id))
        assert entry is not None, "write_turns records every turn it writes"
        if entry.plan is None or entry.decided:
            telemetry.record_operations(entry.operations)
        return entry, False


def embedder_of_run(runtime: RunWithStore) -> Embed | None:
    """The embedding model of a run's store (None without one): restatement checks reuse it."""
    return embedder_of(runtime.store)


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


async def _no_words(text: str) -> list[MemoryCandidate]:
    return []  # a stated write has no user's words to learn from
