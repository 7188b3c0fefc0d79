import pytest

from agent.memory.scrub import scrub


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
