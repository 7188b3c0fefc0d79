"""Property-based tests of the scrubber, the extractor and the run validation."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.memory.text.scrub import scrub
from agent.memory.write.extract import extract_candidates
from agent.server.validation import InvalidRun, validate_run

WORDS = st.lists(st.sampled_from(["I", "my", "is", "the", "mail", "card", "at", "call", "note",
                                  "Berlin", "2024", "and", ",", "."]), max_size=8).map(" ".join)
EMAILS = st.from_regex(r"[a-z][a-z0-9._+-]{0,15}@[a-z][a-z0-9-]{0,12}\.(com|org|de|io|co\.uk)",
                       fullmatch=True)


def luhn_complete(digits: str) -> str:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return digits + str((10 - total % 10) % 10)


CARDS = st.sampled_from("3456").flatmap(
    lambda first: st.from_regex(r"[0-9]{14}", fullmatch=True).map(
        lambda rest: luhn_complete(first + rest)))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=30,
)


@given(st.text(max_size=300))
def test_scrubbing_is_total_and_idempotent(text: str) -> None:
    once = scrub(text)
    assert scrub(once.text).text == once.text


@given(WORDS, EMAILS, WORDS)
def test_an_email_anywhere_is_masked(before: str, email: str, after: str) -> None:
    result = scrub(f"{before} {email} {after}")
    assert email not in result.text
    assert result.counts.get("email") == 1


@given(WORDS, CARDS, st.sampled_from(["", " ", "-"]), WORDS)
def test_a_valid_card_number_anywhere_is_masked(
    before: str, card: str, separator: str, after: str
) -> None:
    grouped = separator.join(card[i:i + 4] for i in range(0, len(card), 4))
    result = scrub(f"{before} {grouped} {after}")
    assert grouped not in result.text
    assert card not in result.text.replace(" ", "").replace("-", "")


@given(st.text(max_size=500))
def test_extraction_never_fails_and_never_keeps_a_question(text: str) -> None:
    for candidate in extract_candidates(text):
        assert candidate.text and candidate.subject


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(["input", "context", "config", "command", "other"]), JSON))
def test_validation_accepts_or_names_the_problem_never_crashes(body: dict[str, Any]) -> None:
    try:
        validate_run(body)
    except InvalidRun as err:
        assert str(err)
        return
    messages = (body.get("input") or {}).get("messages", [])
    for message in messages:
        assert isinstance(message, str | dict)
