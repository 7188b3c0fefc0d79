"""Prometheus metrics of the memory pipeline, and the empty-retrieval alert line.

Labels carry kinds, actions and categories only: never user content or ids. Counters are per
process, as Prometheus expects (each server worker is scraped, or aggregated, on its own).
"""

from __future__ import annotations

import functools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram

logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")
REGISTRY = CollectorRegistry()
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

RETRIEVALS = Counter("engram_retrievals", "Memory retrievals by outcome (hit: something found).",
                     ["outcome"], registry=REGISTRY)
RETRIEVAL_SECONDS = Histogram("engram_retrieval_seconds", "Memory search latency.",
                              buckets=LATENCY_BUCKETS, registry=REGISTRY)
NODE_SECONDS = Histogram("engram_node_seconds", "Latency of each graph node.", ["node"],
                         buckets=LATENCY_BUCKETS, registry=REGISTRY)
MEMORY_OPERATIONS = Counter("engram_memory_operations", "Memory operations by action and status.",
                            ["action", "status"], registry=REGISTRY)
SCRUBBED = Counter("engram_scrubbed_values", "Values masked before storage, by category.",
                   ["category"], registry=REGISTRY)
SUMMARIZATIONS = Counter("engram_summarizations", "Turns folded into a running summary.",
                         registry=REGISTRY)

ALERT_WINDOW = 100
ALERT_EMPTY_RATE = 0.2
_recent: deque[bool] = deque(maxlen=ALERT_WINDOW)
_alerting = False


def record_retrieval(hit: bool, seconds: float) -> None:
    """Count a retrieval; log an alert line when empty results exceed 20% of the last 100."""
    global _alerting
    RETRIEVALS.labels(outcome="hit" if hit else "miss").inc()
    RETRIEVAL_SECONDS.observe(seconds)
    _recent.append(hit)
    if len(_recent) < ALERT_WINDOW:
        return
    empty_rate = 1 - sum(_recent) / len(_recent)
    if empty_rate > ALERT_EMPTY_RATE and not _alerting:
        logger.warning("ALERT engram_empty_retrieval_rate=%.2f window=%d threshold=%.2f",
                       empty_rate, ALERT_WINDOW, ALERT_EMPTY_RATE)
    elif empty_rate <= ALERT_EMPTY_RATE and _alerting:
        logger.warning("RESOLVED engram_empty_retrieval_rate=%.2f window=%d", empty_rate,
                       ALERT_WINDOW)
    _alerting = empty_rate > ALERT_EMPTY_RATE


def record_operations(operations: list[dict[str, object]]) -> None:
    """Count reported memory operations by action and status."""
    for op in operations:
        MEMORY_OPERATIONS.labels(action=str(op.get("action")), status=str(op.get("status"))).inc()


def record_scrubbed(counts: dict[str, int]) -> None:
    """Count values masked before storage, by category."""
    for category, n in counts.items():
        SCRUBBED.labels(category=category).inc(n)


def timed_node(node: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Observe a node's latency under its own name (the signature is kept for LangGraph)."""

    @functools.wraps(node)
    async def timed(*args: P.args, **kwargs: P.kwargs) -> R:
        started = time.perf_counter()
        try:
            return await node(*args, **kwargs)
        finally:
            NODE_SECONDS.labels(node=node.__name__).observe(time.perf_counter() - started)

    return timed
