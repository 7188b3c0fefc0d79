"""Mask secrets and personal identifiers before anything reaches the store.

Each category is a pattern (plus a check where a pattern alone is unreliable, such as Luhn for
card numbers). The result says how many values of each category were masked, never the values.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from agent.memory.text.offload import sized

_DATE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$")


def _phone(value: str) -> bool:
    digits = sum(c.isdigit() for c in value)
    return 7 <= digits <= 15 and not _DATE.match(value.strip())


def _unmasked(value: str) -> bool:
    return not value.startswith("[")


@dataclass(frozen=True)
class Category:
    """A kind of sensitive value and how to recognise it."""

    name: str
    pattern: re.Pattern[str]
    check: Callable[[str], bool] = field(default=lambda _: True)
    find: Callable[[str], list[tuple[int, int]]] | None = None
    """Finds the values itself where a pattern cannot (card numbers: a Luhn check per window)."""


CATEGORIES: tuple[Category, ...] = (
    Category("private_key", re.compile(
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL)),
    # A token starts where its run of token characters starts (or after a short "word-"
    # prefix): a start anywhere inside a run would rescan the run from every "eyJ" in it.
    Category("jwt", re.compile(
        r"(?<![\w-])(?:\w{1,20}-)?(?P<v>eyJ[\w-]{5,}\.eyJ[\w-]{5,}\.[\w-]{5,})")),
    Category("api_key", re.compile(
        r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}"
        r"|AKIA[0-9A-Z]{16}|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{30,}"
        r"|sk_(?:live|test)_[0-9a-zA-Z]{16,}|glpat-[\w-]{20,})")),
    Category("url_password", re.compile(r"(?<=://)[^\s:/@]+:[^\s@/]+(?=@)")),
    Category("password", re.compile(
        r"(?i)(?<!\w)(?:password|passwd|pwd|passphrase|pin|secret|token|api[ _-]?key|access[ _-]?key)\b"
        r"(?:\s*[:=]\s*|\s+is\s+)(?P<v>\S{4,})"), _unmasked),
    Category("session_id", re.compile(
        r"(?i)(?<!\w)(?:session[ _-]?id|sessionid|sid|session cookie|cookie)\b"
        r"(?:\s*[:=]\s*|\s+is\s+)(?P<v>[\w.%+/=-]{8,})"), _unmasked),
    Category("us_ssn", re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")),
    # The local part is read once from where its run of characters begins (leading dots and
    # signs are not part of it); starting at every word boundary would rescan the run each time.
    Category("email", re.compile(
        r"(?<![\w.+-])[.+-]*(?P<v>\w[\w.+-]*@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b)")),
    Category("iban", re.compile(r"(?i)\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")),
    Category("card_number", re.compile(r"[0-9]"), find=lambda text: _card_spans(text)),
    Category("phone", re.compile(r"(?<![\w+])\+?\(?\d{1,4}\)?(?:[ .-]?\(?\d{2,4}\)?){2,5}(?!\w)"), _phone),
)


@dataclass(frozen=True)
class ScrubPolicy:
    """Which categories are masked, and values never masked (e.g. a support address)."""

    categories: frozenset[str] = frozenset(c.name for c in CATEGORIES)
    allow: frozenset[str] = frozenset()


def policy_from(env: Mapping[str, str]) -> ScrubPolicy:
    """`ENGRAM_SCRUB_CATEGORIES` (comma-separated; default all) and `ENGRAM_SCRUB_ALLOW`."""
    known = {c.name for c in CATEGORIES}
    chosen = {c.strip() for c in env.get("ENGRAM_SCRUB_CATEGORIES", "").split(",") if c.strip()}
    if unknown := sorted(chosen - known):
        raise ValueError(f"ENGRAM_SCRUB_CATEGORIES has unknown categories {unknown}; "
                         f"known: {sorted(known)}")
    allow = {v.strip() for v in env.get("ENGRAM_SCRUB_ALLOW", "").split(",") if v.strip()}
    return ScrubPolicy(frozenset(chosen or known), frozenset(allow))


@cache
def default_policy() -> ScrubPolicy:
    """The server's scrubbing policy, from its environment (read once)."""
    return policy_from(os.environ)


@dataclass(frozen=True)
class Scrubbed:
    """Text with sensitive values masked, and how many of each category were masked."""

    text: str
    counts: dict[str, int]


def _spans(category: Category, text: str) -> list[tuple[int, int]]:
    """Where `category` finds values in `text` (a `v` group narrows a match to its value)."""
    if category.find is not None:
        return category.find(text)
    spans = []
    for match in category.pattern.finditer(text):
        group = "v" if "v" in match.re.groupindex else 0
        if category.check(match.group(group)):
            spans.append(match.span(group))
    return spans


_DOUBLED = np.array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9], dtype=np.int32)
"""A digit's Luhn value when it is doubled."""
_CARD_LENGTHS = range(19, 12, -1)
_ZERO, _NINE, _SPACE, _HYPHEN = ord("0"), ord("9"), ord(" "), ord("-")


