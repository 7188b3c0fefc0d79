"""Ranking variants over the same turns, in memory: a lab to choose what bench/recall.py measures.

Every turn of a dev set is embedded once (the offline MiniLM, cached in `.engram/bench-cache/`)
and split into words by Postgres's own `english` configuration (the embedded server), so the two
signals are those of the store. Each variant then ranks every question's turns in numpy, and
turn recall@5/10/20 is reported per variant (LoCoMo: categories 1-4, and per category).

This is not Engram's path (no import, no extracted facts, no SQL): a variant that wins here is
then built into the store and measured with bench/recall.py. Variants (names as printed):
- `dense`, `bm25`: one signal; `minmax:0.5`: the textbook 50/50 min-max fusion; `minmax2`: the
  same up to the second best candidate, capped at 1 but for 1/100 of the best's plain lead;
  `scaled:0.6`: the store's fusion (similarity over the best, BM25 over the full-match score;
  0.4 / 0.6); `max2`: each signal over its second best from zero; `mixed`, `minmax0`: min-max
  meaning with scaled words; each signal over its best.
- `+ctxmax`: a turn's similarity is the better of its own vector's and that of the first 96 words
  of the turn before followed by its own (`+ctxonly`: the latter alone; `+ctxtail`: the turn's own 96
  words after the last CONTEXT_WORDS words of the one before, what the store embeds now).
- `+nb<share>`: that share of the best fused score of the turns just before and after added
  (`prev`, `next`: one side only; `cand`: only neighbours that are candidates, as the store does).
- `+sess<share>`: that share of the best fused score in the turn's session added.
- `+spread<x>`: x taken off a turn for each better-ranked turn of its session (diversity).
- `+who<share>`: that share added to turns said by whom the question is about (a speaker it
  names, from the "Name: " in front of LoCoMo's turns; else the user for I/my, the assistant for
  you/your).

    .venv/bin/python bench/ranking_lab.py --data ../shared/data/locomo_dev3.json.gz
"""

from __future__ import annotations

import argparse
import hashlib
import math
import re
import sys
from collections import defaultdict
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import ROOT, default_data_dir, emit, log, offline_env  # noqa: E402
from recall import LOCOMO_SCORED, Question, _open, locomo, longmemeval  # noqa: E402

CACHE = ROOT / ".engram" / "bench-cache" / "ranking-lab.npz"
POOL = 50
K1, B = 1.2, 0.75


@dataclass
class History:
    """One namespace's turns: ids, texts, words, vectors."""

    ids: list[str]
    texts: list[str]
    sessions: list[str]
    roles: list[str] = field(default_factory=list)
    words: list[set[str]] = field(default_factory=list)
    vectors: np.ndarray = field(default_factory=lambda: np.zeros(0))
    context_vectors: np.ndarray = field(default_factory=lambda: np.zeros(0))
    tail_vectors: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Each turn embedded after the last CONTEXT_WORDS words of the turn before."""
    previous: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    """Index of the turn before in the same session (-1: none)."""
    following: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))


def gist(text: str, words: int = 96) -> str:
    return " ".join(text.split()[:words])


class Vectors:
    """MiniLM vectors of texts, cached on disk by a hash of the text."""

    def __init__(self) -> None:
        """Load this lab's cache and bench/recall.py's (the same keys)."""
        self.known: dict[str, np.ndarray] = {}
        if CACHE.exists():
            saved = np.load(CACHE)
            self.known = dict(zip(saved["keys"].tolist(), saved["vectors"], strict=True))
        for other in CACHE.parent.glob("recall-*.npz"):  # bench/recall.py's, same keys
            saved = np.load(other)
            self.known.update(zip(saved["keys"].tolist(), saved["vectors"], strict=True))
        self.model: Any = None
        self.added = 0

    @staticmethod
    def key(text: str) -> str:
        """A text's cache key."""
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """The texts' vectors, embedding those not cached."""
        missing = list(dict.fromkeys(t for t in texts if self.key(t) not in self.known))
        if missing:
            if self.model is None:
                from store.embeddings import MiniLMEmbeddings
                self.model = MiniLMEmbeddings()
            log(f"embedding {len(missing)} texts")
            for start in range(0, len(missing), 512):
                chunk = missing[start:start + 512]
                for text, vector in zip(chunk, self.model.embed_documents(chunk), strict=True):
                    self.known[self.key(text)] = np.asarray(vector, dtype=np.float32)
                self.added += len(chunk)
                if self.added % 4096 < 512:
                    self.save()
        return np.stack([self.known[self.key(t)] for t in texts])

    def save(self) -> None:
        """Write the cache."""
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self.known)
        np.savez(CACHE, keys=np.array(keys), vectors=np.stack([self.known[k] for k in keys]))


