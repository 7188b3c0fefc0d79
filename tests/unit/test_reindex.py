"""Switching to an embedding model of another size: refused at startup, then fixed by reindex."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from langgraph.store.postgres import AsyncPostgresStore

from store import database, postgres
from store.embeddings import EmbeddingModel, load_embedding_model
from store.reindex import reindex

DIMS = 32


class WordProjection(Embeddings):
    """Deterministic bag-of-words projection: texts sharing words get similar vectors."""

    def _one(self, text: str) -> list[float]:
        vector = np.zeros(DIMS)
        for word in text.lower().split():
            vector[int(hashlib.sha256(word.strip(".,?").encode()).hexdigest(), 16) % DIMS] += 1
        return (vector / (np.linalg.norm(vector) or 1.0)).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._one(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._one(text)


async def test_reindex_moves_every_memory_to_the_new_model(
    new_database: Callable[[], str],
) -> None:
    url = new_database()
    minilm = load_embedding_model(None)
    projection = EmbeddingModel("test:word-projection", DIMS, WordProjection())
    texts = {"a": "The user loves pizza.", "b": "The user lives in Porto.", "c": "Cello on Sundays."}
    async with database.connection_pool(url) as pool:
        before = AsyncPostgresStore(pool, index=minilm.index_config())
        await before.setup()
        for key, text in texts.items():
            await before.aput(("memories", "o", "u"), key, {"text": text})
        with pytest.raises(database.DatabaseError, match="python -m store.reindex"):
            await postgres.require_dims(pool, projection)

    assert await reindex(url, projection) == len(texts)

    async with database.connection_pool(url) as pool:
        await postgres.require_dims(pool, projection)
        after = AsyncPostgresStore(pool, index=projection.index_config())
        found = await after.asearch(("memories", "o", "u"), query="where does the user live")
        assert found[0].key == "b"
        assert {i.key: i.value["text"] for i in found} == texts
