"""Small helpers the nodes share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AnyMessage, HumanMessage
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore


def last_user_message(messages: Sequence[AnyMessage]) -> HumanMessage | None:
    """The most recent human message, if any."""
    return next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)


def require_store(runtime: Runtime[Any]) -> BaseStore:
    """The run's memory store, or an error that says how to provide one."""
    if runtime.store is None:
        raise RuntimeError(
            "no memory store configured: serve the graph with `langgraph dev` (langgraph.json "
            "names store/postgres.py:store) or compile it with a store"
        )
    return runtime.store


def thread_and_run(runtime: Runtime[Any]) -> tuple[str | None, str | None]:
    """The ids of the current thread and run, where the runtime knows them."""
    info = runtime.execution_info
    if info is None:
        return None, None
    return info.thread_id, info.run_id
