"""Inputs shaped to make text processing slow: each repeats a unit that starts many matches.

Each entry: (name, unit). `hostile(unit, chars)` repeats a unit to a length. The shapes target
what made the scrubber quadratic (a match attempt from every start rescanning the rest) and
what costs it most per character (digits, separators, many short matches).
"""

from __future__ import annotations

SHAPES: list[tuple[str, str]] = [
    ("letters and dots", "a."),
    ("digits and spaces", "1 "),
    ("digits and hyphens", "1-"),
    ("one digit run", "1"),
    ("zeros (every window Luhn-valid)", "0 "),
    ("card numbers", "4111 1111 1111 1111 "),
    ("13-digit runs", "1111111111111 "),
    ("phone numbers", "+1 415 555 0134 "),
    ("plus and digits", "+1 "),
    ("e-mail addresses", "x@y.co "),
    ("at signs", "a@"),
    ("dotted local parts", "a.b@c"),
    ("JWT-like runs", "eyJ-"),
    ("JWT-like segments", "eyJaaaaa."),
    ("API key prefixes", "sk-"),
    ("password keywords", "password: "),
    ("PIN phrases", "pin is "),
    ("IBAN-like groups", "DE89 "),
    ("URL credentials", "://a:b"),
    ("private key headers", "-----BEGIN A"),
    ("SSNs", "219-09-9999 "),
    ("long token", "x"),
    ("plain prose", "I moved to Lisbon last spring and started cycling. "),
]


def hostile(unit: str, chars: int) -> str:
    """`unit` repeated to exactly `chars` characters."""
    return (unit * (chars // len(unit) + 1))[:chars]
