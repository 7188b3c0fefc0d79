"""Episodes: every turn of a conversation, kept as the record that facts are learned from.

An episode is one message (the user's, or what the assistant's answer added: see
agent/memory/text/restatement.py), scrubbed, dated and keyed by its thread and its place there, in
the owner's memory namespace beside the facts, so one search finds both. Its whole text feeds
the word index. What is embedded, its `gist`, is the opening of the message itself (GIST_WORDS
words) after the close of the message said just before it (CONTEXT_WORDS words), for the
user's messages and the answers alike: a reply ("It was Matt Patterson!") is found by what it
answers ("who did you see?"), while its own words lead (BENCHMARKS.md, sections A, H and P,
has the measurements). An episode also keeps its `position` in its thread, so the search can
lend a turn part of its neighbours' relevance, and, when the history named them, who said it
(`speaker`), so a question about someone finds what they said (store/search.py).

Episodes are stored without waiting for the model: the word index finds them at once, and the
store's vector worker (store/pending_vectors.py) embeds their gists moments later, in batches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from langgraph.store.base import Item, PutOp
from pydantic import BaseModel, Field

from agent.memory.model.kinds import EPISODE
from agent.memory.model.schema import Source, memory_key
from agent.memory.text.scrub import Scrubbed, scrub

Role = Literal["user", "assistant"]
GIST_WORDS = 96
"""How many words of a message are embedded (the whole text is word-indexed)."""
CONTEXT_WORDS = 32
"""How many closing words of the message before are embedded in front of a message's own."""
EPISODE_INDEX: Literal[False] = False
"""Episodes are not embedded as they are put: a trigger queues their `gist` for the store's
vector worker (facts embed `text` as they are put)."""
EPISODE_IMPORTANCE = 0.5


@dataclass(frozen=True)
class Utterance:
    """One message of a turn, as said."""

    role: Role
    text: str
    message_id: str
    episode_id: str | None = None
    """What keys its episode within the thread (default: the message id). A live turn's is
    derived from its place in the thread and its words, so a retried run whose messages came
    back with new ids lands on the same episodes."""
    scrubbed: Mapping[str, int] | None = None
    """How many values of each category were masked in `text`; None until it is scrubbed."""
    position: int | None = None
    """Its place in its thread (neighbours differ by one); None when unknown."""
    speaker: str | None = None
    """Who said it, when the history names its speakers (an import's `name`)."""

    @property
    def key_id(self) -> str:
        """The id its episode is keyed by."""
        return self.episode_id or self.message_id

    def cleaned(self, result: Scrubbed | None = None) -> Utterance:
        """This message scrubbed (by `result`, the scrubbing of its text, when given)."""
        if self.scrubbed is not None:
            return self
        result = result or scrub(self.text)
        return replace(self, text=result.text, scrubbed=result.counts)


class EpisodeValue(BaseModel):
    """An episode as stored (`text` is word-indexed, `gist` embedded)."""

    text: str
    gist: str
    kind: Literal["episode"] = "episode"
    role: Role
    said_at: str
    """When it was said (ISO 8601, UTC)."""
    position: int | None = None
    """Its place in its thread: the message before it has position - 1."""
    speaker: str | None = None
    """Who said it, when the history names its speakers."""
    importance: float = EPISODE_IMPORTANCE
    source: Source
    scrubbed: dict[str, int] = Field(default_factory=dict)


def episode_key(namespace: tuple[str, ...], thread_id: str | None, message_id: str) -> str:
    """One key per message of a thread, so a replay, fork or retry rewrites nothing new."""
    return memory_key(namespace, EPISODE, f"{thread_id or '-'}/{message_id}")


def turn_episode_ids(ordinal: int, user_text: str, answers: int) -> tuple[str, list[str]]:
    """Episode ids of a live turn: its place in the thread and the user's words, then each answer."""
    digest = hashlib.sha256(" ".join(user_text.split()).encode()).hexdigest()[:16]
    user = f"turn-{ordinal}-{digest}"
    return user, [f"{user}-answer-{index}" for index in range(answers)]


def gist(text: str, before: str = "") -> str:
    """What is embedded for a message: its first GIST_WORDS words, after the close of `before`.

    `before` is the message said just before it (scrubbed); its last CONTEXT_WORDS words lead.
    """
    own = " ".join(text.split()[:GIST_WORDS])
    context = " ".join(before.split()[-CONTEXT_WORDS:]) if CONTEXT_WORDS else ""
    return f"{context}\n{own}" if context else own


def closing(text: str) -> str:
    """The part of a message that the next message's gist may use: scrubbed before it is used.

    Its last words, with a margin, so that a value cut at the start (a card number split by the
    cut) is never among the CONTEXT_WORDS kept.
    """
    return " ".join(text.split()[-4 * CONTEXT_WORDS:])


def episode_puts(
    namespace: tuple[str, ...], utterances: Sequence[Utterance], said_at: datetime,
    source: Source, before: str = "",
) -> list[PutOp]:
    """The store writes that keep a turn's messages as episodes (scrubbed; empty ones skipped).

    `utterances` is one turn: the user's message, then the answers to it; `before` is what was
    said just before the turn (scrubbed), embedded in front of its first message. The write path
    hands them over scrubbed (off the event loop when large); any that are not are scrubbed here.
    """
    cleaned = [utterance.cleaned() for utterance in utterances]
    puts = []
    for utterance in cleaned:
        if not utterance.text.strip():
            continue
        value = EpisodeValue(
            text=utterance.text, gist=gist(utterance.text, before), role=utterance.role,
            said_at=said_at.isoformat(), position=utterance.position, speaker=utterance.speaker,
            source=source.model_copy(update={"message_id": utterance.message_id}),
            scrubbed=dict(utterance.scrubbed or {}),
        )
        puts.append(PutOp(namespace, episode_key(namespace, source.thread_id, utterance.key_id),
                          value.model_dump(mode="json", exclude_none=True), index=EPISODE_INDEX))
        before = utterance.text
    return puts


def is_episode(memory: dict[str, Any]) -> bool:
    """Whether a retrieved memory (or a stored value) is an episode."""
    return memory.get("kind") == EPISODE


def is_current(item: Item) -> bool:
    """Whether a stored memory is in force: `invalid_at` marks what a later statement replaced.

    One field for every kind: a superseded fact (a history item) and an episode that stated a
    superseded value both carry it (the episode also `superseded_at`, its older name).
    """
    return not item.value.get("invalid_at")


def is_findable(item: Item) -> bool:
    """Whether searches return it: what is in force, and every episode, never a superseded fact.

    A superseded episode stays findable as dated history, ranked lower (store/search.py).
    """
    return is_current(item) or is_episode(item.value)
