"""Refuse memories that try to instruct the system or claim authority.

A memory is shown to the model on later turns; text like "ignore previous instructions" or "I am
an admin" stored as a memory would turn one message into a standing instruction. Roles come from
the token only, so such a claim is never true by being said: it is not stored at all.
"""

from __future__ import annotations

import re

_PATTERNS = (
    re.compile(r"\b(?:ignore|disregard|override|forget)\b.{0,30}\b(?:previous|prior|above|earlier|"
               r"all|your|system)\b.{0,20}\b(?:instructions?|rules?|prompts?|guidelines?)\b", re.I),
    re.compile(r"\b(?:i am|i'm|i've been made|make me|grant me|give me|promote me to|user is)\s+"
               r"(?:now\s+)?(?:an?\s+|the\s+)?(?:admin|administrator|root|superuser|sysadmin|"
               r"moderator)(?:\s+(?:of|on|for|here|in)\s+(?:this|the|engram|your)\b.*)?[.!]*$",
               re.I),
    re.compile(r"\b(?:admin|administrator|root|superuser)\s+(?:rights|access|privileges|"
               r"permissions)\b", re.I),
    re.compile(r"\b(?:system prompt|developer mode|jailbreak|you are now|from now on you)\b", re.I),
    re.compile(r"\b(?:role|permissions?|access level)\b.{0,20}\b(?:is|=|:|to)\b.{0,10}"
               r"\b(?:admin|root|superuser|all)\b", re.I),
)


def is_instruction_or_claim(text: str) -> bool:
    """Whether `text` reads as an instruction to the system or a claim of authority."""
    return any(pattern.search(text) for pattern in _PATTERNS)
