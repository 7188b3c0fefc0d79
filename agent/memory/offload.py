"""Text work sized by its input: small texts inline, large ones in a worker thread.

The LangGraph server serves every user's requests and runs on one event loop. Scrubbing and
rule extraction are linear in the text, but 32,000 characters still take milliseconds; done
inline for a large input they would hold every other user's requests for that long.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

OFF_LOOP_CHARS = 2_000
"""Above this many characters, text work runs in a worker thread (below, the hop costs more)."""


async def sized(chars: int, work: Callable[[], T]) -> T:
    """`work()`, in a worker thread when it reads more than OFF_LOOP_CHARS characters."""
    if chars <= OFF_LOOP_CHARS:
        return work()
    return await asyncio.to_thread(work)
