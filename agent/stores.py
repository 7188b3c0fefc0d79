"""The checkpointer and store that langgraph.json names: store/'s factories, with Engram's kinds.

store/ is generic Postgres storage; what a memory's kind means to it (how long it is kept, how
it ranks, which kind is the conversation's messages) comes from agent/memory/model/kinds.py,
given here. Scripts, benchmarks and tests open the store the same way, so they rank, expire and
queue vectors exactly as the server does.

    python -m agent.stores

runs the vector worker as a process of its own, for servers run with ENGRAM_VECTOR_WORKER=off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from agent.memory.model.kinds import EPISODE, EPISODE_GIST, KINDS, LEDGER_TTL_MINUTES
from agent.memory.model.schema import LEDGER_ROOT
from store import postgres
from store.background import MemoryWork, int_setting
from store.retention import DAY, KindPolicy, MessageKind
from store.search import MemoryStore

logger = logging.getLogger(__name__)

checkpointer = postgres.checkpointer
"""Tier 1: every step of every thread (store/postgres.py)."""


def kind_policy(episode_days: int = 0) -> KindPolicy:
    """What the store needs of Engram's kinds: default TTLs, ranking bonuses, the episodes.

    Args:
        episode_days: keep episodes this many days (0: their kind's default).
    """
    ttl = {name: kind.ttl_minutes for name, kind in KINDS.items()}
    if episode_days:
        ttl[EPISODE] = episode_days * DAY
    return KindPolicy(
        ttl_minutes=ttl,
        rank_bonus={name: kind.rank_bonus for name, kind in KINDS.items() if kind.rank_bonus},
        namespace_ttl_minutes={LEDGER_ROOT: LEDGER_TTL_MINUTES},
        keep_own_ttl_superseded=frozenset({EPISODE}),  # dated history, kept as long as the rest
        messages=MessageKind(EPISODE, EPISODE_GIST),  # embedded by the vector worker
    )


def configured_policy() -> KindPolicy:
    """Engram's kinds, with ENGRAM_EPISODE_TTL_DAYS (episodes kept that many days, if set)."""
    return kind_policy(int_setting("ENGRAM_EPISODE_TTL_DAYS", 0))


@asynccontextmanager
async def store() -> AsyncIterator[MemoryStore]:
    """Tier 2: the memory store (store/postgres.py), with Engram's kinds.

    ENGRAM_EPISODE_TTL_DAYS keeps episodes that many days instead of their kind's default.
    """
    async with postgres.store(configured_policy()) as memory_store:
        yield memory_store


async def fill_vectors_forever() -> None:
    """Fill episodes' vectors until cancelled, whatever ENGRAM_VECTOR_WORKER says."""
    work = replace(MemoryWork.configured(), fill_vectors=True)
    async with postgres.store(configured_policy(), work):
        logger.warning("filling episodes' vectors; Ctrl-C stops")
        await asyncio.Event().wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(fill_vectors_forever())
