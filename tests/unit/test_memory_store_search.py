"""Vector search inside one namespace among many: MemoryStore's is exact in small namespaces.

(The library's own query, HNSW then filter, returned fewer than 5 results here: 8% share.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from langgraph.store.base import PutOp

from store import database
from store.database import Pool
from store.embeddings import EmbeddingModel
from store.search import SESSION_OPTIONS, MemoryStore

DIMS = 16


class Seeded(Embeddings):
    """Each text's vector is random but fixed by the text (a test double for geometry only).

    Seeded by a digest of the text: `hash()` of a string changes from one process to the next.
    """

    def _one(self, text: str) -> list[float]:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        vector = np.random.default_rng(seed).standard_normal(DIMS)
        return (vector / np.linalg.norm(vector)).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._one(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._one(text)


def half(vector: list[float]) -> np.ndarray:
    """A vector as the store keeps it: half precision (store/half_precision.py), by way of
    float4 (pgvector reads the text, or converts a full-precision vector, so)."""
    return np.array(vector, dtype=np.float32).astype(np.float16).astype(np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a.astype(np.float64) @ b / np.linalg.norm(a) / np.linalg.norm(b))


@asynccontextmanager
async def seeded_store(url: str) -> AsyncIterator[tuple[MemoryStore, EmbeddingModel, Pool]]:
    """A MemoryStore on a new database, its vectors from `Seeded`."""
    model = EmbeddingModel("test:seeded", DIMS, Seeded())
    async with database.connection_pool(url, options=SESSION_OPTIONS) as pool:
        ours = MemoryStore(pool, index=model.index_config())
        await ours.setup()
        yield ours, model, pool


async def test_a_small_namespace_gets_its_exact_nearest_memories(
    new_database: Callable[[], str],
) -> None:
    async with seeded_store(new_database()) as (ours, model, pool):
        ops = [PutOp(("memories", "acme", f"user{i % 50}"), f"k{i}", {"text": f"memory {i}"})
               for i in range(9_200)]
        ops += [PutOp(("memories", "acme", "small"), f"s{i}", {"text": f"small {i}"})
                for i in range(800)]
        for start in range(0, len(ops), 1000):
            await ours.abatch(ops[start : start + 1000])
        async with pool.connection() as conn:
            await conn.execute("ANALYZE store")
            await conn.execute("ANALYZE store_vectors")

        for query in ("what do I like", "where do I live", "tell me about work"):
            mine = await ours.asearch(("memories", "acme", "small"), query=query, limit=5)
            exact = sorted(
                (cosine(half(model.embeddings.embed_query(query)),
                        half(model.embeddings.embed_query(f"small {i}"))), f"s{i}")
                for i in range(800))[::-1][:5]
            assert [item.key for item in mine] == [key for _, key in exact]
            # No stored text shares a word with these queries: the vector side alone ranks them
            # (the vectors stored at half precision; Postgres sums in float4).
            assert [item.similarity for item in mine] == pytest.approx(
                [round(max(s, 0), 4) for s, _ in exact], abs=2e-4)
            assert all(item.lexical == 0 for item in mine)

        # A large namespace goes to the HNSW index and still fills the page.
        big = await ours.asearch(("memories", "acme"), query="what do I like", limit=5)
        assert len(big) == 5


async def test_vectors_are_stored_and_searched_exactly_as_the_model_gave_them(
    new_database: Callable[[], str],
) -> None:
    async with seeded_store(new_database()) as (ours, model, pool):
        texts = [f"memory {i}" for i in range(20)]
        await ours.abatch([PutOp(("memories", "exact"), f"k{i}", {"text": text})
                           for i, text in enumerate(texts)])
        async with pool.connection() as conn:
            rows = await (await conn.execute(
                "SELECT key, embedding::text AS v FROM store_vectors WHERE prefix = 'memories.exact'"
            )).fetchall()
        stored = {row["key"]: np.array(json.loads(row["v"]), dtype=np.float32) for row in rows}
        for i, text in enumerate(texts):  # bit for bit: the model's floats, at half precision
            assert np.array_equal(stored[f"k{i}"], half(model.embeddings.embed_query(text)))
        (hit,) = await ours.asearch(("memories", "exact"), query="memory 7", limit=1)
        assert hit.key == "k7" and hit.similarity == 1.0  # the query vector, sent as text, too
