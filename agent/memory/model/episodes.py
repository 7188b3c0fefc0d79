"""Episodes: every turn of a conversation, kept as the record that facts are learned from.

An episode is one message (the user's, or what the assistant's answer added: see
agent/memory/text/restatement.py), scrubbed, dated and keyed by its thread and its place there, in
the owner's memory namespace beside the facts, so one search finds both. Its whole text feeds
the word index. What is embedded, its `gist`, is the opening of the message itself (GIST_WORDS
words), for the user's messages and the answers alike: in a conversation between two people
both sides state facts, and an answer embedded with the question before it is found only by
what was asked (BENCHMARKS.md, sections A and H, has the measurements).

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


def gist(text: str) -> str:
    """What is embedded for a turn: the first GIST_WORDS words of the user's message."""
    return " ".join(text.split()[:GIST_WORDS])


def episode_puts(
    namespace: tuple[str, ...], utterances: Sequence[Utterance], said_at: datetime,
    source: Source,
) -> list[PutOp]:
    """The store writes that keep a turn's messages as episodes (scrubbed; empty ones skipped).

    `utterances` is one turn: the user's message, then the answers to it. The write path hands
    them over scrubbed (off the event loop when large); any that are not are scrubbed here.
    """
    cleaned = [utterance.cleaned() for utterance in utterances]
    puts = []
    for utterance in cleaned:
        if not utterance.text.strip():
            continue
        value = EpisodeValue(
            text=utterance.text, gist=gist(utterance.text), role=utterance.role,
            said_at=said_at.isoformat(),
            source=source.model_copy(update={"message_id": utterance.message_id}),
            scrubbed=dict(utterance.scrubbed or {}),
        )
        puts.append(PutOp(namespace, episode_key(namespace, source.thread_id, utterance.key_id),
                          value.model_dump(mode="json", exclude_none=True), index=EPISODE_INDEX))
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
