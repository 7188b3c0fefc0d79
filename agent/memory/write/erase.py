"""Erase a user ("forget me"): every memory and every thread of theirs, in one call, reported."""

from __future__ import annotations

from typing import Any

from langgraph.store.base import BaseStore
from langgraph_sdk.client import LangGraphClient

from agent.memory.model.schema import Identity, ledger_namespace, memory_namespace, usage_namespace
from store.search import MemoryStore

PAGE = 500


async def erase_namespace(store: BaseStore, namespace: tuple[str, ...]) -> int:
    """Delete every item under `namespace` (sub-namespaces included); return how many."""
    deleted = 0
    while items := await store.asearch(namespace, limit=PAGE):
        for item in items:
            await store.adelete(tuple(item.namespace), item.key)
        deleted += len(items)
    return deleted


async def erase_user(
    identity: Identity, store: BaseStore, threads: LangGraphClient
) -> dict[str, Any]:
    """Delete the user's memories, ledger, usage counts and threads (with their checkpoints).

    `threads` must reach the server's own API without the caller's filters (the in-process
    client); the user's threads are found by the owner stamp every thread gets on creation.
    """
    report: dict[str, Any] = {"user": identity.user_id, "org": identity.org_id}
    for name, namespace in (("memories", memory_namespace(identity)),
                            ("ledger_entries", ledger_namespace(identity)),
                            ("usage_entries", usage_namespace(identity))):
        report[name] = await erase_namespace(store, namespace)
    if isinstance(store, MemoryStore):
        await store.fold_sizes()  # no count is left under the user's namespaces' names
    owner = {"owner": identity.user_id, "org": identity.org_id}
    deleted = 0
    while found := await threads.threads.search(metadata=owner, limit=PAGE):
        for thread in found:
            await threads.threads.delete(thread["thread_id"])
        deleted += len(found)
    report["threads"] = deleted
    return report
