"""Scrubber: worst-case inputs (this code and an earlier one, same run), throughput, accuracy.

Worst cases: every shape of tests/data/hostile_texts.py at 3,200, 32,000 and 320,000 characters,
each timed as the median of `--repeat` runs, by this code's scrubber and by the one at git
revision `--before` (loaded from git, measured at 3,200 and 32,000 only: it is quadratic). The
goal: each 32,000-character input in <= 20 ms, and 10x the length in <= 12x the time.

Accuracy: recall is the share of the sensitive corpus' values (tests/data/sensitive_corpus.py)
that are gone after scrubbing; precision is the share of masked texts, among the corpus and
`--texts` ordinary conversational turns, that held a sensitive value.

Throughput: the scrubber over `--texts` turns, one in five carrying a secret; and the scrubbing
write_memory adds per turn.

    .venv/bin/python bench/scrub.py                     # --before ba31f98 --repeat 5
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

from _common import conversation_turns, emit, log, machine, percentiles_ms

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.memory.text.scrub import scrub  # noqa: E402
from agent.memory.write.extract import extract_candidates  # noqa: E402
from agent.memory.write.reconcile import scrubbed_candidate  # noqa: E402
from tests.data.hostile_texts import SHAPES, hostile  # noqa: E402
from tests.data.sensitive_corpus import CORPUS  # noqa: E402

BEFORE = "ba31f98"
"""The last commit whose scrubber was quadratic."""
GOAL_MS, GOAL_RATIO = 20.0, 12.0


def scrubber_at(revision: str) -> ModuleType:
    """agent/memory/text/scrub.py as it was at `revision`, loaded as a module of its own."""
    source = subprocess.run(["git", "show", f"{revision}:agent/memory/text/scrub.py"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp(prefix="engram-scrub-")) / "scrub_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("scrub_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def median_ms(work: Callable[[], Any], repeat: int) -> float:
    """The median wall time of `work()` over `repeat` runs, in ms."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return round(statistics.median(times) * 1000, 2)


def worst_cases(before: ModuleType, repeat: int) -> list[dict[str, Any]]:
    """Each hostile shape timed by both scrubbers (the earlier one at the two shorter lengths)."""
    rows = []
    for name, unit in SHAPES:
        small, medium, large = (hostile(unit, n) for n in (3_200, 32_000, 320_000))
        row: dict[str, Any] = {
            "shape": name,
            "before_3200_ms": median_ms(partial(before.scrub, small), repeat),
            "before_32000_ms": median_ms(partial(before.scrub, medium), 1),  # seconds each
            "after_3200_ms": median_ms(partial(scrub, small), repeat),
            "after_32000_ms": median_ms(partial(scrub, medium), repeat),
            "after_320000_ms": median_ms(partial(scrub, large), repeat),
        }
        row["after_ratio_10x"] = round(row["after_320000_ms"] / row["after_32000_ms"], 2)
        row["before_ratio_10x"] = round(row["before_32000_ms"] / row["before_3200_ms"], 2)
        log(f"{name:34} before {row['before_32000_ms']:9.1f} ms  after "
            f"{row['after_32000_ms']:6.2f} ms (x{row['after_ratio_10x']} at 10x)")
        rows.append(row)
    return rows


def accuracy(scrubber: Callable[[str], Any], ordinary: list[str]) -> dict[str, float]:
    """Recall on the sensitive corpus; precision over the corpus and ordinary turns."""
    found = sum(secret not in scrubber(text).text for text, secret in CORPUS)
    masked_ordinary = sum(bool(scrubber(text).counts) for text in ordinary)
    masked_sensitive = sum(bool(scrubber(text).counts) for text, _ in CORPUS)
    return {"recall": round(found / len(CORPUS), 4),
            "precision": round(masked_sensitive / max(1, masked_sensitive + masked_ordinary), 4),
            "ordinary_texts_masked": masked_ordinary}


def texts(n: int, seed: int) -> list[str]:
    """`n` turns, one in five with a sensitive value."""
    rng = random.Random(seed)
    turns = conversation_turns(n, seed)
    return [rng.choice(CORPUS)[0] if i % 5 == 0 else turn for i, turn in enumerate(turns)]


def main() -> None:
    """Worst cases, accuracy and throughput; one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--before", default=BEFORE, help="git revision of the earlier scrubber")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    before = scrubber_at(args.before)
    rows = worst_cases(before, args.repeat)

    ordinary = conversation_turns(args.texts, args.seed)
    quality = {"after": accuracy(scrub, ordinary), "before": accuracy(before.scrub, ordinary)}
    log(f"accuracy {quality}")

    sample = texts(args.texts, args.seed)
    throughput = {}
    for label, scrubber in (("before", before.scrub), ("after", scrub)):
        for text in sample[:200]:
            scrubber(text)  # warm up the regex caches
        began = time.perf_counter()
        masked = sum(bool(scrubber(text).counts) for text in sample)
        throughput[label] = round(len(sample) / (time.perf_counter() - began))
    log(f"texts per second {throughput}")
    per_turn = []
    for text in sample[:1000]:
        candidates = extract_candidates(scrub(text).text)
        began = time.perf_counter()
        scrub(text)
        for candidate in candidates:
            scrubbed_candidate(candidate)
        per_turn.append(time.perf_counter() - began)

    worst = max(rows, key=lambda r: r["after_32000_ms"])
    emit({
        "bench": "scrub",
        "before_revision": args.before,
        "worst_after_32000_ms": worst["after_32000_ms"], "worst_shape": worst["shape"],
        "worst_after_ratio_10x": max(r["after_ratio_10x"] for r in rows),
        "worst_before_32000_ms": max(r["before_32000_ms"] for r in rows),
        "goal_met": all(r["after_32000_ms"] <= GOAL_MS and r["after_ratio_10x"] <= GOAL_RATIO
                        for r in rows),
        "accuracy": quality,
        "texts": len(sample), "texts_with_a_mask": masked,
        "texts_per_s": throughput,
        **percentiles_ms(per_turn, "write_memory_scrub_added"),
        "worst_cases": rows,
        "machine": machine(),
    })


if __name__ == "__main__":
    main()
