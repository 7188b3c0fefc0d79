"""Mask secrets and personal identifiers before anything reaches the store.

Each category is a pattern (plus a check where a pattern alone is unreliable, such as Luhn for
card numbers). The result says how many values of each category were masked, never the values.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any


def _luhn(digits: str) -> bool:
    nums = [int(d) for d in digits if d.isdigit()]
    if not 13 <= len(nums) <= 19:
        return False
    total = 0
    for i, n in enumerate(reversed(nums)):
        if i % 2:
            n *= 2
            n -= 9 if n > 9 else 0
        total += n
    return total % 10 == 0


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


CATEGORIES: tuple[Category, ...] = (
    Category("private_key", re.compile(
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL)),
    Category("jwt", re.compile(r"\beyJ[\w-]{5,}\.eyJ[\w-]{5,}\.[\w-]{5,}")),
    Category("api_key", re.compile(
        r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}"
        r"|AKIA[0-9A-Z]{16}|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{30,}"
        r"|sk_(?:live|test)_[0-9a-zA-Z]{16,}|glpat-[\w-]{20,})")),
    Category("url_password", re.compile(r"(?<=://)[^\s:/@]+:[^\s@/]+(?=@)")),
    Category("password", re.compile(
        r"(?i)\b(?:password|passwd|pwd|passphrase|pin|secret|token|api[ _-]?key|access[ _-]?key)\b"
        r"(?:\s*[:=]\s*|\s+is\s+)(?P<v>\S{4,})"), _unmasked),
    Category("session_id", re.compile(
        r"(?i)\b(?:session[ _-]?id|sessionid|sid|session cookie|cookie)\b"
        r"(?:\s*[:=]\s*|\s+is\s+)(?P<v>[\w.%+/=-]{8,})"), _unmasked),
    Category("us_ssn", re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")),
    Category("email", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")),
    Category("iban", re.compile(r"(?i)\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")),
    Category("card_number", re.compile(r"\d"), _luhn),  # found by _card_spans
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
    if category.name == "card_number":
        return _card_spans(text)
    spans = []
    for match in category.pattern.finditer(text):
        group = "v" if "v" in match.re.groupindex else 0
        if category.check(match.group(group)):
            spans.append(match.span(group))
    return spans


_DIGIT_RUN = re.compile(r"(?<!\d)\d(?:[ -]?\d)*(?!\d)")


def _card_spans(text: str) -> list[tuple[int, int]]:
    """Luhn-valid 13-19 digit numbers, also inside longer runs ("2024 4111 1111 1111 1111").

    A card starts and ends at a digit group's edge; the longest valid one from each start wins.
    """
    spans = []
    for run in _DIGIT_RUN.finditer(text):
        digits = [i for i in range(run.start(), run.end()) if text[i].isdigit()]
        starts = [i for i in digits if i == run.start() or not text[i - 1].isdigit()]
        ends = {i + 1 for i in digits if i + 1 == run.end() or not text[i + 1].isdigit()}
        cursor = run.start()
        for start in starts:
            if start < cursor:
                continue
            first = digits.index(start)
            for count in range(19, 12, -1):
                if first + count > len(digits) or digits[first + count - 1] + 1 not in ends:
                    continue
                end = digits[first + count - 1] + 1
                if _luhn(text[start:end]):
                    spans.append((start, end))
                    cursor = end
                    break
    return spans


def scrub(text: str, policy: ScrubPolicy | None = None) -> Scrubbed:
    """Mask every recognised secret or identifier in `text` as `[category]`."""
    policy = policy or default_policy()
    counts: Counter[str] = Counter()
    for category in CATEGORIES:
        if category.name not in policy.categories:
            continue
        for start, end in reversed(_spans(category, text)):
            if text[start:end] in policy.allow:
                continue
            counts[category.name] += 1
            text = f"{text[:start]}[{category.name}]{text[end:]}"
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


def scrub_value(value: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
    """A copy of a JSON value with every string in it scrubbed, and the counts."""
    counts: Counter[str] = Counter()

    def clean(node: Any) -> Any:
        if isinstance(node, str):
            result = scrub(node)
            counts.update(result.counts)
            return result.text
        if isinstance(node, dict):
            return {key: clean(item) for key, item in node.items()}
        if isinstance(node, list):
            return [clean(item) for item in node]
        return node

    return clean(value), dict(counts)
