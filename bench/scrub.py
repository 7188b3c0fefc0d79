"""Scrubber throughput, and what scrubbing adds to a turn's memory write.

Throughput: `agent.memory.scrub.scrub` over conversational turns, a fifth of them carrying a secret or
identifier from the test corpus. Added latency: the scrubbing calls write_memory makes for one turn
(the turn before extraction, each candidate's text and subject), timed on the same turns.

    .venv/bin/python bench/scrub.py
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from _common import conversation_turns, emit, log, machine, percentiles_ms

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.memory.extract import extract_candidates  # noqa: E402
from agent.memory.reconcile import scrubbed_candidate  # noqa: E402
from agent.memory.scrub import scrub  # noqa: E402
from tests.data.sensitive_corpus import CORPUS  # noqa: E402


def texts(n: int, seed: int) -> list[str]:
    """`n` turns, one in five with a sensitive value."""
    rng = random.Random(seed)
    turns = conversation_turns(n, seed)
    return [rng.choice(CORPUS)[0] if i % 5 == 0 else turn for i, turn in enumerate(turns)]


def main() -> None:
    """Time the scrubber alone, then the scrubbing of write_memory per turn."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sample = texts(args.texts, args.seed)
    for text in sample[:200]:
        scrub(text)  # warm up the regex caches

    began = time.perf_counter()
    masked = sum(bool(scrub(text).counts) for text in sample)
    elapsed = time.perf_counter() - began
    log(f"{len(sample)} texts in {elapsed:.2f} s, {masked} with something masked")

    per_turn = []
    for text in sample[:1000]:
        candidates = extract_candidates(scrub(text).text)
        began = time.perf_counter()
        scrub(text)
        for candidate in candidates:
            scrubbed_candidate(candidate)
        per_turn.append(time.perf_counter() - began)

    emit({
        "bench": "scrub",
        "texts": len(sample),
        "texts_with_a_mask": masked,
        "texts_per_s": round(len(sample) / elapsed),
        **percentiles_ms(per_turn, "write_memory_scrub_added"),
        "machine": machine(),
    })


if __name__ == "__main__":
    main()