class Words:
    """Lexemes of texts by Postgres's `english` configuration (as the store's word index)."""

    def __init__(self) -> None:
        """Connect to the embedded Postgres (started if need be)."""
        import psycopg

        from store import embedded
        self.conn = psycopg.connect(embedded.ensure_running(default_data_dir()), autocommit=True)

    def __call__(self, texts: Sequence[str]) -> list[set[str]]:
        """Each text's lexemes."""
        rows = self.conn.execute(
            "SELECT tsvector_to_array(to_tsvector('english', t)) FROM unnest(%s::text[])"
            " WITH ORDINALITY AS u(t, n) ORDER BY n", (list(texts),)).fetchall()
        return [set(row[0]) for row in rows]


def histories(questions: list[Question], vectors: Vectors, words: Words) -> dict[str, History]:
    """Each question's history, embedded and split into words."""
    out: dict[str, History] = {}
    for q in questions:
        label = q.namespace_label
        if label in out:
            continue
        ids: list[str] = []
        texts: list[str] = []
        sessions: list[str] = []
        previous: list[int] = []
        following: list[int] = []
        for session in q.sessions:
            start = len(ids)
            for index, message in enumerate(session["messages"]):
                ids.append(f"{session['id']}#{index}")
                texts.append(message["content"])
                sessions.append(session["id"])
                previous.append(len(ids) - 2 if index else -1)
                following.append(len(ids))
            if len(ids) > start:
                following[-1] = -1
        history = History(ids, texts, sessions)
        history.roles = [m["role"] for session in q.sessions for m in session["messages"]]
        history.previous, history.following = np.array(previous), np.array(following)
        history.words = words(texts)
        history.vectors = vectors([gist(t) for t in texts])
        history.context_vectors = vectors([
            gist(texts[p] + "\n" + t) if p >= 0 else gist(t)
            for t, p in zip(texts, previous, strict=True)])
        history.tail_vectors = vectors([context_gist(texts[p] if p >= 0 else "", t)
                                        for t, p in zip(texts, previous, strict=True)])
        out[label] = history
    return out


CONTEXT_WORDS = 32


def context_gist(before: str, text: str) -> str:
    """A turn's own gist after the last CONTEXT_WORDS words of what came before it."""
    tail = " ".join(before.split()[-CONTEXT_WORDS:])
    return f"{tail}\n{gist(text)}" if tail else gist(text)


def bm25(history: History, query_words: set[str]) -> tuple[np.ndarray, float]:
    """The store's BM25 (binary tf, IDF over the namespace) and the full-match score."""
    n = len(history.ids)
    scores = np.zeros(n)
    full = 0.0
    matched = [i for i, w in enumerate(history.words) if w & query_words]
    lengths = np.array([len(w) for w in history.words], dtype=float)
    average = lengths[matched].mean() if matched else 1.0
    for word in query_words:
        holders = [i for i in matched if word in history.words[i]]
        idf = math.log(1 + (n - len(holders) + 0.5) / (len(holders) + 0.5))
        full += idf
        for i in holders:
            scores[i] += idf
    scores = scores * (K1 + 1) / (1 + K1 * (1 - B + B * lengths / average))
    return scores, full


def minmax(values: np.ndarray, among: np.ndarray) -> np.ndarray:
    """`values` min-max scaled over the candidates `among`."""
    low, high = values[among].min(), values[among].max()
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


@dataclass(frozen=True)
class Variant:
    """One way to rank (see the module's docstring for the names)."""

    fusion: str = "minmax"
    lexical: float = 0.5
    context: str = ""
    """"": own vector; "max": the better of own and with-the-turn-before; "only": the latter."""
    neighbour: float = 0.0
    direction: str = "both"
    """Which neighbours lend their score: "both", "prev", "next"."""
    among_candidates: bool = False
    """Only neighbours that are candidates themselves lend their score."""
    session: float = 0.0
    """Share of the best fused score in the turn's session added."""
    spread: float = 0.0
    """Taken off a turn's score for each better turn of its session already ranked."""
    speaker: float = 0.0
    """Added to turns said by whom the question is about: "I"/"my" the user, "you" the
    assistant, a name its speaker ("Name: " in front of the turn)."""

    @property
    def name(self) -> str:
        """The variant's name, as printed."""
        name = {"dense": "dense", "bm25": "bm25"}.get(self.fusion, f"{self.fusion}:{self.lexical}")
        parts = [name, f"+ctx{self.context}" if self.context else ""]
        if self.neighbour:
            side = "" if self.direction == "both" else self.direction
            parts.append(f"+nb{self.neighbour}{side}" + ("cand" if self.among_candidates else ""))
        parts += [f"+sess{self.session}" if self.session else "",
                  f"+spread{self.spread}" if self.spread else "",
                  f"+who{self.speaker}" if self.speaker else ""]
        return "".join(parts)


