"""Bounded cost for endless threads: prompt size, checkpoint storage and summarize latency.

Drives 1000 turns of a scripted conversation through the compiled graph (Postgres checkpointer
and store from the project's factories, offline responder, no server) in two threads: one pruned
to its newest checkpoints every 50 turns (as the checkpointer's background job does), one never
pruned. Reports the prompt the model saw at turns 10, 100 and 1000 against the whole history's
size, the checkpoint bytes of each thread (from Postgres), the latest state's size, and the
summarize node's latency.

    .venv/bin/python bench/summaries.py            # --turns 1000 --budget 3000 --keep 20
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from _common import (
    conversation_turns,
    default_data_dir,
    emit,
    fresh_database,
    log,
    machine,
    offline_env,
    percentiles_ms,
)
from langchain_core.messages.utils import count_tokens_approximately
from turn import mirror

SIZE_SQL = {
    "checkpoints": "SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM checkpoints t "
                   "WHERE thread_id = %s",
    "writes": "SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM checkpoint_writes t "
              "WHERE thread_id = %s",
    "blobs": "SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM checkpoint_blobs t "
             "WHERE thread_id = %s",
}
LATEST_SQL = """
SELECT pg_column_size(c.*) + coalesce((
    SELECT sum(pg_column_size(b.*)) FROM checkpoint_blobs b
    WHERE b.thread_id = c.thread_id AND b.checkpoint_ns = c.checkpoint_ns
      AND c.checkpoint -> 'channel_versions' ->> b.channel = b.version), 0)
FROM checkpoints c WHERE thread_id = %s ORDER BY checkpoint_id DESC LIMIT 1
"""


async def storage(url: str, thread: str) -> dict[str, int]:
    """Bytes of a thread's rows in each checkpoint table, and of its latest state."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(url) as conn:
        sizes = {}
        for name, sql in SIZE_SQL.items():
            row = await (await conn.execute(sql, (thread,))).fetchone()
            sizes[f"{name}_bytes"] = int(row[0]) if row else 0
        row = await (await conn.execute(LATEST_SQL, (thread,))).fetchone()
        sizes["latest_state_bytes"] = int(row[0]) if row else 0
        row = await (await conn.execute(
            "SELECT count(*) FROM checkpoints WHERE thread_id = %s", (thread,))).fetchone()
        sizes["checkpoints"] = int(row[0]) if row else 0
    sizes["total_bytes"] = sum(v for k, v in sizes.items() if k.endswith("_bytes")
                               and k != "latest_state_bytes")
    return sizes


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Drive both threads and measure."""
    from agent.stores import checkpointer, store
    from store.database import connection_pool
    from store.maintenance import prune_checkpoints

    turns = conversation_turns(args.turns, args.seed)
    marks = sorted({10, 100, args.turns} & set(range(1, args.turns + 1)))
    sink: dict[str, list[float]] = defaultdict(list)
    result: dict[str, Any] = {"bench": "summaries", "turns": args.turns, "budget": args.budget,
                              "keep": args.keep}
    async with fresh_database("summaries", data_dir=args.data_dir, keep=args.keep_db) as (url, _):
        async with store() as memories, checkpointer() as saver, connection_pool(url) as pool:
            graph = mirror(sink).compile(checkpointer=saver, store=memories)
            threads = {"pruned": str(uuid.uuid4()), "unpruned": str(uuid.uuid4())}
            prompt: dict[int, int] = {}
            history_tokens = 0
            for number, text in enumerate(turns, start=1):
                for name, thread in threads.items():
                    values = await graph.ainvoke(
                        {"messages": [{"role": "user", "content": text}]},
                        {"configurable": {"thread_id": thread}},
                        context={"max_context_tokens": args.budget},
                    )
                    if name == "pruned":
                        reply = values["messages"][-1]
                        history_tokens += count_tokens_approximately(
                            [{"role": "user", "content": text}, reply])
                        if number in marks:
                            prompt[number] = reply.response_metadata["seen"]["prompt_tokens"]
                            log(f"turn {number}: prompt {prompt[number]} tokens, whole history "
                                f"{history_tokens}")
                            result[f"turn_{number}"] = {
                                "prompt_tokens": prompt[number],
                                "history_tokens": history_tokens,
                                "saved_percent": round(100 * (1 - prompt[number]
                                                              / max(history_tokens, 1)), 1),
                            }
                if number % 50 == 0:
                    await prune_checkpoints(pool, args.keep, [threads["pruned"]])
            for name, thread in threads.items():
                result[f"storage_{name}"] = await storage(url, thread)
    summarize_calls = [s for s in sink["summarize"]]
    result.update(percentiles_ms(summarize_calls, "summarize_node"))
    folding = [s for s in summarize_calls if s > 0.0005]
    result.update(percentiles_ms(folding, "summarize_node_when_folding"))
    result["machine"] = machine()
    return result


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--budget", type=int, default=3000, help="max_context_tokens of the run")
    parser.add_argument("--keep", type=int, default=20, help="checkpoints kept when pruning")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--keep-db", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    offline_env()
    began = time.perf_counter()
    result = asyncio.run(run(args))
    result["elapsed_s"] = round(time.perf_counter() - began, 1)
    emit(result)


if __name__ == "__main__":
    main()
