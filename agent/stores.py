"""The checkpointer and store that langgraph.json names: store/'s factories, with Engram's kinds.

store/ is generic Postgres storage; what a memory's kind means to it (how long it is kept, how
it ranks) comes from agent/memory/model/kinds.py, given here. Scripts, benchmarks and tests open the
store the same way, so they rank and expire exactly as the server does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from agent.memory.model.kinds import EPISODE, KINDS, LEDGER_TTL_MINUTES
from agent.memory.model.schema import LEDGER_ROOT
from store import postgres
from store.background import int_setting
from store.retention import DAY, KindPolicy
from store.search import MemoryStore

checkpointer = postgres.checkpointer
"""Tier 1: every step of every thread (store/postgres.py)."""


def kind_policy(episode_days: int = 0) -> KindPolicy:
    """What the store needs of Engram's kinds: default TTLs and ranking bonuses.

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
    )


@asynccontextmanager
async def store() -> AsyncIterator[MemoryStore]:
    """Tier 2: the memory store (store/postgres.py), with Engram's kinds.

    ENGRAM_EPISODE_TTL_DAYS keeps episodes that many days instead of their kind's default.
    """
    policy = kind_policy(int_setting("ENGRAM_EPISODE_TTL_DAYS", 0))
    async with postgres.store(policy) as memory_store:
        yield memory_store
