"""What the memory pipeline records: Prometheus metrics, log lines, the empty-retrieval alert.

The graph's nodes and the memory service record here; the server only exposes it (the metrics
route and the health summary in agent/server/). Node timing is applied where the graph is
built (agent/graph.py), not inside each node.

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

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
MODEL_TOOL_CALLS = Counter("engram_model_tool_calls", "Memory tool calls the model made, by "
                           "tool and outcome (done, refused).", ["tool", "outcome"],
                           registry=REGISTRY)
MODEL_SEARCHES = Counter("engram_model_searches", "Searches the model made with its memory tool, "
                         "by outcome (hit: something found).", ["outcome"], registry=REGISTRY)
TOOL_CALLS_PER_TURN = Histogram("engram_model_tool_calls_per_turn", "Memory tool calls in a turn "
                                "whose model had the tools.", buckets=(0, 1, 2, 3, 4, 6, 8),
                                registry=REGISTRY)
TOOL_LOOPS_STOPPED = Counter("engram_model_tool_loops_stopped", "Turns whose tool loop was "
                             "stopped (limit: too many calls; repeat: a call made before).",
                             ["reason"], registry=REGISTRY)
VECTORS = Gauge("engram_vectors", "Episodes' vectors: pending and failing now (queue), filled and "
                "model failures since this process started (its worker).", ["state"],
                registry=REGISTRY)
VECTOR_OLDEST_PENDING = Gauge("engram_vector_oldest_pending_seconds",
                              "Age of the oldest episode waiting for its vector.", registry=REGISTRY)

ALERT_WINDOW = 100
ALERT_EMPTY_RATE = 0.2


class EmptyRetrievalAlert:
    """The alert line when empty retrievals pass a share of the last window, and its end."""

    def __init__(self, window: int = ALERT_WINDOW, threshold: float = ALERT_EMPTY_RATE) -> None:
        """Watch the last `window` retrievals."""
        self.recent: deque[bool] = deque(maxlen=window)
        self.threshold = threshold
        self.alerting = False

    def observe(self, hit: bool) -> None:
        """Count one retrieval, and log when the alert starts or ends."""
        self.recent.append(hit)
        if len(self.recent) < (self.recent.maxlen or 0):
            return
        rate = self.empty_rate()
        if rate is not None and rate > self.threshold and not self.alerting:
            logger.warning("ALERT engram_empty_retrieval_rate=%.2f window=%d threshold=%.2f",
                           rate, len(self.recent), self.threshold)
        elif rate is not None and rate <= self.threshold and self.alerting:
            logger.warning("RESOLVED engram_empty_retrieval_rate=%.2f window=%d", rate,
                           len(self.recent))
        self.alerting = rate is not None and rate > self.threshold

    def empty_rate(self) -> float | None:
        """The share of empty retrievals in the window (None before the first)."""
        return 1 - sum(self.recent) / len(self.recent) if self.recent else None


ALERT = EmptyRetrievalAlert()
"""This process's alert (per process, like the counters)."""


def record_retrieval(hit: bool, seconds: float) -> None:
    """Count a retrieval and its latency; feed the empty-retrieval alert."""
    RETRIEVALS.labels(outcome="hit" if hit else "miss").inc()
    RETRIEVAL_SECONDS.observe(seconds)
    ALERT.observe(hit)


def log_retrieval(memories: int, seconds: float, **ids: str | None) -> None:
    """Record a retrieval, and log one line of ids and numbers (never text).

    With the server's LOG_JSON=true the extra fields become JSON keys; the hit and
    empty-retrieval rates come from these lines.
    """
    record_retrieval(memories > 0, seconds)
    logger.info("memory_retrieval hit=%s memories=%d latency_ms=%.2f",
                str(memories > 0).lower(), memories, seconds * 1000,
                extra={**ids, "hit": memories > 0, "memories": memories,
                       "latency_ms": round(seconds * 1000, 2)})


def record_vectors(queue: dict[str, float], filled: int, failures: int) -> None:
    """Set the vector worker's gauges (read at scrape time from the queue and the worker)."""
    VECTORS.labels(state="pending").set(queue["pending"])
    VECTORS.labels(state="failing").set(queue["failing"])
    VECTORS.labels(state="filled").set(filled)
    VECTORS.labels(state="model_failures").set(failures)
    VECTOR_OLDEST_PENDING.set(queue["oldest_s"])


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


def _histogram(
    histogram: Histogram, **labels: str
) -> tuple[list[tuple[float, float]], float, float]:
    """Cumulative (upper bound, count) buckets, sum and count of the series matching `labels`."""
    buckets: dict[float, float] = {}
    total = count = 0.0
    for metric in histogram.collect():
        for sample in metric.samples:
            if any(sample.labels.get(name) != value for name, value in labels.items()):
                continue
            if sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
            elif sample.name.endswith("_sum"):
                total += sample.value
            elif sample.name.endswith("_count"):
                count += sample.value
    return sorted(buckets.items()), total, count


def quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """The q-quantile estimated from cumulative buckets, as Prometheus' histogram_quantile does.

    Linear inside the bucket that holds it; an answer in the +Inf bucket is the highest finite
    bound. None when nothing was observed.
    """
    count = buckets[-1][1] if buckets else 0.0
    if count == 0:
        return None
    rank = q * count
    lower, below = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank:
            if bound == float("inf"):
                return lower
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, cumulative
    return lower


def _latency(histogram: Histogram, **labels: str) -> dict[str, float | None]:
    buckets, total, count = _histogram(histogram, **labels)

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 2)

    return {"count": count, "mean_ms": ms(total / count) if count else None,
            **{f"p{int(q * 100)}_ms": ms(quantile(buckets, q)) for q in (0.5, 0.95, 0.99)}}


def summary() -> dict[str, object]:
    """Retrieval health from the counters above: hit rate, empty-retrieval rate, latencies."""
    outcomes = {sample.labels["outcome"]: sample.value for metric in RETRIEVALS.collect()
                for sample in metric.samples if sample.name.endswith("_total")}
    hits, misses = outcomes.get("hit", 0.0), outcomes.get("miss", 0.0)
    retrievals = hits + misses
    nodes = sorted({sample.labels["node"] for metric in NODE_SECONDS.collect()
                    for sample in metric.samples if "node" in sample.labels})
    return {
        "retrievals": retrievals,
        "hit_rate": hits / retrievals if retrievals else None,
        "empty_rate": misses / retrievals if retrievals else None,
        "recent_empty_rate": ALERT.empty_rate(),
        "recent_window": len(ALERT.recent),
        "alert_threshold": ALERT.threshold,
        "retrieval_latency": _latency(RETRIEVAL_SECONDS),
        "node_latency": {node: _latency(NODE_SECONDS, node=node) for node in nodes},
    }
