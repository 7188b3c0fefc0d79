"""What a person may write into memory, checked the same way on every way in.

A correction (console edit, approval edit), a memory a client writes through the store API, a
search query: each is held to the limits of an extracted memory, kept plain text on one line,
and never an instruction to the system. InvalidCorrection says why not and what to send.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, get_args

from agent.memory.model.kinds import MemoryKind
from agent.memory.model.limits import (
    MAX_METADATA_KEY_CHARS,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE_CHARS,
)
from agent.memory.model.schema import MemoryValue, Source
from agent.memory.text.injection import is_instruction_or_claim
from agent.memory.text.messages import control_character
from agent.memory.text.scrub import scrub

MAX_TEXT = 2000
"""The longest memory text, as for an extracted one (MemoryCandidate.text)."""
MAX_SUBJECT = 200
"""The longest subject, as for an extracted one (MemoryCandidate.subject)."""
MAX_QUERY_CHARS = 2000
"""The longest search query any way in accepts (the embedding model reads about 1,000)."""


class InvalidCorrection(ValueError):
    """A correction Engram refuses (the message says why and what to send instead)."""


def check_correction(text: Any, field: str = "text") -> str:
    """A person's new text for a memory (console edit, approval edit, store API), on one line.

    The same limits as an extracted memory: a non-empty string of plain text within MAX_TEXT,
    never an instruction to the system or a claim of authority. Line breaks become spaces, so
    a memory is one line of the prompt and cannot pose as a section of it. Raises
    InvalidCorrection saying why not.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidCorrection(f"`{field}` must be a non-empty string")
    if len(text) > MAX_TEXT:
        raise InvalidCorrection(f"`{field}` is {len(text)} characters; the most is {MAX_TEXT}")
    if control := control_character(text):
        raise InvalidCorrection(f"`{field}` contains the control character {control}: send "
                                "plain text")
    if is_instruction_or_claim(text):
        raise InvalidCorrection(f"`{field}` reads as an instruction to the system or a claim of "
                                "authority, which Engram never stores: state a fact instead")
    return " ".join(text.split())


def check_search_text(query: Any, field: str = "query") -> str:
    """A search query: plain text within MAX_QUERY_CHARS, single-spaced (empty: no search)."""
    if not isinstance(query, str):
        raise InvalidCorrection(f"`{field}` must be text")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidCorrection(f"`{field}` has {len(query)} characters; at most "
                                f"{MAX_QUERY_CHARS}")
    if control := control_character(query):
        raise InvalidCorrection(f"`{field}` contains the control character {control}: send "
                                "plain text")
    return " ".join(query.split())


WRITABLE = {"text", "kind", "subject", "importance", "confidence"}
"""What a client may set in a memory it writes through the store API; the rest is Engram's."""
CLIENT_KINDS = set(get_args(MemoryKind))


def _score(value: dict[str, Any], name: str, default: float) -> float:
    score = value.get(name, default)
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
        raise InvalidCorrection(f"`value.{name}` must be a number from 0 to 1")
    return float(score)


def client_memory(value: Any) -> dict[str, Any]:
    """A memory a client writes through the store API, checked and completed as a stored value.

    `{"text": ..., "kind": ..., "subject": ..., "importance": ..., "confidence": ...}`: text
    as for a correction, kind one of the memory kinds (default fact; episodes are written by
    turns and imports only), scores from 0 to 1. Scrubbed. Raises InvalidCorrection naming the
    field.
    """
    if not isinstance(value, dict):
        raise InvalidCorrection("`value` must be an object like {\"text\": \"...\", \"kind\": "
                                "\"fact\"}")
    if unknown := sorted(set(value) - WRITABLE):
        raise InvalidCorrection(f"`value` has fields {unknown} that Engram keeps for itself or "
                                f"does not know: a client writes only {sorted(WRITABLE)}")
    text = scrub(check_correction(value.get("text"), "value.text"))
    kind = value.get("kind", "fact")
    if kind not in CLIENT_KINDS:
        raise InvalidCorrection(f"`value.kind` is {kind!r}: use one of {sorted(CLIENT_KINDS)} "
                                "(episodes are written by turns and imports)")
    subject = value.get("subject", "")
    if not isinstance(subject, str) or len(subject) > MAX_SUBJECT:
        raise InvalidCorrection(f"`value.subject` must be text of at most {MAX_SUBJECT} "
                                "characters")
    subject = (scrub(check_correction(subject, "value.subject")).text if subject.strip()
               else text.text[:MAX_SUBJECT])
    importance = _score(value, "importance", 0.5)
    confidence = _score(value, "confidence", 1.0)
    moment = datetime.now(UTC).isoformat()
    return MemoryValue(
        text=text.text, kind=kind, subject=subject, importance=importance, confidence=confidence,
        source=Source(), created_at=moment, updated_at=moment, scrubbed=text.counts,
    ).model_dump(mode="json", exclude_none=True)


def check_label(value: Any, field: str, limit: int) -> str:
    """A short identifier a memory is kept under (an agent, app or run id): plain, bounded text."""
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidCorrection(f"`{field}` must be a non-empty string of at most {limit} "
                                "characters")
    if control := control_character(value):
        raise InvalidCorrection(f"`{field}` contains the control character {control}: send "
                                "plain text")
    return value


def check_metadata(raw: Any, field: str = "metadata") -> dict[str, Any] | None:
    """A memory's metadata: a flat object of at most MAX_METADATA_KEYS scalar fields.

    Keys are short plain text; a string value is plain text within MAX_METADATA_VALUE_CHARS,
    scrubbed like any text Engram stores (a card number or an e-mail address is masked). None
    stays None (no metadata).
    """
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidCorrection(f"`{field}` must be an object of fields")
    if len(raw) > MAX_METADATA_KEYS:
        raise InvalidCorrection(f"`{field}` has {len(raw)} fields; at most {MAX_METADATA_KEYS}")
    checked: dict[str, Any] = {}
    for key, value in raw.items():
        check_label(key, f"{field} field name", MAX_METADATA_KEY_CHARS)
        where = f"{field}.{key}"
        if isinstance(value, str):
            if value:
                check_label(value, where, MAX_METADATA_VALUE_CHARS)
            checked[key] = scrub(value).text
        elif value is None or isinstance(value, bool | int | float):
            checked[key] = value
        else:
            raise InvalidCorrection(f"`{where}` must be a string, a number, true, false or "
                                    "null (metadata is flat)")
    return checked
