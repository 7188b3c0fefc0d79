"""What a turn adds, and what it only repeats: restated memories and questions asked before.

An answer that restates the memories it was shown adds nothing to memory: kept as an episode, it
would be found again as a "memory" of its own, and quoted back, nested, in the next answer. So
an answer is kept for what it adds. Each of its sentences is compared with what the answer was
*given* (the memories and quotes in its prompt), not with any wording of our own responder:
- by words: most of the sentence's content words are in one shown memory (a quote, a copy);
- by meaning: a real model paraphrases, so a sentence whose vector is close to a shown memory's
  restates it too (only sentences the words did not settle, and that share a word with a shown
  memory, are embedded).
What is left (a recipe it suggested, a plan, a number it worked out) is the answer's episode.

A question asked before (its content words those of an earlier question), or any message sent
again word for word, is not evidence of its own answer: it is not stored again, and the earlier
one is not shown as a memory when it is asked again. A question that carries information ("a
vegetarian recipe? I'm cooking for 6") is not a repeat of a shorter one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain_core.embeddings import Embeddings

Embed = Callable[[list[str]], Awaitable[list[list[float]]]]
"""Vectors for texts (the store's embedding model)."""

RESTATES_WORDS = 0.6
"""Share of a sentence's content words found in one shown memory that makes it a restatement."""
RESTATES_MEANING = 0.62
"""Cosine similarity to a shown memory that makes a sentence a paraphrase of it (MiniLM scale:
paraphrases of a memory measured 0.62-0.79 here, new advice on its topic 0.27-0.49)."""
MIN_CONTENT_WORDS = 2
"""A left-over fragment with fewer content words ("From what I remember:") adds nothing."""
SAME_QUESTION = 0.8
"""Share of content words two questions must share, both ways, to be the same question."""

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"'A-Z0-9(\[-])|\n+")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_QUESTION_START = re.compile(
    r"^(what|who|whom|whose|where|when|why|how|which|do|does|did|is|are|was|were|am|can|could|"
    r"would|should|will|shall|may|might|have|has|had)\b", re.IGNORECASE)
STOPWORDS = frozenset("""
a an the and or but if then so of to in on at by for with from about as into over after before
is are was were be been being am do does did have has had i me my mine we our you your yours he
she it its they them their this that these those there here what which who whom whose when where
why how can could would should will shall may might must not no yes just also very really too
again please tell know remember remind said say says told ask asked any some all me us than
""".split())


def stem(word: str) -> str:
    """A light English stem, so "lives" meets "live" and "adopted" meets "adopt"."""
    word = word.removesuffix("'s")
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    for suffix in ("ing", "ed"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def content_words(text: str) -> list[str]:
    """The words that carry meaning: lower-cased and stemmed, without stop words."""
    words = _WORD.findall(text.lower().replace("\u2019", "'"))
    return [stem(w) for w in words if w.removesuffix("'s") not in STOPWORDS]


def sentences(text: str) -> list[str]:
    """The sentences of a text (and its lines), stripped, empty ones dropped."""
    return [part.strip() for part in _SENTENCE.split(text) if part.strip()]


def embedder_of(store: Any) -> Embed | None:
    """The store's embedding model, if it has one (the LangGraph store's `embeddings`)."""
    model = getattr(store, "embeddings", None)
    return model.aembed_documents if isinstance(model, Embeddings) else None


def _contained(words: Sequence[str], within: set[str]) -> float:
    return sum(w in within for w in words) / len(words) if words else 1.0


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """The cosine similarity of two vectors (0 when either is all zeros)."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


async def novel_part(
    answer: str, shown: Sequence[str], embed: Embed | None = None, summary: Sequence[str] = (),
) -> str:
    """The sentences of `answer` that restate none of the `shown` memories, joined.

    `summary` (the running summary's lines) counts as shown, by words only: its lines are long
    and the thread's own, not worth a vector each. With nothing shown, the whole answer is new.
    Empty when the answer only restated.
    """
    if not shown and not summary:
        return answer.strip()
    memory_words = [set(content_words(text)) for text in shown]
    shown_words = [*memory_words, *(set(content_words(line)) for line in summary)]
    open_: list[tuple[int, str]] = []
    kept: dict[int, str] = {}
    for index, sentence in enumerate(sentences(answer)):
        words = content_words(sentence)
        if len(words) < MIN_CONTENT_WORDS:
            continue
        if any(_contained(words, within) >= RESTATES_WORDS for within in shown_words):
            continue
        kept[index] = sentence
        # Only a sentence that shares a word with a memory is weighed by meaning: a paraphrase
        # keeps at least the name of what it restates, and new advice need not be embedded.
        if any(within.intersection(words) for within in memory_words):
            open_.append((index, sentence))
    if open_ and embed is not None:
        vectors = await embed([s for _, s in open_] + list(shown))
        ours, theirs = vectors[: len(open_)], vectors[len(open_):]
        for (index, _), vector in zip(open_, ours, strict=True):
            if any(cosine(vector, other) >= RESTATES_MEANING for other in theirs):
                kept.pop(index)
    return " ".join(kept[index] for index in sorted(kept))


def is_question(text: str) -> bool:
    """Whether a message is only a question (every sentence asks; none states anything)."""
    parts = sentences(text)
    return bool(parts) and all(p.endswith("?") or _QUESTION_START.match(p) for p in parts)


def same_question(asked: str, earlier: str) -> bool:
    """Whether `earlier` is the question `asked`, asked before (and carries nothing more).

    A message sent again word for word is a repeat whatever it states: its information is in
    the earlier one.
    """
    if " ".join(asked.lower().split()) == " ".join(earlier.lower().split()):
        return True
    if not is_question(asked) or not is_question(earlier):
        return False
    now, then = content_words(asked), content_words(earlier)
    if not now or not then:
        return " ".join(asked.lower().split()) == " ".join(earlier.lower().split())
    return (_contained(now, set(then)) >= SAME_QUESTION
            and _contained(then, set(now)) >= SAME_QUESTION)
