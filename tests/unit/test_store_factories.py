"""The persistence factories fail at startup with the fix, and the offline model is the real one."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from store import database, embedded, postgres
from store.embeddings import (
    MINILM_DIMS,
    EmbeddingModel,
    EmbeddingsConfigError,
    load_embedding_model,
)
from store.search import MIGRATIONS


async def test_an_unreachable_database_names_itself_and_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://engram:secretpw@127.0.0.1:9/engram")
    with pytest.raises(database.DatabaseError) as failure:
        async with postgres.checkpointer():
            pass
    message = str(failure.value)
    assert "cannot reach Postgres at postgresql://engram:***@127.0.0.1:9/engram" in message
    assert "secretpw" not in message and "DATABASE_URL" in message


async def test_a_store_built_for_another_dimension_is_refused(
    memory_store: Any, database_url: str
) -> None:
    other = EmbeddingModel("openai:text-embedding-3-small", 1536, memory_store.embeddings)
    async with database.connection_pool(database_url) as pool:
        assert await postgres.stored_dims(pool) == MINILM_DIMS
        await postgres.require_pgvector(pool)
        with pytest.raises(database.DatabaseError, match="holds 384-d vectors but EMBEDDINGS="
                           "openai:text-embedding-3-small gives 1536-d"):
            await postgres.require_dims(pool, other)


@pytest.mark.parametrize(
    ("name", "message"),
    [("gpt", "is not `provider:model`"), ("someprovider:model-x", "needs the `langchain` package")],
)
def test_unusable_embedding_settings_say_what_to_set(name: str, message: str) -> None:
    with pytest.raises(EmbeddingsConfigError, match=message):
        load_embedding_model(name)


def test_the_offline_model_gives_normalised_384_d_vectors_that_carry_meaning() -> None:
    model = load_embedding_model(None)
    vectors = np.array(model.embeddings.embed_documents(
        ["I prefer Python over TypeScript", "Which programming language do I like?",
         "The cat sleeps on the windowsill"]))
    assert vectors.shape == (3, MINILM_DIMS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.2
    assert model.embeddings.embed_query("I prefer Python over TypeScript") == pytest.approx(
        vectors[0].tolist(), abs=1e-5)


def test_the_embedding_cache_embeds_each_recent_text_once() -> None:
    from langchain_core.embeddings import Embeddings

    from store.embeddings import CachedEmbeddings

    class Counting(Embeddings):
        seen: list[str] = []

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            self.seen.extend(texts)
            return [[float(len(t)), 1.0] for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

    inner = Counting()
    cached = CachedEmbeddings(inner, size=2)
    assert cached.embed_documents(["a", "bb", "a"]) == [[1.0, 1.0], [2.0, 1.0], [1.0, 1.0]]
    assert cached.embed_query("bb") == [2.0, 1.0]
    cached.embed_documents(["ccc"])  # evicts "a", the least recently used
    cached.embed_query("a")
    assert inner.seen == ["a", "bb", "ccc", "a"]


async def test_concurrent_callers_never_lose_a_vector_to_eviction() -> None:
    import asyncio

    from langchain_core.embeddings import Embeddings

    from store.embeddings import CachedEmbeddings

    class Slow(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [[float(len(t))] for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

        async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
            # The first caller waits longest: the others fill (and evict from) the cache meanwhile.
            await asyncio.sleep(0.05 if "new-1" in texts else 0.01)
            return self.embed_documents(texts)

    cached = CachedEmbeddings(Slow(), size=3)
    await cached.aembed_documents(["a", "bb"])
    results = await asyncio.gather(
        cached.aembed_documents(["a", "bb", "new-1"]),  # "a" and "bb" are cached when it starts
        *(cached.aembed_documents([f"other-{i}" * (i + 1)]) for i in range(5)),
    )
    assert results[0] == [[1.0], [2.0], [5.0]]


async def test_replicas_started_together_on_a_fresh_database_all_migrate(
    engram_env: dict[str, str], new_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", new_database())

    async def replica() -> int:
        async with postgres.store() as store, postgres.checkpointer():
            async with store.conn.connection() as conn:
                cursor = await conn.execute("SELECT count(*) AS n FROM engram_migrations")
                row = await cursor.fetchone()
                return int(row["n"]) if row else 0

    # Without the migration lock, both apply version 0 and one fails on its primary key.
    applied = await asyncio.gather(replica(), replica(), replica())
    assert applied == [len(MIGRATIONS)] * 3


def test_the_socket_folder_is_made_private(tmp_path: Path) -> None:
    folder = tmp_path / "engram-pg-test"
    embedded.private_socket_dir(folder, None)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    embedded.private_socket_dir(folder, None)  # ours already: accepted


def test_a_socket_folder_open_to_others_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "engram-pg-planted"
    folder.mkdir()
    folder.chmod(0o777)  # as another local user would leave it for us to use
    with pytest.raises(embedded.EmbeddedPostgresError, match="not a private folder"):
        embedded.private_socket_dir(folder, None)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_a_socket_folder_of_another_user_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "engram-pg-theirs"
    folder.mkdir(mode=0o700)
    os.chown(folder, 65534, 65534)  # nobody
    with pytest.raises(embedded.EmbeddedPostgresError, match="another user may have made it"):
        embedded.private_socket_dir(folder, None)


async def test_a_vector_worker_setting_other_than_on_or_off_is_refused(
    engram_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agent.stores import store

    monkeypatch.setenv("ENGRAM_VECTOR_WORKER", "sometimes")
    with pytest.raises(database.DatabaseError, match="ENGRAM_VECTOR_WORKER='sometimes': use on"):
        async with store():
            pass
