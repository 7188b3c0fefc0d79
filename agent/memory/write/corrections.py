"""A user's corrections of their memory: a new text for a memory, a deletion, a forget by text.

Each acts on the namespace the caller passes, which the server derives from the caller's token.
A corrected text is checked like any text a person writes (agent/memory/model/checks.py),
scrubbed, and re-embedded; the old text stays in the memory's history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from langgraph.store.base import BaseStore, Item

from agent.memory.model.checks import InvalidCorrection, check_correction
from agent.memory.model.episodes import is_episode
from agent.memory.read.browse import current, matching
from agent.memory.text.scrub import masked_counts, scrub
from agent.memory.write.evidence import forget_context
from agent.memory.write.reconcile import forget

EDITED = "edited by the user"


async def edit(store: BaseStore, namespace: tuple[str, ...], key: str, text: Any) -> Item:
    """Replace a memory's text (scrubbed, re-embedded) and record the old text in its history."""
    text = check_correction(text)
    item = await current(store, namespace, key)
    if is_episode(item.value):
        raise InvalidCorrection("an episode is the record of what was said: it cannot be edited "
                                "(delete it instead)")
    cleaned = scrub(text).text
    if cleaned == item.value.get("text"):
        return item
    now = datetime.now(UTC).isoformat()
    history = [*item.value.get("history", []),
               {"text": item.value.get("text"), "until": now, "reason": EDITED,
                "source": item.value.get("source")}]
    value = {**item.value, "text": cleaned, "scrubbed": masked_counts(cleaned),
             "updated_at": now, "history": history, "source": {"edited_at": now}}
    await store.aput(namespace, key, value)
    return await current(store, namespace, key)


async def delete(store: BaseStore, namespace: tuple[str, ...], key: str) -> list[str]:
    """Delete a memory, the superseded texts it kept and the episodes that state them.

    An episode is deleted on its own. Returns the keys deleted (see reconcile.forget).
    """
    item = await current(store, namespace, key)
    if is_episode(item.value):  # one message of the record, on its own
        await store.adelete(namespace, key)
        await forget_context(store, namespace, [item])
        return [key]
    return await forget(store, namespace, item)


async def forget_text(store: BaseStore, namespace: tuple[str, ...], text: str) -> list[str]:
    """Delete the memory that `text` names (see `matching`); return the keys deleted."""
    return await delete(store, namespace, (await matching(store, namespace, text)).key)


async def annotate(store: BaseStore, namespace: tuple[str, ...], key: str,
                   scope: dict[str, str] | None, metadata: dict[str, Any] | None) -> Item:
    """Keep a memory under `scope` (agent, app, run ids) with `metadata`, both already checked.

    A memory's annotations are a client's labels for it, not what it says: they are replaced
    whole, with no history.
    """
    item = await current(store, namespace, key)
    value = dict(item.value)
    await store.aput(namespace, key, {**value, "scope": scope or None, "metadata": metadata},
                     index=False)
    return await current(store, namespace, key)