def rank(history: History, query_vector: np.ndarray, query_words: set[str], v: Variant,
         raw: frozenset[str] = frozenset()) -> list[str]:
    """The history's turn ids, best first, under variant `v`."""
    similarity = history.vectors @ query_vector
    if v.context == "max":
        similarity = np.maximum(similarity, history.context_vectors @ query_vector)
    elif v.context == "only":
        similarity = history.context_vectors @ query_vector
    elif v.context == "tail":
        similarity = history.tail_vectors @ query_vector
    lexical, full = bm25(history, query_words)
    if v.fusion == "dense":
        return [history.ids[i] for i in np.argsort(-similarity)]
    if v.fusion == "bm25":
        return [history.ids[i] for i in np.lexsort((-similarity, -lexical))]
    pool = set(np.argsort(-similarity)[:POOL].tolist())
    pool |= set(i for i in np.argsort(-lexical)[:POOL].tolist() if lexical[i] > 0)
    among = np.array(sorted(pool))
    if v.fusion == "minmax":
        fused = (1 - v.lexical) * minmax(similarity, among) + v.lexical * minmax(lexical, among)
    elif v.fusion == "minmax2":
        # Min-max up to the second best, capped but for a sliver of the best's lead: one
        # outlier (the question asked before) squeezes no other.
        def robust(values: np.ndarray) -> np.ndarray:
            low = values[among].min()
            top = values[among].max()
            second = np.sort(values[among])[-2] if len(among) > 1 else top
            if second <= low:  # only the best stands above the lowest: up to the best
                second = top
            if top <= low:
                return 0 * values
            scaled: np.ndarray = (np.minimum(values - low, second - low) / (second - low)
                                  + 0.01 * np.maximum(values - second, 0) / (top - low))
            return scaled
        fused = (1 - v.lexical) * robust(similarity) + v.lexical * robust(lexical)
    elif v.fusion == "max2":
        # Each signal over its second best candidate (floor at zero), capped at 1 but for a
        # sliver of the best's lead.
        def over_second(values: np.ndarray) -> np.ndarray:
            top = values[among].max()
            second = np.sort(values[among])[-2] if len(among) > 1 else top
            second = second if second > 0 else top
            if top <= 0:
                return 0 * values
            scaled: np.ndarray = (np.minimum(np.maximum(values, 0), second) / second
                                  + 0.01 * np.maximum(values - second, 0) / top)
            return scaled
        fused = (1 - v.lexical) * over_second(similarity) + v.lexical * over_second(lexical)
    elif v.fusion == "mixed":
        fused = ((1 - v.lexical) * minmax(similarity, among)
                 + v.lexical * np.minimum(lexical / full if full else 0 * lexical, 1))
    elif v.fusion == "minmax0":
        # Min-max with the floor at zero: each signal over its best candidate's.
        fused = ((1 - v.lexical) * np.maximum(similarity, 0) / max(similarity[among].max(), 1e-9)
                 + v.lexical * lexical / max(lexical[among].max(), 1e-9))
    else:
        best = similarity[among].max()
        fused = ((1 - v.lexical) * similarity / best
                 + v.lexical * np.minimum(lexical / full if full else 0 * lexical, 1))
    fused = np.maximum(fused, 0)
    score = np.full(len(history.ids), -np.inf)
    score[among] = fused[among]
    if v.neighbour:
        # Neighbours' fused scores, computed for every turn (a neighbour need not be a candidate).
        lending = fused
        if v.among_candidates:
            lending = np.zeros_like(fused)
            lending[among] = fused[among]
        prev = np.where(history.previous >= 0, lending[np.maximum(history.previous, 0)], 0)
        nxt = np.where(history.following >= 0, lending[np.maximum(history.following, 0)], 0)
        lent = {"both": np.maximum(prev, nxt), "prev": prev, "next": nxt}[v.direction]
        score = score + v.neighbour * lent
    if v.session:
        session_best: dict[str, float] = defaultdict(float)
        for i in among:
            session_best[history.sessions[i]] = max(session_best[history.sessions[i]], fused[i])
        bonus = np.array([session_best.get(s, 0.0) for s in history.sessions])
        score = score + v.session * bonus
    if v.speaker:
        score = score + v.speaker * about(history, raw)
    order = [int(i) for i in np.argsort(-score) if np.isfinite(score[i])]
    if v.spread:
        taken: dict[str, int] = defaultdict(int)
        spread = []
        for i in order[:60]:
            spread.append((score[i] - v.spread * taken[history.sessions[i]], i))
            taken[history.sessions[i]] += 1
        order = [i for _, i in sorted(spread, key=lambda p: -p[0])] + order[60:]
    return [history.ids[i] for i in order]


