"""write_memory: extract memories from the turn, reconcile them, ask where policy says, store."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent import approval, reconcile
from agent.context import Context, context_of
from agent.extract import extract_candidates
from agent.memory import Source, identity_of, memory_namespace
from agent.nodes.common import last_user_message, require_store, thread_and_run
from agent.state import State


async def write_memory(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Store what the user's latest message stated about them; safe to run again."""
    message = last_user_message(state["messages"])
    candidates = extract_candidates(message.text) if message else []
    if not candidates:
        return {"memory_operations": []}
    store = require_store(runtime)
    namespace = memory_namespace(identity_of(runtime))
    operations = await reconcile.plan(store, namespace, candidates)
    gated = [op for op in operations if approval.needs_approval(context_of(runtime).approval, op)]
    allowed = [op for op in operations if op not in gated]
    if gated:
        # On resume the node runs again from the top: the plan is recomputed (same ids, since
        # keys are deterministic) and interrupt() returns the human's reply instead of pausing.
        allowed += approval.decide(gated, interrupt(approval.request(gated)))
    thread_id, run_id = thread_and_run(runtime)
    source = Source(thread_id=thread_id, run_id=run_id, message_id=message.id if message else None)
    await reconcile.apply(store, namespace, allowed, source)
    applied = {op.id: op for op in allowed}
    return {
        "memory_operations": [
            {"id": op.id, "action": op.action, "key": op.key,
             "text": applied[op.id].text if op.id in applied else op.text,
             "status": "applied" if op.id in applied else "rejected"}
            for op in operations
        ]
    }
