"""Validate what callers send to runs, at the HTTP boundary, before anything is stored."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from agent.context import Context
from agent.memory.messages import CONTROL, NotText, content_text

MAX_MESSAGE_CHARS = 32_000
MAX_MESSAGES_PER_RUN = 20
MAX_DEPTH = 32
USER_ROLES = {"user", "human"}
# C0 control characters other than tab, newline and carriage return; NUL breaks Postgres text.


class InvalidRun(ValueError):
    """A run request the graph must not start; the message names the field and the fix."""


def _message_text(index: int, message: Any) -> str:
    where = f"input.messages[{index}]"
    if isinstance(message, str):
        return message
    if not isinstance(message, dict):
        raise InvalidRun(f"{where} must be an object with `role` and `content`")
    role = message.get("role", message.get("type"))
    if role not in USER_ROLES:
        raise InvalidRun(f"{where}.role is {role!r}: only user messages may be sent")
    try:
        return content_text(message.get("content"))
    except NotText as err:
        raise InvalidRun(f"{where}.content{err}") from err


def validate_input(value: Any) -> None:
    """The graph input: one or more non-empty user messages within the size limit."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise InvalidRun("input must be an object like {'messages': [...]}")
    if unknown := sorted(set(value) - {"messages"}):
        raise InvalidRun(f"input has unknown fields {unknown}: only `messages` is accepted")
    messages = value.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRun("input.messages must be a non-empty list of user messages")
    if len(messages) > MAX_MESSAGES_PER_RUN:
        raise InvalidRun(f"input.messages has {len(messages)} items; at most {MAX_MESSAGES_PER_RUN}")
    for index, message in enumerate(messages):
        text = _message_text(index, message)
        if not text.strip():
            raise InvalidRun(f"input.messages[{index}] is empty: send some text")
        if len(text) > MAX_MESSAGE_CHARS:
            raise InvalidRun(
                f"input.messages[{index}] has {len(text)} characters; at most {MAX_MESSAGE_CHARS}"
            )
        check_plain(text, f"input.messages[{index}]")


def check_plain(text: str, field: str) -> None:
    """Refuse control characters (NUL included) in a user's text, naming the field."""
    if control := CONTROL.search(text):
        raise InvalidRun(
            f"{field} contains the control character U+{ord(control.group()):04X}: send plain text"
        )


def validate_context(value: Any) -> None:
    """The run context must match the graph's context schema exactly."""
    if value is None:
        return
    try:
        Context.model_validate(value)
    except ValidationError as err:
        problems = "; ".join(
            f"context.{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
            for e in err.errors()
        )
        raise InvalidRun(problems) from err


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of a JSON value, counted up to `limit + 1` (iteratively: no recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list) and node:
            deepest = max(deepest, level)
            if level > limit:
                return level
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, level + 1) for child in children)
    return deepest


def validate_run(body: Any) -> None:
    """Validate a run-creating request body (`POST .../runs`, `/runs/wait`, `/runs/stream`)."""
    if not isinstance(body, dict):
        return  # not ours to judge: the server answers malformed bodies itself
    for field in ("input", "context", "config", "metadata", "command"):
        if depth(body.get(field)) > MAX_DEPTH:
            raise InvalidRun(f"{field} is nested deeper than {MAX_DEPTH} levels")
    validate_input(body.get("input"))
    validate_context(body.get("context"))