def _card_spans(text: str) -> list[tuple[int, int]]:
    """Luhn-valid 13-19 digit numbers, also inside longer runs ("2024 4111 1111 1111 1111").

    Digits separated by single spaces or hyphens form a run; a card starts and ends at a digit
    group's edge, and the longest valid one from each start wins. Every window of every run is
    checked at once (arrays over the whole text, Luhn sums from two running totals), so the
    cost is linear in the text however its digits are grouped.
    """
    if sum(text.count(d) for d in "0123456789") < 13:
        return []
    # One byte a character (anything but ASCII becomes "?"), so places are the text's indices.
    codes = np.frombuffer(text.encode("ascii", "replace"), dtype=np.uint8)
    places = np.flatnonzero((codes >= _ZERO) & (codes <= _NINE))
    gaps = np.diff(places)
    # Digits are in one run when next to each other, or one space or hyphen apart.
    between = codes[places[:-1] + 1]
    joined = (gaps == 1) | ((gaps == 2) & ((between == _SPACE) | (between == _HYPHEN)))
    run = np.concatenate(([0], np.cumsum(~joined)))
    starts_group = np.concatenate(([True], gaps != 1))
    ends_group = np.concatenate((gaps != 1, [True]))
    values = (codes[places] - _ZERO).astype(np.int32)
    doubled = _DOUBLED[values]
    even = np.arange(len(values)) % 2 == 0
    # Running Luhn sums doubling the digits at even places, and at odd places.
    even_doubled = np.concatenate(([0], np.cumsum(np.where(even, doubled, values), dtype=np.int32)))
    odd_doubled = np.concatenate(([0], np.cumsum(np.where(even, values, doubled), dtype=np.int32)))
    group_starts = np.flatnonzero(starts_group)
    best = np.zeros(len(values), dtype=np.int32)
    for length in _CARD_LENGTHS:  # longest first: a start keeps the longest valid card
        first = group_starts[group_starts + length <= len(values)]
        last = first + length - 1
        # The last digit is never doubled: those of the other parity are.
        sums = np.where(even[last], odd_doubled[last + 1] - odd_doubled[first],
                        even_doubled[last + 1] - even_doubled[first])
        valid = ends_group[last] & (run[first] == run[last]) & (sums % 10 == 0) & (
            best[first] == 0)
        best[first[valid]] = length
    spans: list[tuple[int, int]] = []
    cursor = 0
    for start in np.flatnonzero(best).tolist():
        if start >= cursor:  # the next card starts after the last one found
            cursor = start + int(best[start])
            spans.append((int(places[start]), int(places[cursor - 1]) + 1))
    return spans


def _masked(text: str, spans: list[tuple[int, int]], name: str) -> str:
    """`text` with each span (in order, not overlapping) replaced by `[name]`, built once."""
    parts: list[str] = []
    cursor = 0
    for start, end in spans:
        parts += (text[cursor:start], f"[{name}]")
        cursor = end
    parts.append(text[cursor:])
    return "".join(parts)


def scrub(text: str, policy: ScrubPolicy | None = None) -> Scrubbed:
    """Mask every recognised secret or identifier in `text` as `[category]`.

    Linear in the length of `text`: each category is one pass of its pattern (written so that
    no start rescans what an earlier start read), and the text is rebuilt once per category.
    """
    policy = policy or default_policy()
    counts: Counter[str] = Counter()
    for category in CATEGORIES:
        if category.name not in policy.categories:
            continue
        spans = [(start, end) for start, end in _spans(category, text)
                 if text[start:end] not in policy.allow]
        if spans:
            counts[category.name] += len(spans)
            text = _masked(text, spans, category.name)
    return Scrubbed(text=text, counts=dict(counts))


_PLACEHOLDER = re.compile(r"\[(" + "|".join(c.name for c in CATEGORIES) + r")\]")


def masked_counts(text: str) -> dict[str, int]:
    """How many values of each category were already masked in `text` (its placeholders)."""
    return dict(Counter(_PLACEHOLDER.findall(text)))


_FRAME_END = re.compile(
    r"(?:^|\b(?:is|are|was|were|be|at|to|of|for|as|called|named|reads|equals)|[:=])\W*$",
    re.IGNORECASE)


def only_placeholders(text: str) -> bool:
    """Whether what a statement says is nothing but masked values ("My key is [api_key].").

    With its placeholders taken out, such a statement is empty or ends on its frame (a copula,
    a preposition, a colon): what it stated was the secret itself.
    """
    if not _PLACEHOLDER.search(text):
        return False
    clauses = re.split(r"[.;!?]+\s*|,\s+(?:and|but)\s+", text)
    masked = [clause for clause in clauses if _PLACEHOLDER.search(clause)]
    return all(_FRAME_END.search(_PLACEHOLDER.sub("", clause).strip(" ,'\"()"))
               for clause in masked) and not any(
        clause.strip() and not _PLACEHOLDER.search(clause) for clause in clauses)


def scrub_each(texts: Sequence[str]) -> list[Scrubbed]:
    """Scrub each text."""
    return [scrub(text) for text in texts]


async def scrub_all(texts: Sequence[str]) -> list[Scrubbed]:
    """Scrub each text; a large batch in the text worker, off the server's event loop."""
    return await sized(sum(map(len, texts)), scrub_each, list(texts))
