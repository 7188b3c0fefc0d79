"""The kinds of memory, defined once: what each is for, how long it is kept, how it ranks.

Everything else reads them from here: the value model (schema.MemoryKind), the checks on what a
client may write, the console's filters, and the store, which is generic and gets them from
them through the factories Engram's langgraph.json names (agent/stores.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from store.retention import DAY

MemoryKind = Literal["preference", "fact", "procedural", "feedback", "summary"]
"""What extraction, reconciliation and clients write."""
EPISODE = "episode"
"""One message of the conversation itself, written by turns and imports only."""
EPISODE_GIST = "gist"
"""The field of an episode that is embedded, after it is stored, by the store's vector worker
(its whole text is word-indexed)."""


@dataclass(frozen=True)
class Kind:
    """How a kind of memory is kept and ranked."""

    ttl_minutes: float | None
    """Kept this long without being read or rewritten (None: until changed or forgotten)."""
    rank_bonus: float
    """Added to a search hit's score (relevance is at most about 1)."""


KINDS: dict[str, Kind] = {
    "preference": Kind(None, 0.03),  # kept until the user changes it
    "procedural": Kind(None, 0.06),  # instructions hold until withdrawn
    "fact": Kind(365 * DAY, 0.0),
    "feedback": Kind(90 * DAY, 0.08),  # ranks high, but about answers that age quickly
    "summary": Kind(180 * DAY, -0.05),  # the conversation's own record, below what was said
    EPISODE: Kind(365 * DAY, 0.0),  # the conversation itself; ENGRAM_EPISODE_TTL_DAYS changes it
}
assert set(KINDS) == {*get_args(MemoryKind), EPISODE}, "every kind is defined once, here"
LEDGER_TTL_MINUTES = 90 * DAY
"""The turn ledger only has to outlive the replays anyone will make of a turn."""
