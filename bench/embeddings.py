"""Benchmark the default embedding model: load time, batch throughput, single-query latency.

Measures `store.embeddings.load_embedding_model(None)` (the offline all-MiniLM-L6-v2 int8 ONNX
model, sha256 checks included), then `embed_documents` over generated short conversational turns
in the model's own batches (32 texts), then `embed_query` and `aembed_query` latency one text at a
time. Timings are of the model itself: the store receives it wrapped in a cache of recent texts
(`CachedEmbeddings`), whose hit latency is reported separately. No database is needed.

    .venv/bin/python bench/embeddings.py [--texts 1000] [--rounds 3] [--queries 200]

Progress goes to stderr; the result is one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from _common import (
    conversation_turns,
    distinct_queries,
    emit,
    log,
    machine,
    offline_env,
    percentiles_ms,
)
from langchain_core.embeddings import Embeddings


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--texts", type=int, default=1000, help="texts per throughput round")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds (median kept)")
    parser.add_argument("--queries", type=int, default=200, help="single-query latency samples")
    parser.add_argument("--warmup", type=int, default=20, help="untimed queries first")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from store.embeddings import load_embedding_model

    started = time.perf_counter()
    model = load_embedding_model(None)
    load_s = time.perf_counter() - started
    log(f"loaded {model.name} ({model.dims}-d) in {load_s:.2f} s")
    # The store gets the model behind a cache of recent texts (CachedEmbeddings); the model's
    # own cost is measured on the model itself, the cache's on a repeated query.
    cached = model.embeddings
    embeddings: Embeddings = getattr(cached, "inner", cached)
    batch_size = int(getattr(embeddings, "_batch_size", 0)) or None

    texts = conversation_turns(args.texts, args.seed)
    embeddings.embed_documents(texts[:64])  # warm-up: first runs allocate the ORT arenas
    rates = []
    for round_no in range(args.rounds):
        started = time.perf_counter()
        vectors = embeddings.embed_documents(texts)
        elapsed = time.perf_counter() - started
        assert len(vectors) == len(texts) and len(vectors[0]) == model.dims
        rates.append(len(texts) / elapsed)
        log(f"round {round_no + 1}/{args.rounds}: {len(texts)} texts in {elapsed:.2f} s "
            f"= {rates[-1]:.0f} texts/s")

    queries = distinct_queries(args.warmup + args.queries, args.seed + 1)
    for query in queries[: args.warmup]:
        embeddings.embed_query(query)
    sync_s = []
    for query in queries[args.warmup :]:
        started = time.perf_counter()
        embeddings.embed_query(query)
        sync_s.append(time.perf_counter() - started)
    async_s = []
    for query in queries[args.warmup :]:
        started = time.perf_counter()
        await embeddings.aembed_query(query)
        async_s.append(time.perf_counter() - started)
    log(f"{len(sync_s)} single queries timed (embed_query and aembed_query)")
    hit_s = []
    if cached is not embeddings:
        for query in queries[args.warmup :]:
            await cached.aembed_query(query)  # miss: fills the cache
            started = time.perf_counter()
            await cached.aembed_query(query)  # hit
            hit_s.append(time.perf_counter() - started)

    sync = percentiles_ms(sync_s, "query")
    via_thread = percentiles_ms(async_s, "aquery")
    return {
        "bench": "embeddings",
        "model": model.name,
        "dims": model.dims,
        "load_s": round(load_s, 3),
        "texts": len(texts),
        "batch_size": batch_size,
        "mean_chars": round(statistics.fmean(len(t) for t in texts), 1),
        "texts_per_s": round(statistics.median(rates), 1),
        "texts_per_s_rounds": [round(r, 1) for r in rates],
        "query_ms_p50": sync["query_ms_p50"],
        "query_ms_p95": sync["query_ms_p95"],
        "aquery_ms_p50": via_thread["aquery_ms_p50"],
        "aquery_ms_p95": via_thread["aquery_ms_p95"],
        "queries": len(sync_s),
        "store_wrapper": type(cached).__name__,
        "cache_hit_ms_p50": percentiles_ms(hit_s, "hit").get("hit_ms_p50"),
        "machine": machine(),
    }


def main() -> None:
    offline_env()
    emit(asyncio.run(run(parse_args())))


if __name__ == "__main__":
    main()
