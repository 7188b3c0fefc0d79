import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from agent.memory.text.offload import OFF_LOOP_CHARS, sized
from agent.memory.text.scrub import scrub, scrub_all
from tests.data.hostile_texts import SHAPES, hostile


@pytest.mark.parametrize(
    ("text", "secret", "category"),
    [
        ("mail me at ada.lovelace@example.org please", "ada.lovelace@example.org", "email"),
        ("my card is 4111 1111 1111 1111", "4111 1111 1111 1111", "card_number"),
        ("use key sk-proj-Ab3dEf6hIj9kLm2nOp5q", "sk-proj-Ab3dEf6hIj9kLm2nOp5q", "api_key"),
        ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
         "api_key"),
        ("aws AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE", "api_key"),
        ("db at postgres://app:s3cr3tpw@db.internal/app", "s3cr3tpw", "url_password"),
        ("my password is hunter2hunter2", "hunter2hunter2", "password"),
        ("call me on +44 20 7946 0958", "7946 0958", "phone"),
        ("IBAN DE89 3704 0044 0532 0130 00", "3704 0044", "iban"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
         "eyJhbGciOiJIUzI1NiJ9", "jwt"),
    ],
)
def test_secrets_and_identifiers_are_masked(text: str, secret: str, category: str) -> None:
    result = scrub(text)
    assert secret not in result.text
    assert f"[{category}]" in result.text
    assert result.counts.get(category) == 1


@pytest.mark.parametrize(
    "text",
    ["I prefer Python over TypeScript.", "Meeting on 2024-05-01 at 10:30", "I have 3 cats",
     "card-like but not Luhn: 1234 5678 9012 3456"],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert scrub(text).text == text
    assert scrub(text).counts == {}


@pytest.mark.parametrize(("name", "unit"), SHAPES, ids=[name for name, _ in SHAPES])
def test_hostile_inputs_finish(name: str, unit: str) -> None:
    # A hang guard, not a timing figure (bench/scrub.py measures): the quadratic scrubber took
    # minutes on 320,000 characters of several of these shapes; a linear one takes a fraction of
    # a second, so a 20 s deadline fails only the quadratic kind.
    text = hostile(unit, 320_000)
    pool = ThreadPoolExecutor(1)
    try:
        result = pool.submit(scrub, text).result(timeout=20)
    finally:
        pool.shutdown(wait=False)
    assert len(result.text) <= len(text) + 20 * sum(result.counts.values())


def test_cards_inside_long_runs_are_found_as_before() -> None:
    text = "ref 2024 4111 1111 1111 1111 then 1 2 3 and 5425-2334-3010-9903."
    assert scrub(text).text == "ref 2024 [card_number] then 1 2 3 and [card_number]."


def test_jwt_after_a_word_prefix_and_email_after_punctuation() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N"
    assert scrub(f"auth tok-{token} ok").text == "auth tok-[jwt] ok"
    assert scrub("mail:ada@example.org, ..bob@ex.com").text == "mail:[email], ..[email]"


async def test_large_texts_are_processed_off_the_event_loop() -> None:
    # A small text stays in this process (the hop would cost more); a large one goes to the
    # text worker, a process of its own: the server's event loop keeps its interpreter lock.
    assert await sized(10, os.getpid) == os.getpid()
    assert await sized(OFF_LOOP_CHARS + 1, os.getpid) != os.getpid()
    large = "Mail ada@example.org. " * 200
    assert [s.text for s in await scrub_all([large, "hi"])] == [scrub(large).text, "hi"]