FIRST = {"i", "my", "me", "mine", "myself"}
SECOND = {"you", "your", "yours", "yourself"}


def about(history: History, query_words: AbstractSet[str]) -> np.ndarray:
    """1 for turns said by whom the question asks about, else 0."""
    raw = set(query_words)
    names = {t.split(":", 1)[0].lower() for t in history.texts[:50] if ":" in t[:30]}
    named = raw & names
    out = np.zeros(len(history.ids))
    if named:
        for i, t in enumerate(history.texts):
            if t.split(":", 1)[0].lower() in named:
                out[i] = 1
        return out
    first, second = bool(raw & FIRST), bool(raw & SECOND)
    if first != second:
        want = "user" if first else "assistant"
        out[[i for i, r in enumerate(history.roles) if r == want]] = 1
    return out


def recall(ranked: list[str], question: Question) -> dict[str, float]:
    turns = [tuple(r.split("#", 1)) for r in ranked]
    return {f"R@{k}": len(question.evidence & set(turns[:k])) / len(question.evidence)
            for k in (5, 10, 20)}


def average(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(sum(r[k] for r in rows) / len(rows), 3) for k in rows[0]} if rows else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    offline_env()
    data = _open(args.data)
    is_locomo = "haystack_sessions" not in data[0]
    questions = list(locomo(data) if is_locomo else longmemeval(data))
    vectors, words = Vectors(), Words()
    found = histories(questions, vectors, words)
    query_vectors = vectors([q.text for q in questions])
    query_words = words([q.text for q in questions])
    raw_words = [frozenset(re.findall(r"[a-z]+", q.text.lower())) for q in questions]
    vectors.save()
    shipped: dict[str, Any] = {"context": "tail", "neighbour": 0.2, "speaker": 0.3}
    variants = [
        Variant("dense"), Variant("bm25"), Variant("minmax", 0.5), Variant("scaled", 0.6),
        # what is embedded
        Variant(context="max"), Variant(context="only"), Variant(context="tail"),
        # neighbours, the thread, diversity
        Variant(neighbour=0.2), Variant(neighbour=0.2, direction="prev"),
        Variant(neighbour=0.2, direction="next"), Variant(neighbour=0.2, among_candidates=True),
        Variant(session=0.2), Variant(spread=0.05),
        # whom the question is about
        Variant(speaker=0.2), Variant(speaker=0.3),
        # together
        Variant(context="tail", speaker=0.3), Variant(context="max", neighbour=0.2),
        Variant(context="tail", neighbour=0.2, speaker=0.2),
        Variant(context="tail", neighbour=0.2, among_candidates=True, speaker=0.3),
        Variant(**shipped), Variant("minmax2", 0.5, **shipped), Variant("max2", 0.5, **shipped),
        Variant(session=0.2, **shipped), Variant("scaled", 0.6, **shipped),
        Variant("minmax", 0.4, **shipped), Variant("minmax", 0.6, **shipped)]
    table: dict[str, dict[str, list[dict[str, float]]]] = defaultdict(lambda: defaultdict(list))
    for q, qv, qw, raw in zip(questions, query_vectors, query_words, raw_words, strict=True):
        history = found[q.namespace_label]
        for v in variants:
            row = recall(rank(history, qv, qw, v, raw), q)
            table[v.name][q.type].append(row)
    scored = LOCOMO_SCORED if is_locomo else None
    result: dict[str, Any] = {"bench": "ranking_lab", "data": args.data.name}
    for name, by_type in table.items():
        rows = [r for t, rs in by_type.items() if scored is None or t in scored for r in rs]
        result[name] = {"all": average(rows), **{t: average(rs)["R@10"]
                                                  for t, rs in sorted(by_type.items())
                                                  if scored is None or t in scored}}
    emit(result)


if __name__ == "__main__":
    main()
