import pytest

from agent.memory.write.extract import extract_candidates


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("I prefer Python over TypeScript.",
         [("preference", "The user prefers Python over TypeScript.")]),
        ("Hi! My name is Ada Lovelace and I live in London.",
         [("fact", "The user's name is Ada Lovelace."), ("fact", "The user lives in London.")]),
        ("Remember that the wifi password rotates on Mondays",
         [("fact", "The wifi password rotates on Mondays.")]),
        ("Please always answer in French.",
         [("procedural", "Instruction from the user: always answer in French.")]),
        ("I'm allergic to shellfish", [("fact", "The user is allergic to shellfish.")]),
        ("My favourite colour is teal.", [("preference", "The user's favourite colour is teal.")]),
    ],
)
def test_explicit_statements_become_candidates(
    message: str, expected: list[tuple[str, str]]
) -> None:
    assert [(c.kind, c.text) for c in extract_candidates(message)] == expected


@pytest.mark.parametrize(
    "message",
    ["What language do I prefer?", "Do I like tea?", "Tell me a joke.", "Hello there", "?"],
)
def test_questions_and_chit_chat_store_nothing(message: str) -> None:
    assert extract_candidates(message) == []


def test_restating_a_subject_keeps_one_candidate_per_subject() -> None:
    found = extract_candidates("I live in Paris. Actually I moved to Berlin.")
    assert [(c.subject, c.text) for c in found] == [("home location", "The user lives in Berlin.")]
