"""Recall of evidence turns on public multi-session conversations, through Engram's own paths.

Each question's history is imported into a namespace of its own through the import path
(`agent.memory.write.importer.import_sessions`: scrubbing, episodes, extraction, reconciliation, the
ledger), into a fresh database opened by the service's store factory. Each question is then
asked through `agent.memory.read.retrieval.search_memories`, the retrieve node's search, with the
node's default relevance floor. A hit counts for the turn it is (an episode) or was learned
from (a fact's source message).

Reported overall and per question type: turn recall@5/10/20 of the evidence turns, session
recall_any@5/@10 and recall_all@10, query latency p50/p95, and import speed (messages/s,
tokens/s) beside the embedding model's own speed on a sample of the same texts, in the same run.

Formats, detected from the file:
- LongMemEval (`haystack_sessions`; evidence: turns with `has_answer`), e.g. the dev slice:
      .venv/bin/python bench/recall.py --data ../shared/data/longmemeval_s_dev60.json.gz
- LoCoMo (`conversation` and `qa`; evidence: `dia_id`s, loosely written ones normalised);
  speaker A is imported as the user, speaker B as the assistant, each message prefixed with its
  speaker's name and carrying it as `name` (as a chat export names who said what).

`--cache` keeps the vectors of every embedded text in `.engram/bench-cache/` and reuses them, so
ranking can be re-tuned without re-embedding (the import speed of such a run is not reported).
`--gist-words 96` and `--lexical-weight 0.5` override the shipped settings, to measure
alternatives with the real code; `--weights plain,0,1` (the default) also ranks every question
with other settings of the store's ranking, on the same imported store, with no relevance
floor: `plain` is the textbook hybrid (min-max 50/50, no conversation terms), a number is a mix
of words and meaning (0: meaning only, 1: words only) that may name its fusion
(`store/search.py` FUSIONS) and the shares of the conversation's terms, as
`minmax:0.5+neighbour0.1+speaker0.2`. Progress goes to stderr, the result is one JSON
line.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import json
import random
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    ROOT,
    VECTORS_HEAP,
    VECTORS_INDEXES,
    default_data_dir,
    emit,
    fresh_database,
    log,
    machine,
    offline_env,
    percentiles_ms,
)
from langchain_core.embeddings import Embeddings

KS = (5, 10, 20)
CACHE_DIR = ROOT / ".engram" / "bench-cache"
THROUGHPUT_SAMPLE = 2_000


@dataclass
class Question:
    """One question with its history, in import format, and where its evidence is."""

    id: str
    type: str
    text: str
    sessions: list[dict[str, Any]]
    evidence: set[tuple[str, str]]
    """(session id, message index) of the evidence turns."""
    evidence_sessions: set[str]
    history: str = ""
    """Which history the question is asked of (its namespace): LoCoMo's questions of one
    conversation share it; a LongMemEval question has its own (default: its id)."""

    @property
    def namespace_label(self) -> str:
        """The label its namespace's user is derived from."""
        return self.history or self.id


def _open(path: Path) -> Any:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        return json.load(handle)


def longmemeval(data: list[dict[str, Any]]) -> Iterator[Question]:
    """Questions of a LongMemEval file."""
    for q in data:
        sessions, evidence = [], set()
        for sid, date, turns in zip(q["haystack_session_ids"], q["haystack_dates"],
                                    q["haystack_sessions"], strict=True):
            sessions.append({"id": sid, "date": date, "messages": [
                {"role": t["role"], "content": t["content"]} for t in turns]})
            evidence |= {(sid, str(i)) for i, t in enumerate(turns) if t.get("has_answer")}
        yield Question(q["question_id"], q["question_type"], q["question"], sessions, evidence,
                       set(q["answer_session_ids"]))


