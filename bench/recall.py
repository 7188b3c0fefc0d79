"""Recall of evidence turns through Engram's store and ranking, on LoCoMo-format conversations.

Each turn of each sample is stored as a memory (text prefixed with its session date and speaker)
in its own namespace through AsyncPostgresStore with the configured embeddings; each question is
asked through `agent.memory.retrieval.search_memories`, the code the retrieve node runs. Reported:
recall@k of the evidence turns (overall and per category), query latency p50/p95, and, as an
experiment, the same recall for BM25 alone and for BM25 fused with the dense ranking (reciprocal
rank fusion), to decide whether a lexical signal is worth adding to retrieval.

    .venv/bin/python bench/recall.py                       # the small data set in tests/data
    .venv/bin/python bench/recall.py --data locomo10.json  # any LoCoMo-format file
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import default_data_dir, emit, fresh_database, log, offline_env, percentiles_ms
from langgraph.store.base import PutOp

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / "tests" / "data" / "recall_small.json"
RRF_K = 60
FUSION_DEPTH = 50
_TOKEN = re.compile(r"[a-z0-9]+")
_STOP = set(
    "a an the and or of to in on at for with is are was were be been do does did i you he she it "
    "we they my your his her its our their what which who when where why how that this there "
    "me him them so as by from about into than then".split()
)


def turns_of(sample: dict[str, Any]) -> list[tuple[str, str]]:
    """(dia_id, text as stored) for every turn, the text prefixed with its session's date."""
    conversation = sample["conversation"]
    sessions = sorted(
        (k for k in conversation if re.fullmatch(r"session_\d+", k)),
        key=lambda k: int(k.split("_")[1]),
    )
    turns = []
    for session in sessions:
        date = conversation.get(f"{session}_date_time", "")
        for turn in conversation[session]:
            turns.append((turn["dia_id"], f"[{date}] {turn['speaker']}: {turn['text']}"))
    return turns


def tokens(text: str) -> list[str]:
    """Lower-case word tokens without stop words."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in _STOP]


class BM25:
    """Okapi BM25 over a fixed set of documents (k1=1.5, b=0.75)."""

    def __init__(self, documents: Sequence[tuple[str, str]]) -> None:
        """Index `(id, text)` pairs."""
        self.ids = [doc_id for doc_id, _ in documents]
        self.docs = [Counter(tokens(text)) for _, text in documents]
        self.lengths = [sum(doc.values()) for doc in self.docs]
        self.average = sum(self.lengths) / max(len(self.lengths), 1)
        frequency: Counter[str] = Counter()
        for doc in self.docs:
            frequency.update(doc.keys())
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in frequency.items()}

    def rank(self, query: str) -> list[str]:
        """Document ids by descending score (only those sharing a term with the query)."""
        terms = tokens(query)
        scored = []
        for doc_id, doc, length in zip(self.ids, self.docs, self.lengths, strict=True):
            score = 0.0
            for term in terms:
                if tf := doc.get(term):
                    norm = tf + 1.5 * (1 - 0.75 + 0.75 * length / self.average)
                    score += self.idf[term] * tf * 2.5 / norm
            if score > 0:
                scored.append((score, doc_id))
        return [doc_id for _, doc_id in sorted(scored, reverse=True)]


def fuse(*rankings: Sequence[str]) -> list[str]:
    """Reciprocal rank fusion of several rankings."""
    scores: dict[str, float] = defaultdict(float)
    for ranking in rankings:
        for position, doc_id in enumerate(ranking):
            scores[doc_id] += 1.0 / (RRF_K + position + 1)
    return sorted(scores, key=lambda d: scores[d], reverse=True)


def recall(ranking: Sequence[str], evidence: Sequence[str], k: int) -> float:
    """Share of the evidence turns found in the first k results."""
    wanted = set(evidence)
    return len(wanted & set(ranking[:k])) / len(wanted) if wanted else 0.0


async def run(data: Path, ks: list[int], categories: set[int], data_dir: Path, keep: bool) -> None:
    """Ingest, ask, score."""
    from agent.memory.retrieval import search_memories
    from store.postgres import store

    samples = json.loads(data.read_text())
    results: dict[str, list[tuple[int, dict[int, float]]]] = defaultdict(list)
    latencies: list[float] = []
    async with fresh_database("recall", data_dir=data_dir, keep=keep), store() as memories:
        for sample in samples:
            namespace = ("bench", str(sample.get("sample_id", "sample")))
            turns = turns_of(sample)
            log(f"{namespace[1]}: storing {len(turns)} turns")
            for start in range(0, len(turns), 256):
                await memories.abatch([
                    PutOp(namespace, dia_id, {"text": text, "kind": "fact", "importance": 0.5})
                    for dia_id, text in turns[start : start + 256]
                ])
            lexical = BM25(turns)
            questions = [q for q in sample["qa"] if int(q.get("category", 0)) in categories]
            for qa in questions:
                began = time.perf_counter()
                ranked = await search_memories(
                    memories, [namespace], qa["question"], limit=max(ks), min_relevance=-1.0
                )
                latencies.append(time.perf_counter() - began)
                dense = [item.key for item, _ in ranked]
                deep = await search_memories(
                    memories, [namespace], qa["question"], limit=FUSION_DEPTH, min_relevance=-1.0
                )
                bm25 = lexical.rank(qa["question"])
                fused = fuse([item.key for item, _ in deep], bm25)
                evidence = [e for e in qa.get("evidence", []) if isinstance(e, str)]
                category = int(qa["category"])
                for name, ranking in (("dense", dense), ("bm25", bm25), ("fused", fused)):
                    results[name].append((category, {k: recall(ranking, evidence, k) for k in ks}))

    def summary(rows: list[tuple[int, dict[int, float]]]) -> dict[str, Any]:
        by_category: dict[int, list[dict[int, float]]] = defaultdict(list)
        for category, scores in rows:
            by_category[category].append(scores)
        overall = {f"recall@{k}": round(sum(s[k] for _, s in rows) / len(rows), 3) for k in ks}
        per = {
            str(c): {f"recall@{k}": round(sum(s[k] for s in v) / len(v), 3) for k in ks}
            | {"questions": len(v)}
            for c, v in sorted(by_category.items())
        }
        return {**overall, "per_category": per}

    emit({
        "bench": "recall",
        "data": data.name,
        "samples": len(samples),
        "questions": len(results["dense"]),
        "categories": sorted(categories),
        "engram": summary(results["dense"]),
        **percentiles_ms(latencies, "query"),
        "experiment_bm25": summary(results["bm25"]),
        "experiment_bm25_dense_rrf": summary(results["fused"]),
    })


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="LoCoMo-format JSON file")
    parser.add_argument("--k", default="5,10,20", help="comma-separated cut-offs")
    parser.add_argument("--categories", default="1,2,3,4", help="QA categories to ask")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    offline_env()
    asyncio.run(run(
        args.data, [int(k) for k in args.k.split(",")],
        {int(c) for c in args.categories.split(",")}, default_data_dir(), args.keep,
    ))


if __name__ == "__main__":
    main()
