"""write_memory: extract memories from the turn, reconcile them with the store, write them.

Operations the run's approval policy gates are not written here: they go to `approve_memory`,
which asks a human. Splitting the two keeps the approval deterministic: on resume only the
approval node runs again, over the plan saved in the checkpoint, never a new extraction.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent import models
from agent.context import Context, context_of
from agent.memory import approval, ledger, reconcile, usage
from agent.memory.extract import extract_candidates
from agent.memory.extract_llm import llm_candidates
from agent.memory.reconcile import MemoryOperation
from agent.memory.schema import Identity, MemoryCandidate, Source, identity_of, memory_namespace
from agent.memory.scrub import scrub
from agent.nodes.common import last_user_message, require_store, thread_and_run
from agent.server import metrics
from agent.server.metrics import timed_node
from agent.state import State

logger = logging.getLogger(__name__)


def _source(state: State, runtime: Runtime[Context]) -> Source:
    message = last_user_message(state["messages"])
    thread_id, run_id = thread_and_run(runtime)
    checkpoint_id = runtime.execution_info.checkpoint_id if runtime.execution_info else None
    return Source(thread_id=thread_id, run_id=run_id, checkpoint_id=checkpoint_id,
                  message_id=message.id if message else None)


def _report(operations: list[MemoryOperation], status: str) -> list[dict[str, Any]]:
    """What happened to each operation; a no-op is reported as unchanged, whatever was decided."""
    return [{"id": op.id, "action": op.action, "key": op.key, "text": op.text,
             "reason": op.reason, "status": "unchanged" if op.action == "noop" else status}
            for op in operations]


def _observe(
    operations: list[MemoryOperation], report: list[dict[str, Any]], identity: Identity,
    thread_id: str | None, run_id: str | None,
) -> None:
    """Metrics and one log line for a write (ids and counts only, never text)."""
    for op in operations:
        metrics.record_scrubbed(op.scrubbed)
    metrics.record_operations(report)
    logger.info(
        "memory_write operations=%d pending=%d",
        sum(r["status"] != "pending approval" for r in report),
        sum(r["status"] == "pending approval" for r in report),
        extra={"thread_id": thread_id, "run_id": run_id, "user_id": identity.user_id,
               "org_id": identity.org_id, "actions": sorted(op.action for op in operations)},
    )


async def _candidates(text: str, state: State, runtime: Runtime[Context]) -> list[MemoryCandidate]:
    """From the chat model when one is configured, else from the offline rules."""
    context = context_of(runtime)
    if models.configured_model_name(context.model):
        model = models.load_chat_model(context.model)
        return await llm_candidates(model, text, state.get("memories", []))
    return extract_candidates(text)


@timed_node
async def write_memory(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Store what the user's latest message said about them, once per message."""
    message = last_user_message(state["messages"])
    if message is None:
        return {"memory_operations": [], "pending_memory_operations": []}
    store, identity = require_store(runtime), identity_of(runtime)
    thread_id, run_id = thread_and_run(runtime)
    if (done := await ledger.applied_operations(store, identity, thread_id, message.id)) is not None:
        replayed = [{**op, "action": "noop", "reason": "this turn was already applied",
                     "status": "replayed"} for op in done]
        return {"memory_operations": replayed, "pending_memory_operations": []}
    # Scrub before extraction: no rule, subject, key or model call sees a secret of the turn.
    candidates = await _candidates(scrub(message.text).text, state, runtime)
    namespace = memory_namespace(identity)
    operations = await reconcile.plan(store, namespace, candidates) if candidates else []
    gated = [op for op in operations
             if approval.needs_approval(context_of(runtime).approval, op)]
    now = [op for op in operations if op not in gated]
    await reconcile.apply(store, namespace, now, _source(state, runtime))
    report = _report(now, "applied") + _report(gated, "pending approval")
    _observe(operations, report, identity, thread_id, run_id)
    retrieved = [m["key"] for m in state.get("memories", [])]
    await asyncio.gather(
        usage.record_retrievals(store, identity, retrieved),
        ledger.record(store, identity, thread_id, message.id, report),
    )
    return {
        "memory_operations": _report(now, "applied"),
        "pending_memory_operations": [op.model_dump(mode="json") for op in gated],
    }


@timed_node
async def approve_memory(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Ask a human about the gated operations, then write what they let through."""
    pending = [MemoryOperation.model_validate(op)
               for op in state.get("pending_memory_operations", [])]
    approved = approval.decide(pending, interrupt(approval.request(pending)))
    store, identity = require_store(runtime), identity_of(runtime)
    await reconcile.apply(store, memory_namespace(identity), approved, _source(state, runtime))
    chosen = {op.id for op in approved}
    decided = _report(approved, "applied") + _report(
        [op for op in pending if op.id not in chosen], "rejected")
    metrics.record_operations(decided)
    report = [*state.get("memory_operations", []), *decided]
    message = last_user_message(state["messages"])
    thread_id, _ = thread_and_run(runtime)
    await ledger.record(store, identity, thread_id, message.id if message else None, report)
    return {"memory_operations": report, "pending_memory_operations": []}