def locomo(data: list[dict[str, Any]]) -> Iterator[Question]:
    """Questions of a LoCoMo file (one namespace per conversation, shared by its questions)."""
    for index, sample in enumerate(data):
        conversation = sample["conversation"]
        speaker_a = conversation.get("speaker_a")
        names = sorted((k for k in conversation if re.fullmatch(r"session_\d+", k)),
                       key=lambda k: int(k.split("_")[1]))
        sessions: list[dict[str, Any]] = []
        where: dict[str, tuple[str, str]] = {}
        for name in names:
            turns = conversation[name]
            sessions.append({"id": name, "date": _locomo_date(conversation.get(f"{name}_date_time")),
                             "messages": [
                {"role": "user" if t["speaker"] == speaker_a else "assistant",
                 "name": t["speaker"], "content": f"{t['speaker']}: {t['text']}"}
                for t in turns]})
            where |= {t["dia_id"]: (name, str(i)) for i, t in enumerate(turns)}
        for number, qa in enumerate(sample["qa"]):
            evidence = {where[e] for e in _evidence_ids(qa.get("evidence", [])) if e in where}
            if not evidence:
                continue
            conversation_id = str(sample.get("sample_id", f"sample-{index}"))
            yield Question(f"{conversation_id}/{number}", str(qa.get("category", "")),
                           qa["question"], sessions, evidence, {s for s, _ in evidence},
                           history=conversation_id)


def _evidence_ids(values: Any) -> list[str]:
    """LoCoMo's evidence ids, normalised: `D1:3; D1:5` is two ids, `D:11:26` is `D11:26`."""
    ids = []
    for value in values if isinstance(values, list) else []:
        for part in str(value).replace(",", ";").split(";"):
            if match := re.fullmatch(r"\s*D:?(\d+):(\d+)\s*", part):
                ids.append(f"D{match[1]}:{match[2]}")
    return ids


def _locomo_date(value: str | None) -> str:
    """LoCoMo's "1:56 pm on 8 May, 2023" as ISO 8601."""
    from datetime import datetime

    if not value:
        return "2000-01-01"
    for layout in ("%I:%M %p on %d %B, %Y", "%I:%M %p on %d %b, %Y"):
        try:
            return datetime.strptime(value.strip(), layout).isoformat()
        except ValueError:
            continue
    return "2000-01-01"


class DiskCachedEmbeddings(Embeddings):
    """Vectors from a file cache, keyed by a hash of the text; the model embeds the rest."""

    def __init__(self, inner: Embeddings, path: Path) -> None:
        """Load the cache at `path` (if any) in front of `inner`."""
        self.inner, self.path = inner, path
        self.vectors: dict[str, list[float]] = {}
        if path.exists():
            saved = np.load(path)
            self.vectors = dict(zip(saved["keys"].tolist(), saved["vectors"].tolist(), strict=True))
        self.hits = 0

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed what the cache lacks."""
        keys = [self._key(t) for t in texts]
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True)
                                     if k not in self.vectors))
        if missing:
            for text, vector in zip(missing, await self.inner.aembed_documents(missing), strict=True):
                self.vectors[self._key(text)] = vector
        self.hits += len(texts) - len(missing)
        return [self.vectors[k] for k in keys]

    async def aembed_query(self, text: str) -> list[float]:
        """Embed one text through the cache."""
        return (await self.aembed_documents([text]))[0]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Synchronous embedding is not used by the store's async paths."""
        raise NotImplementedError

    def embed_query(self, text: str) -> list[float]:
        """Synchronous embedding is not used by the store's async paths."""
        raise NotImplementedError

    def save(self) -> None:
        """Write the cache."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self.vectors)
        np.savez(self.path, keys=np.array(keys),
                 vectors=np.array([self.vectors[k] for k in keys], dtype=np.float32))


def scores(ranked: list[str], question: Question) -> dict[str, float]:
    """Turn recall@k, and session recall, of one ranking of (session, message) ids."""
    turns = [tuple(r.split("#", 1)) for r in ranked]
    result = {f"turn_recall@{k}": len(question.evidence & set(turns[:k])) / len(question.evidence)
              for k in KS}
    for k in (5, 10):
        found = {s for s, _ in turns[:k]}
        result[f"session_recall_any@{k}"] = float(bool(found & question.evidence_sessions))
    result["session_recall_all@10"] = float(question.evidence_sessions <= {s for s, _ in turns[:10]})
    return result


def turn_of(value: dict[str, Any]) -> str | None:
    """The imported turn a hit is, or was learned from, as `session#message`."""
    source = value.get("source") or {}
    thread = str(source.get("thread_id") or "")
    if not thread.startswith("import:") or source.get("message_id") is None:
        return None
    return f"{thread.removeprefix('import:')}#{source['message_id']}"


STORAGE = f"""
SELECT (SELECT count(*) FROM store WHERE value->>'kind' = 'episode') AS episodes,
    (SELECT count(*) FROM store) AS items,
    pg_table_size('store') AS store_heap, pg_indexes_size('store') AS store_indexes,
    pg_relation_size('store_words_idx') AS text_index, {VECTORS_HEAP} AS vectors_heap,
    {VECTORS_INDEXES} AS vector_indexes
