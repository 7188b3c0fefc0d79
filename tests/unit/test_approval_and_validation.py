from typing import Any

import pytest

from agent.memory.approval import ApprovalReplyError, decide, needs_approval
from agent.memory.reconcile import MemoryOperation
from agent.server.validation import InvalidRun, validate_run

DEEP: Any = 1
for _ in range(40):
    DEEP = [DEEP]


def op(action: str, key: str = "k") -> MemoryOperation:
    return MemoryOperation(
        id=f"{action}:{key}", action=action, key=key, kind="fact",  # type: ignore[arg-type]
        subject="s", text="The user lives in Lisbon.", reason="test", importance=0.5,
        confidence=0.9,
    )


@pytest.mark.parametrize(
    ("policy", "action", "asks"),
    [("never", "add", False), ("never", "update", False), ("never", "delete", False),
     ("on_change", "add", False), ("on_change", "update", True), ("on_change", "supersede", True),
     ("on_change", "delete", True), ("always", "add", True), ("always", "noop", False)],
)
def test_policy_decides_what_needs_a_human(policy: Any, action: str, asks: bool) -> None:
    assert needs_approval(policy, op(action)) is asks


def test_replies_approve_reject_or_edit_each_operation() -> None:
    ops = [op("add", "a"), op("update", "b"), op("add", "c")]
    assert decide(ops, "approve") == ops
    assert decide(ops, "reject") == []
    chosen = decide(ops, {"add:a": "approve", "update:b": "reject",
                          "add:c": {"edit": "Email me at x@example.com"}})
    assert [o.id for o in chosen] == ["add:a", "add:c"]
    assert chosen[1].text == "Email me at [email]"
    assert chosen[1].scrubbed == {"email": 1}


@pytest.mark.parametrize(
    ("reply", "message"),
    [(42, "must be 'approve', 'reject'"), ({"add:zzz": "approve"}, "unknown operation ids"),
     ({}, "no decision for operations"), ({"add:a": "maybe"}, "decision for add:a"),
     ({"add:a": {"edit": "  "}}, "decision for add:a")],
)
def test_unreadable_replies_are_refused_with_the_reason(reply: Any, message: str) -> None:
    with pytest.raises(ApprovalReplyError, match=message):
        decide([op("add", "a")], reply)


@pytest.mark.parametrize(
    "body",
    [{"input": {"messages": [{"role": "user", "content": "hi"}]}},
     {"input": {"messages": ["plain string is a user message"]}},
     {"input": {"messages": [{"type": "human", "content": [{"type": "text", "text": "hi"}]}]}},
     {"input": None, "command": {"resume": "approve"}},
     {"input": {"messages": [{"role": "user", "content": "hi"}]},
      "context": {"approval": "always", "memory_limit": 3}}],
)
def test_valid_runs_pass(body: dict[str, Any]) -> None:
    validate_run(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [({"input": "hello"}, "input must be an object"),
     ({"input": {"messages": [{"role": "user", "content": "a\x00b"}]}}, "U\\+0000"),
     ({"input": {"messages": [{"role": "user", "content": "bell \x07"}]}}, "U\\+0007"),
     ({"context": {"a": [[[[]]]]}, "config": {"x": DEEP}}, "nested deeper"),
     ({"input": {"messages": [{"role": "user", "content": "x"}] * 21}}, "at most 20"),
     ({"context": {"approval": "sometimes"}}, "context.approval"),
     ({"context": {"max_context_tokens": 10}}, "context.max_context_tokens"),
     ({"context": ["not", "a", "mapping"]}, "context")],
)
def test_invalid_runs_name_the_field(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRun, match=message):
        validate_run(body)
