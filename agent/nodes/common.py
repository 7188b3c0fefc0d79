"""Small helpers the nodes share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AnyMessage, HumanMessage
from langgraph.runtime import Runtime


def last_user_message(messages: Sequence[AnyMessage]) -> HumanMessage | None:
    """The most recent human message, if any."""
    return next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)


def thread_and_run(runtime: Runtime[Any]) -> tuple[str | None, str | None]:
    """The ids of the current thread and run, where the runtime knows them."""
    info = runtime.execution_info
    if info is None:
        return None, None
    return info.thread_id, info.run_id