"""


async def storage_per_item(memory_store: Any) -> dict[str, Any]:
    """Bytes per stored item (mostly episodes here): tables with TOAST, and their indexes."""
    async with memory_store.conn.connection() as conn:
        row = await (await conn.execute(STORAGE)).fetchone()
    items = max(int(row["items"]), 1)
    per_item = {name: round(int(row[name]) / items) for name in
                ("store_heap", "store_indexes", "text_index", "vectors_heap", "vector_indexes")}
    per_item["total"] = sum(per_item.values()) - per_item["text_index"]  # inside store_indexes
    return {"items": int(row["items"]), "episodes": int(row["episodes"]), "bytes_per_item": per_item}


def ranked_turns(ranked: list[tuple[Any, float]]) -> list[str]:
    """The imported turns of a ranking, best first, each once."""
    return list(dict.fromkeys(t for item, _ in ranked if (t := turn_of(item.value))))


LOCOMO_SCORED = ("1", "2", "3", "4")
"""LoCoMo's categories scored with evidence turns: multi-hop, temporal, open-domain, single-hop
(5, adversarial, is left out, as published figures do)."""


def evidence_categories(
    rows: dict[str, list[dict[str, float]]],
    variant_types: dict[str, dict[str, list[dict[str, float]]]],
) -> dict[str, Any]:
    """For LoCoMo: the shipped ranking and each variant over categories 1-4 together."""
    if not set(LOCOMO_SCORED) <= set(rows):
        return {}
    return {"overall_categories_1_4": {
        "shipped": mean([row for t in LOCOMO_SCORED for row in rows[t]]),
        **{name: mean([row for t in LOCOMO_SCORED for row in by_type.get(t, [])])
           for name, by_type in variant_types.items()}}}


def mean(rows: list[dict[str, float]]) -> dict[str, float]:
    """Average of each metric over the rows."""
    return {key: round(sum(r[key] for r in rows) / len(rows), 3) for key in rows[0]} if rows else {}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Import every history, ask every question, score."""
    from agent.context import Context
    from agent.memory.model import episodes
    from agent.memory.model.schema import Identity, memory_namespace
    from agent.memory.read.retrieval import search_memories
    from agent.memory.write.importer import import_sessions, parse_sessions
    from agent.memory.write.turns import extractor
    from agent.stores import store
    from store import search

    if args.gist_words:
        episodes.GIST_WORDS = args.gist_words
    if args.context_words is not None:
        episodes.CONTEXT_WORDS = args.context_words

    if args.lexical_weight is not None:
        search.LEXICAL_WEIGHT = args.lexical_weight
    data = _open(args.data)
    questions = list(longmemeval(data) if "haystack_sessions" in data[0] else locomo(data))
    if args.limit:
        questions = questions[: args.limit]
    context = Context()
    rows: dict[str, list[dict[str, float]]] = defaultdict(list)
    variants: dict[str, list[dict[str, float]]] = defaultdict(list)
    variant_types: dict[str, dict[str, list[dict[str, float]]]] = defaultdict(
        lambda: defaultdict(list))
    latencies: list[float] = []
    imported_messages = imported_tokens = 0
    import_seconds = fill_seconds = 0.0
    worker_stats: dict[str, float] = {}
    gists: list[str] = []
    async with fresh_database("recall", data_dir=default_data_dir(), keep=args.keep), \
            store() as memory_store:
        assert memory_store.embeddings is not None, "the store factory configures embeddings"
        embeddings: Embeddings = memory_store.embeddings
        cache = None
        if args.cache:
            cache = DiskCachedEmbeddings(embeddings,
                                         CACHE_DIR / f"recall-{args.data.name}.npz")
            memory_store.embeddings = cache
            if memory_store.vector_worker is not None:  # started by the factory: episodes too
                memory_store.vector_worker.embeddings = cache
        done: set[str] = set()
        for number, question in enumerate(questions, start=1):
            label = question.namespace_label
            identity = Identity(user_id=f"bench-{hashlib.sha1(label.encode()).hexdigest()[:12]}",
                                org_id="bench")
            if label not in done:  # LoCoMo questions of one conversation share its history
                sessions = parse_sessions({"sessions": question.sessions})
                began = time.perf_counter()
                report = await import_sessions(memory_store, identity, sessions, extractor(None))
                written = time.perf_counter()
                # Searched once every vector is filled (the store's worker embeds meanwhile).
                await memory_store.fill_vectors()
                import_seconds += time.perf_counter() - began
                fill_seconds += time.perf_counter() - written
                done.add(label)
                for session in sessions:
                    before = ""
                    for _role, text in session.messages:
                        imported_messages += 1
                        imported_tokens += len(text.split())
                        gists.append(episodes.gist(text, before))  # each message's vector
                        before = text
                log(f"{number}/{len(questions)} {question.type}: imported {report.as_dict()}")
            began = time.perf_counter()
            ranked = await search_memories(memory_store, [memory_namespace(identity)],
                                           question.text, limit=max(KS),
                                           min_relevance=context.min_relevance)
            latencies.append(time.perf_counter() - began)
            row = scores(ranked_turns(ranked), question)
            rows[question.type].append(row)
            rows["overall"].append(row)
            for name, settings in args.weights:  # the same store, other rankings
                shipped = {key: getattr(search, key) for key in settings}
                for key, value in settings.items():
                    setattr(search, key, value)
                try:
                    other = await search_memories(memory_store, [memory_namespace(identity)],
                                                  question.text, limit=max(KS),
                                                  min_relevance=-1.0)
                finally:
                    for key, value in shipped.items():
                        setattr(search, key, value)
                variants[name].append(scores(ranked_turns(other), question))
                variant_types[name][question.type].append(variants[name][-1])
        if cache is not None:
            cache.save()
        storage = await storage_per_item(memory_store)
        if memory_store.vector_worker is not None:
            stats = memory_store.vector_worker.stats
            worker_stats = {"model_s": stats.embed_seconds, "vector_writes_s": stats.write_seconds,
                            "batches": stats.batches}
        model_rate = None
        if cache is None:
            sample = random.Random(7).sample(gists, min(THROUGHPUT_SAMPLE, len(gists)))
            began = time.perf_counter()
            # The model itself, behind the store's cache of recent texts.
            model: Embeddings = getattr(embeddings, "inner", embeddings)
            await model.aembed_documents(sample)
            model_rate = len(sample) / (time.perf_counter() - began)
    result: dict[str, Any] = {
        "bench": "recall",
        "data": args.data.name,
        "questions": len(rows["overall"]),
        "settings": {"gist_words": episodes.GIST_WORDS, "context_words": episodes.CONTEXT_WORDS,
                     "fusion": search.FUSION, "lexical_weight": search.LEXICAL_WEIGHT,
                     "neighbour_share": search.NEIGHBOUR_SHARE,
                     "speaker_share": search.SPEAKER_SHARE,
                     "pool": search.POOL, "min_relevance": context.min_relevance},
        "overall": mean(rows["overall"]),
        "per_type": {t: {**mean(r), "questions": len(r)} for t, r in sorted(rows.items())
                     if t != "overall"},
        "variants": {name: mean(r) for name, r in variants.items()},
        "variants_per_type": {name: {t: mean(r) for t, r in sorted(by_type.items())}
                              for name, by_type in variant_types.items()},
        **percentiles_ms(latencies, "query"),
        **evidence_categories(rows, variant_types),
        "storage": storage,
        "machine": machine(),
    }
    if model_rate is not None and import_seconds:
        # The texts an import embeds are the turns' gists: its rate in those, against the
        # model's own rate on a sample of the same texts.
        embedded_rate = len(gists) / import_seconds
        result["import"] = {
            "messages": imported_messages, "embedded_texts": len(gists),
            "seconds": round(import_seconds, 1),
            "messages_per_s": round(imported_messages / import_seconds, 1),
            "words_per_s": round(imported_tokens / import_seconds, 1),
            "embedded_texts_per_s": round(embedded_rate, 1),
            "model_texts_per_s_same_texts": round(model_rate, 1),
            "import_to_model_ratio": round(embedded_rate / model_rate, 3),
            # Where the time went: the import's writes, with the worker embedding meanwhile,
            # then the wait for the vectors still pending when the writes were done.
            "writes_s": round(import_seconds - fill_seconds, 1),
            "wait_for_last_vectors_s": round(fill_seconds, 1),
            "background_worker": {k: round(v, 1) for k, v in worker_stats.items()},
        }
    return result


