"""Validate what callers send to runs, at the HTTP boundary, before anything is stored."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from agent.context import Context
from agent.memory.model.checks import InvalidCorrection, check_correction
from agent.memory.model.limits import MAX_STATE_MEMORIES
from agent.memory.text.messages import NotText, content_text, control_character
from agent.models import ModelNotAllowed, check_model

MAX_MESSAGE_CHARS = 32_000
MAX_MESSAGES_PER_RUN = 20
MAX_DEPTH = 32
USER_ROLES = {"user", "human"}
STATE_FIELDS = {"messages", "summary", "summarized_turns", "memories"}
"""What a thread's owner may set in its state (forks, Studio edits); the rest the graph keeps."""
MAX_SUMMARY_CHARS = 32_000
MAX_MEMORIES = MAX_STATE_MEMORIES


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
    if control := control_character(text):
        raise InvalidRun(f"{field} contains the control character {control}: send plain text")


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
    try:
        check_model(value.get("model") if isinstance(value, dict) else None)
    except ModelNotAllowed as err:
        raise InvalidRun(f"context.model: {err}") from err


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


def validate_state(values: Any, where: str) -> None:
    """A state update (`threads.update_state`, a superstep, `command.update`).

    Only STATE_FIELDS may be set, with plain text: what the graph records for itself (the
    operations it planned and applied) is never taken from a caller.
    """
    if values is None:
        return
    if isinstance(values, list):
        for index, update in enumerate(values):
            validate_state(update, f"{where}[{index}]")
        return
    if not isinstance(values, dict):
        raise InvalidRun(f"{where} must be an object of state fields")
    if unknown := sorted(set(values) - STATE_FIELDS):
        raise InvalidRun(f"{where} sets {unknown}, which the graph keeps for itself: a state "
                         f"update may set only {sorted(STATE_FIELDS)}")
    messages = values.get("messages", [])
    for index, message in enumerate(messages if isinstance(messages, list) else [messages]):
        field = f"{where}.messages[{index}]"
        content = message.get("content") if isinstance(message, dict) else message
        try:
            text = content_text("" if content is None else content)
        except NotText as err:
            raise InvalidRun(f"{field}.content{err}") from err
        if len(text) > MAX_MESSAGE_CHARS:
            raise InvalidRun(f"{field} has {len(text)} characters; at most {MAX_MESSAGE_CHARS}")
        check_plain(text, field)
    if "summary" in values:
        summary = values["summary"]
        if not isinstance(summary, str) or len(summary) > MAX_SUMMARY_CHARS:
            raise InvalidRun(f"{where}.summary must be text of at most {MAX_SUMMARY_CHARS} "
                             "characters")
        check_plain(summary, f"{where}.summary")
    turns = values.get("summarized_turns", 0)
    if not isinstance(turns, int) or isinstance(turns, bool) or turns < 0:
        raise InvalidRun(f"{where}.summarized_turns must be a whole number >= 0")
    memories = values.get("memories", [])
    if not isinstance(memories, list) or len(memories) > MAX_MEMORIES or not all(
        isinstance(m, dict) and isinstance(m.get("key"), str) and isinstance(m.get("text"), str)
        for m in memories
    ):
        raise InvalidRun(f"{where}.memories must be a list of at most {MAX_MEMORIES} objects "
                         "with a string `key` and `text`")


def validate_command(command: Any) -> None:
    """A run's `command`: a resume answers the approval gate; an update is a state update."""
    if command is None:
        return
    if not isinstance(command, dict):
        raise InvalidRun("command must be an object like {'resume': 'approve'}")
    if unknown := sorted(set(command) - {"resume", "update"}):
        raise InvalidRun(f"command has {unknown}: only `resume` (and a state `update`) are "
                         "accepted; the graph's route is its own")
    update = command.get("update")
    if isinstance(update, list) and all(isinstance(u, list | tuple) and len(u) == 2
                                        for u in update):
        update = {str(k): v for k, v in update}  # the (channel, value) pairs form
    validate_state(update, "command.update")
    resume = command.get("resume")
    if isinstance(resume, dict):
        for operation_id, decision in resume.items():
            if isinstance(decision, dict):
                if set(decision) != {"edit"}:
                    raise InvalidRun(f"command.resume.{operation_id} must be 'approve', 'reject' "
                                     "or {'edit': 'new text'}")
                try:
                    check_correction(decision["edit"], f"{operation_id}.edit")
                except InvalidCorrection as err:
                    raise InvalidRun(f"command.resume: {err}") from err


def validate_run(body: Any) -> None:
    """Validate a run-creating request body (`POST .../runs`, `/runs/wait`, `/runs/stream`)."""
    if not isinstance(body, dict):
        return  # not ours to judge: the server answers malformed bodies itself
    for field in ("input", "context", "config", "metadata", "command"):
        if depth(body.get(field)) > MAX_DEPTH:
            raise InvalidRun(f"{field} is nested deeper than {MAX_DEPTH} levels")
    validate_input(body.get("input"))
    validate_context(body.get("context"))
    validate_command(body.get("command"))


def validate_thread_create(body: Any) -> None:
    """`POST /threads`: the state updates of its `supersteps`, if any."""
    if not isinstance(body, dict) or not isinstance(body.get("supersteps"), list):
        return
    if depth(body["supersteps"]) > MAX_DEPTH:
        raise InvalidRun(f"supersteps is nested deeper than {MAX_DEPTH} levels")
    for step, superstep in enumerate(body["supersteps"]):
        updates = superstep.get("updates") if isinstance(superstep, dict) else None
        for index, update in enumerate(updates if isinstance(updates, list) else []):
            if isinstance(update, dict):
                validate_state(update.get("values"), f"supersteps[{step}].updates[{index}].values")
                validate_command(update.get("command"))


def validate_state_update(body: Any) -> None:
    """`POST /threads/{id}/state`: its `values`."""
    if not isinstance(body, dict):
        return
    if depth(body.get("values")) > MAX_DEPTH:
        raise InvalidRun(f"values is nested deeper than {MAX_DEPTH} levels")
    validate_state(body.get("values"), "values")
