"""Episodes: every turn of a conversation, kept as the record that facts are learned from.

An episode is one message (the user's, or the assistant's answer), scrubbed, dated and keyed by
its thread and message, in the owner's memory namespace beside the facts, so one search finds
both. Its whole text feeds the word index; only its `gist` (the date, the speaker and the first
words) is embedded: a 300-token answer costs an order of magnitude more to embed than a 50-token
question, and the opening of a turn carries most of its topic (BENCHMARKS.md has the measurements
behind the word counts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from langgraph.store.base import PutOp
from pydantic import BaseModel, Field

from agent.memory.schema import Source, memory_key
from agent.memory.scrub import scrub

EPISODE = "episode"
Role = Literal["user", "assistant"]
GIST_WORDS: dict[str, int] = {"user": 96, "assistant": 48}
"""How many words of a turn are embedded, by speaker (the whole text is word-indexed)."""
EPISODE_INDEX = ["gist"]
"""The value field whose text is embedded for an episode (facts embed `text`)."""
EPISODE_IMPORTANCE = 0.5


@dataclass(frozen=True)
class Utterance:
    """One message of a turn, as said."""

    role: Role
    text: str
    message_id: str


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


def gist(role: str, text: str, said_at: datetime) -> str:
    """What is embedded: `[date] role: ` and the turn's first words."""
    words = text.split()
    head = " ".join(words[: GIST_WORDS.get(role, GIST_WORDS["user"])])
    return f"[{said_at:%Y-%m-%d}] {role}: {head}"


def episode_puts(
    namespace: tuple[str, ...], utterances: Sequence[Utterance], said_at: datetime,
    source: Source,
) -> list[PutOp]:
    """The store writes that keep these messages as episodes (scrubbed; empty ones skipped)."""
    puts = []
    for utterance in utterances:
        cleaned = scrub(utterance.text)
        if not cleaned.text.strip():
            continue
        value = EpisodeValue(
            text=cleaned.text, gist=gist(utterance.role, cleaned.text, said_at),
            role=utterance.role, said_at=said_at.isoformat(),
            source=source.model_copy(update={"message_id": utterance.message_id}),
            scrubbed=dict(cleaned.counts),
        )
        puts.append(PutOp(namespace, episode_key(namespace, source.thread_id, utterance.message_id),
                          value.model_dump(mode="json", exclude_none=True), index=EPISODE_INDEX))
    return puts


def is_episode(memory: dict[str, Any]) -> bool:
    """Whether a retrieved memory (or a stored value) is an episode."""
    return memory.get("kind") == EPISODE
