"""No secret or identifier a user says reaches the memory store or the memory channels."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.data.sensitive_corpus import CORPUS
from tests.e2e.helpers import say

pytestmark = pytest.mark.e2e

MEMORY_CHANNELS = ("memories", "memory_operations", "pending_memory_operations", "summary")


async def test_the_corpus_never_reaches_storage(
    client_for: Callable[[str], LangGraphClient], database_url: str
) -> None:
    assert len(CORPUS) >= 50
    alice = client_for("alice")
    thread = await alice.threads.create()
    for sentence, _ in CORPUS:
        await say(alice, thread["thread_id"], sentence, max_context_tokens=400)

    stored = await alice.store.search_items(("memories",), limit=1000)
    assert len(stored["items"]) >= 40  # the statements really were remembered
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        rows = await (await conn.execute("SELECT prefix, key, value::text FROM store")).fetchall()
    history = await alice.threads.get_history(thread["thread_id"], limit=1000)
    channels = [str(h["values"].get(c, "")) for h in history for c in MEMORY_CHANNELS]

    leaked = [value for _, value in CORPUS
              if any(value in text or value.lower() in text.lower()
                     for text in [*(r[2] for r in rows), *(str(r[1]) for r in rows), *channels])]
    assert leaked == []
    categories = {name for item in stored["items"] for name in item["value"].get("scrubbed", {})}
    assert {"email", "phone", "card_number", "iban", "api_key", "password"} <= categories