TERMS = {"neighbour": "NEIGHBOUR_SHARE", "speaker": "SPEAKER_SHARE"}
PLAIN = "minmax:0.5+neighbour0+speaker0"
"""The textbook hybrid: each signal min-max scaled, 50/50, nothing from the conversation."""


def weights(value: str) -> list[tuple[str, dict[str, Any]]]:
    """`0.4,minmax:0.5+speaker0.3,plain` as named settings of store/search.py.

    Each entry is a lexical weight (0: meaning only, 1: words only), optionally with its fusion
    (`FUSIONS`), then `+term<share>` for the conversation's terms (neighbour, speaker);
    `plain` is the textbook min-max 50/50 hybrid without them.
    """
    from store import search

    out = []
    for entry in filter(None, value.split(",")):
        base, *terms = (PLAIN if entry == "plain" else entry).split("+")
        fusion, _, weight = base.rpartition(":")
        if fusion and fusion not in search.FUSIONS:
            raise argparse.ArgumentTypeError(f"{fusion!r} is not one of {sorted(search.FUSIONS)}")
        settings: dict[str, Any] = {"FUSION": fusion or search.FUSION,
                                    "LEXICAL_WEIGHT": float(weight)}
        for term in terms:
            match = re.fullmatch(r"([a-z]+)([\d.]+)", term)
            if not match or match[1] not in TERMS:
                raise argparse.ArgumentTypeError(f"{term!r}: use {'|'.join(TERMS)} and a share")
            settings[TERMS[match[1]]] = float(match[2])
        out.append((entry, settings))
    return out


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True,
                        help="LongMemEval or LoCoMo JSON file (.json or .json.gz)")
    parser.add_argument("--limit", type=int, default=0, help="ask only the first N questions")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--cache", action="store_true", help="reuse cached vectors (see above)")
    parser.add_argument("--gist-words", type=int, default=0, help="words of a turn embedded")
    parser.add_argument("--context-words", type=int, default=None,
                        help="closing words of the message before embedded with each message")
    parser.add_argument("--lexical-weight", type=float, default=None)
    parser.add_argument("--weights", type=weights, default=weights("plain,0,1"),
                        help="also rank every question with these settings of the ranking "
                             "(see above; no relevance floor), in the same run")
    args = parser.parse_args()
    offline_env()
    emit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
