"""Validate what callers send to runs, at the HTTP boundary, before anything is stored."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from agent.context import Context

MAX_MESSAGE_CHARS = 32_000
MAX_MESSAGES_PER_RUN = 20
USER_ROLES = {"user", "human"}


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
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part_index, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            if kind != "text" or not isinstance(part.get("text"), str):
                raise InvalidRun(
                    f"{where}.content[{part_index}] has type {kind!r}: only text parts "
                    "({'type': 'text', 'text': ...}) are supported"
                )
            texts.append(part["text"])
        return "".join(texts)
    raise InvalidRun(f"{where}.content must be a string or a list of text parts")


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
        if "\x00" in text:
            raise InvalidRun(f"input.messages[{index}] contains a NUL character")


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


def validate_run(body: Any) -> None:
    """Validate a run-creating request body (`POST .../runs`, `/runs/wait`, `/runs/stream`)."""
    if not isinstance(body, dict):
        return  # not ours to judge: the server answers malformed bodies itself
    validate_input(body.get("input"))
    validate_context(body.get("context"))
