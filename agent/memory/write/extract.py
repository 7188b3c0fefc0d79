"""Offline memory extraction: explicit statements about the user, found by rules.

Each rule turns one sentence into a MemoryCandidate whose `subject` decides its key, so stating a
fact again (or differently) lands on the same memory instead of beside it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from agent.memory.model.kinds import MemoryKind
from agent.memory.model.schema import MemoryCandidate, normalise

_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")
_QUESTION = re.compile(
    r"^(what|who|where|when|why|how|which|do|does|did|is|are|can|could|would|should|will)\b",
    re.IGNORECASE,
)
_CLAUSE_END = r"(?=\s*(?:[.!?;]|,?\s+(?:and|but|because|since)\s+|$))"
# Rules run on one sentence at a time, so a value may run to its end (and keep the dots of
# an address or a version number).
_REST = r"(?P<v>.{%d,%d}?)(?=[.!?;]*$|,?\s+(?:and|but|because)\s+(?:i|my)\b)"


@dataclass(frozen=True)
class Rule:
    """A statement pattern and how it becomes a memory."""

    pattern: re.Pattern[str]
    kind: MemoryKind
    subject: Callable[[re.Match[str]], str]
    text: Callable[[re.Match[str]], str]
    importance: float = 0.6


def _rule(
    pattern: str,
    kind: MemoryKind,
    subject: Callable[[re.Match[str]], str],
    text: Callable[[re.Match[str]], str],
    importance: float = 0.6,
) -> Rule:
    return Rule(re.compile(pattern, re.IGNORECASE), kind, subject, text, importance)


_TRAILING_TIME = re.compile(r"(?:\s+(?:now|these days|nowadays|any ?more))+$", re.IGNORECASE)


def _v(match: re.Match[str], group: str = "v") -> str:
    return _TRAILING_TIME.sub("", match.group(group).strip(" ,.!?;:\"'")).strip(" ,")


def _choice(match: re.Match[str]) -> str:
    """`X over Y` and `Y over X` are one question: which of the two the user prefers."""
    value = _v(match)
    parts = re.split(r"\s+(?:over|to|rather than|instead of)\s+", value, maxsplit=1)
    if len(parts) == 2:
        return "choice between " + " and ".join(sorted(normalise(p) for p in parts))
    return f"opinion of {normalise(value)}"


RULES: tuple[Rule, ...] = (
    _rule(r"\b(?:my name is|call me|i go by)\s+(?P<v>[\w' -]{1,60}?)" + _CLAUSE_END,
          "fact", lambda m: "name", lambda m: f"The user's name is {_v(m)}.", 0.9),
    _rule(r"\bi(?: now)?(?: (?:live|am living|am based|reside)|'m (?:now )?(?:based|living)) in\s+"
          r"(?P<v>[^.!?;,]{1,80})",
          "fact", lambda m: "home location", lambda m: f"The user lives in {_v(m)}.", 0.8),
    _rule(r"\bi(?: have|'ve| just| recently)* moved to\s+(?P<v>[^.!?;,]{1,80}?)"
          r"(?:\s+(?:last|this|in|a)\b.*)?[.!?;]*$",
          "fact", lambda m: "home location", lambda m: f"The user lives in {_v(m)}.", 0.8),
    _rule(r"\bi work (?:at|for)\s+(?P<v>[^.!?;,]{1,80})",
          "fact", lambda m: "employer", lambda m: f"The user works at {_v(m)}.", 0.7),
    _rule(r"\bi(?: work as|'m| am) an? (?P<v>[\w -]{2,60}?) by (?:profession|trade)\b",
          "fact", lambda m: "occupation", lambda m: f"The user works as a {_v(m)}.", 0.7),
    _rule(r"\bi(?:'m| am) allergic to\s+(?P<v>[^.!?;,]{1,80})",
          "fact", lambda m: f"allergy {_v(m)}", lambda m: f"The user is allergic to {_v(m)}.", 0.9),
    _rule(r"\bi (?:really |strongly |now |actually )?prefer\s+" + _REST % (1, 160),
          "preference", _choice, lambda m: f"The user prefers {_v(m)}.", 0.7),
    _rule(r"\bi (?:really |now |actually )?(?P<verb>like|love|enjoy)\s+" + _REST % (1, 160),
          "preference", lambda m: f"opinion of {normalise(_v(m))}",
          lambda m: f"The user {m.group('verb').lower()}s {_v(m)}."),
    _rule(r"\bi (?:really |now |actually )?(?:hate|dislike|can't stand|do not like|don't like)\s+"
          + _REST % (1, 160),
          "preference", lambda m: f"opinion of {normalise(_v(m))}",
          lambda m: f"The user dislikes {_v(m)}."),
    _rule(r"\bmy (?P<attr>(?:favou?rite|preferred) [\w ]{1,40}?) is\s+(?P<v>[^.!?;,]{1,80})",
          "preference", lambda m: normalise(m.group("attr")),
          lambda m: f"The user's {normalise(m.group('attr'))} is {_v(m)}.", 0.7),
    _rule(r"\b(?:please )?(?P<v>(?:always|never) "
          r"(?:answer|reply|respond|write|use|call|address)\b[^.!?;]{1,160})",
          "procedural", lambda m: normalise(_v(m)), lambda m: f"Instruction from the user: {_v(m)}.",
          0.8),
    _rule(r"\b(?:that was|that's|this is|you were|you're) (?P<v>(?:wrong|incorrect|not right|"
          r"too long|too short|too verbose|unhelpful|great|helpful)\b[^.!?;]{0,160})",
          "feedback", lambda m: f"feedback {normalise(_v(m))}",
          lambda m: f"Feedback from the user: the answer was {_v(m)}.", 0.8),
    _rule(r"\bremember (?:that )?" + _REST % (3, 300),
          "fact", lambda m: normalise(_v(m)), lambda m: f"{_v(m)[:1].upper()}{_v(m)[1:]}.", 0.8),
)

# "Forget that I live in Berlin", "I no longer live in Berlin", "I don't work at Initech anymore".
_FORGET = (
    re.compile(r"\b(?:please )?forget (?:that |about )?(?P<v>.{3,300}?)[.!?;]*$", re.IGNORECASE),
    re.compile(r"\bi no longer (?P<v>.{3,200}?)[.!?;]*$", re.IGNORECASE),
    re.compile(r"\bi (?:don't|do not) (?P<v>.{3,200}?) any ?more[.!?;]*$", re.IGNORECASE),
)


def sentences(text: str) -> list[str]:
    """Split a message into sentences, dropping questions (they state nothing)."""
    parts = (p.strip() for p in _SENTENCE.split(text))
    return [p for p in parts if p and not p.endswith("?") and not _QUESTION.match(p)]


def _forgotten(sentence: str) -> list[MemoryCandidate]:
    """What a "forget ..." sentence asks to forget: the statement it names, marked `forget`."""
    for pattern in _FORGET:
        if match := pattern.search(sentence):
            statement = _v(match)
            if pattern is not _FORGET[0]:
                statement = f"I {statement}"  # "no longer live in X" names "I live in X"
            subject = re.sub(r"^(?:my|the) ", "", normalise(statement))
            named = _statements(statement) or [MemoryCandidate(
                kind="fact", subject=subject, text=f"{statement[:1].upper()}{statement[1:]}.")]
            return [c.model_copy(update={"forget": True}) for c in named]
    return []


def _statements(sentence: str) -> list[MemoryCandidate]:
    found = []
    for rule in RULES:
        for match in rule.pattern.finditer(sentence):
            if _v(match):
                found.append(MemoryCandidate(
                    kind=rule.kind, subject=rule.subject(match)[:200], text=rule.text(match)[:2000],
                    importance=rule.importance, confidence=0.9,
                ))
    return found


def extract_candidates(text: str) -> list[MemoryCandidate]:
    """Every explicit statement (or request to forget one) in `text`; the last one per subject."""
    found: dict[tuple[str, str], MemoryCandidate] = {}
    for sentence in sentences(text):
        candidates = _forgotten(sentence) or _statements(sentence)
        for candidate in candidates:
            found[(candidate.kind, normalise(candidate.subject))] = candidate
    return list(found.values())
