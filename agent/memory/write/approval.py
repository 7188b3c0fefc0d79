"""The human approval gate for memory writes: which operations need it and what a reply means."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langgraph.store.base import PutOp

from agent.context import ApprovalPolicy
from agent.memory.model.checks import InvalidCorrection, check_correction
from agent.memory.model.episodes import EPISODE_INDEX
from agent.memory.write.ledger import Plan
from agent.memory.write.reconcile import MemoryOperation, edited

APPROVE, REJECT = "approve", "reject"


class ApprovalReplyError(ValueError):
    """A resume value the approval gate cannot read."""


def needs_approval(policy: ApprovalPolicy, operation: MemoryOperation) -> bool:
    """Whether `policy` asks a human before this operation is applied.

    A thread's running summary is Engram's own record of the conversation, rewritten in place
    as it grows: only "always" asks about it.
    """
    if operation.action == "noop" or policy == "never":
        return False
    if operation.kind == "summary":
        return policy == "always"
    return policy == "always" or operation.action in ("update", "supersede", "delete")


def request(operations: Sequence[MemoryOperation]) -> dict[str, Any]:
    """The interrupt payload: what would be written, and how to answer."""
    return {
        "type": "memory_approval",
        "operations": [op.model_dump(mode="json") for op in operations],
        "reply": (
            "resume with 'approve', 'reject', or {operation id: 'approve' | 'reject' | "
            "{'edit': 'new text'}}"
        ),
    }


def edit_text(operation_id: str, text: Any) -> str:
    """A human's edit of an operation, checked as a console edit is (ApprovalReplyError if not)."""
    try:
        return check_correction(text, f"{operation_id}.edit")
    except InvalidCorrection as err:
        raise ApprovalReplyError(str(err)) from err


def episode_writes(namespace: tuple[str, ...], plan: Plan) -> list[PutOp]:
    """The episodes a plan held back, written into `namespace` (the approver's own)."""
    return [PutOp(namespace, str(e["key"]), dict(e["value"]), index=EPISODE_INDEX)
            for e in plan.episodes]


def decide(operations: Sequence[MemoryOperation], reply: Any) -> list[MemoryOperation]:
    """The operations a human's reply lets through, with their edits applied."""
    if reply in (APPROVE, REJECT):
        return list(operations) if reply == APPROVE else []
    if not isinstance(reply, Mapping):
        raise ApprovalReplyError(
            f"approval reply must be 'approve', 'reject' or a mapping of operation ids, "
            f"got {type(reply).__name__}"
        )
    known = {op.id for op in operations}
    if unknown := sorted(set(reply) - known):
        raise ApprovalReplyError(f"unknown operation ids in approval reply: {unknown}")
    if missing := sorted(known - set(reply)):
        raise ApprovalReplyError(f"approval reply has no decision for operations: {missing}")
    approved = []
    for op in operations:
        decision = reply[op.id]
        if decision == APPROVE:
            approved.append(op)
        elif isinstance(decision, Mapping) and set(decision) == {"edit"}:
            approved.append(edited(op, edit_text(op.id, decision["edit"]).strip()))
        elif decision != REJECT:
            raise ApprovalReplyError(
                f"decision for {op.id} must be 'approve', 'reject' or {{'edit': 'non-empty text'}}"
            )
    return approved
