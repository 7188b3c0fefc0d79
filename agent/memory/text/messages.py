"""Chat message text as clients send it: OpenAI-format content and stray control characters.

Run validation (which refuses) and import (which cleans) read messages through these, so the
two accept the same shapes.
"""

from __future__ import annotations

import re
from typing import Any

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Control characters other than tab and newlines (Postgres text refuses NUL)."""


def control_character(text: str) -> str | None:
    """The first control character in `text` as `U+XXXX`, or None when it is plain text."""
    found = CONTROL.search(text)
    return f"U+{ord(found.group()):04X}" if found else None


class NotText(ValueError):
    """Content that is not text; the message completes a sentence naming the field."""


def content_text(content: Any) -> str:
    """The text of a message's content: a string, or a list of text parts joined.

    Raises NotText with the end of a sentence ("[2] has type 'image_url': ...") that the caller
    starts with the field's name.
    """
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise NotText(" must be a string or a list of text parts")
    texts = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else type(part).__name__
        if kind != "text" or not isinstance(part.get("text"), str):
            raise NotText(f"[{index}] has type {kind!r}: only text parts "
                          "({'type': 'text', 'text': ...}) are supported")
        texts.append(part["text"])
    return "".join(texts)
