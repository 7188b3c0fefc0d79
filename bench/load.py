"""Load and faults through the real server: many concurrent threads, then an exactly-once audit.

Starts `langgraph dev` on a fresh database, drives `--threads` concurrent threads of `--turns`
turns each through langgraph-sdk (JWT users, 4 threads per user), and reports throughput, turn
latency p50/p95 and errors. Optionally SIGKILLs the server (`--kill-at S`) or restarts Postgres
(`--restart-db-at S`) in the middle; clients retry a failed turn (after checking the thread, so a
turn whose run completed is not sent twice). Afterwards every thread's state and every expected
memory is checked: each turn stores one memory with a distinct subject, so the store must hold
exactly one per turn. Before the audit, the time until every episode has its vector (filled by
the server's background worker, after a restart too) is measured, and every episode is checked
to have a vector or a place in the queue.

    .venv/bin/python bench/load.py                          # 200 threads x 5 turns
    .venv/bin/python bench/load.py --kill-at 20             # SIGKILL the server after 20 s
    .venv/bin/python bench/load.py --restart-db-at 20       # restart Postgres after 20 s
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from _common import default_data_dir, emit, fresh_database, log, machine, percentiles_ms

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import jwt  # noqa: E402
from langgraph_sdk import get_client  # noqa: E402
from langgraph_sdk.client import LangGraphClient  # noqa: E402

from store import embedded  # noqa: E402
from tests.e2e.conftest import Server  # noqa: E402

GRAPH = "memory_agent"
ISSUER, AUDIENCE = "https://auth.load.test", "engram"


def token(secret: str, user: str) -> str:
    now = int(time.time())
    return jwt.encode({"sub": user, "org": "load", "role": "member", "iss": ISSUER,
                       "aud": AUDIENCE, "iat": now, "exp": now + 7200}, secret, algorithm="HS256")


def statement(thread: int, turn: int) -> str:
    """A turn that stores one memory whose subject no other turn shares."""
    return f"Remember that ticket T{thread}-{turn} is assigned to me."


def values_of(state: Any) -> dict[str, Any]:
    """A thread state's values (the SDK types them loosely)."""
    values = state["values"]
    return values if isinstance(values, dict) else {}


class Stats:
    """What the clients saw."""

    def __init__(self) -> None:
        """Nothing seen yet."""
        self.latencies: list[float] = []
        self.errors: Counter[str] = Counter()
        self.retried = 0


async def turn_once(client: LangGraphClient, thread: str, text: str, stats: Stats) -> None:
    """Send one turn; on failure, retry unless the thread shows the turn already happened."""
    for attempt in range(30):
        began = time.perf_counter()
        try:
            payload: dict[str, Any] = {"messages": [{"role": "user", "content": text}]}
            await client.runs.wait(thread, GRAPH, input=payload)
            stats.latencies.append(time.perf_counter() - began)
            return
        except (httpx.HTTPError, OSError, Exception) as err:  # noqa: BLE001 - counted by kind
            stats.errors[type(err).__name__] += 1
            await asyncio.sleep(min(0.5 * (attempt + 1), 3))
            try:
                state = await client.threads.get_state(thread)
                messages = values_of(state).get("messages", [])
                if any(m.get("content") == text for m in messages if m.get("type") == "human"):
                    if not state["next"]:
                        return  # the run completed before the failure was seen
            except Exception:  # noqa: BLE001 - the server may still be down; retry the turn
                pass
            stats.retried += 1
    raise RuntimeError(f"turn on {thread} failed 30 times")


async def drive(server: Server, secret: str, threads: int, turns: int,
                stats: Stats) -> list[tuple[str, str, int]]:
    """Run all threads concurrently; return (user, thread id, thread number)."""
    clients: dict[str, LangGraphClient] = {}
    created: list[tuple[str, str, int]] = []
    for number in range(threads):
        user = f"user{number // 4}"
        if user not in clients:
            clients[user] = get_client(url=server.url, headers={
                "Authorization": f"Bearer {token(secret, user)}"}, timeout=120)
        thread = await clients[user].threads.create()
        created.append((user, thread["thread_id"], number))

    async def conversation(user: str, thread: str, number: int) -> None:
        for turn in range(turns):
            await turn_once(clients[user], thread, statement(number, turn), stats)

    await asyncio.gather(*(conversation(*entry) for entry in created))
    return created


async def audit(server: Server, secret: str, created: list[tuple[str, str, int]],
                turns: int) -> dict[str, Any]:
    """Every thread whole, every memory exactly once, at most one episode per turn and role."""
    bad_threads, memories, duplicates, missing = 0, 0, 0, 0
    extra_episodes = missing_episodes = user_episodes = assistant_episodes = 0
    by_user: dict[str, list[tuple[str, int]]] = {}
    for user, thread, number in created:
        by_user.setdefault(user, []).append((thread, number))
    for user, entries in by_user.items():
        client = get_client(url=server.url, headers={
            "Authorization": f"Bearer {token(secret, user)}"})
        for thread, _ in entries:
            state = await client.threads.get_state(thread)
            humans = [m for m in values_of(state).get("messages", []) if m["type"] == "human"]
            if state["next"] or len(humans) != turns:
                bad_threads += 1
        everything = (await client.store.search_items(("memories",), limit=1000))["items"]
        items = [i for i in everything if i["value"].get("kind") != "episode"]
        # Episodes are counted per turn by where they belong (thread and role), not by text:
        # short answers of different turns may say the same words.
        per_thread = Counter((i["value"]["source"]["thread_id"], i["value"]["role"])
                             for i in everything if i["value"].get("kind") == "episode")
        for thread, _ in entries:
            extra_episodes += max(0, per_thread[(thread, "user")] - turns)
            extra_episodes += max(0, per_thread[(thread, "assistant")] - turns)
            missing_episodes += max(0, turns - per_thread[(thread, "user")])
            user_episodes += per_thread[(thread, "user")]
            assistant_episodes += per_thread[(thread, "assistant")]
        texts = Counter(item["value"]["text"] for item in items)
        memories += len(items)
        duplicates += sum(n - 1 for n in texts.values() if n > 1)
        for _, number in entries:
            for turn in range(turns):
                expected = f"Ticket T{number}-{turn} is assigned to me."
                missing += expected not in texts
    return {"threads_checked": len(created), "threads_not_whole": bad_threads,
            "memories": memories, "memories_expected": len(created) * turns,
            "duplicate_memories": duplicates, "missing_memories": missing,
            "user_episodes": user_episodes, "assistant_episodes": assistant_episodes,
            "extra_episodes": extra_episodes, "missing_user_episodes": missing_episodes}


async def vectors_settled(url: str, limit_s: float = 300) -> dict[str, Any]:
    """Wait for the queue of pending vectors to empty; how long it took, and any episode lost.

    An episode is lost when it has no vector and is not queued for one (must be none).
    """
    import psycopg

    began = time.monotonic()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        async def count(sql: str) -> int:
            row = await (await conn.execute(sql)).fetchone()
            return int(row[0]) if row else 0

        pending_at_start = await count("SELECT count(*) FROM engram_pending_vectors")
        while (pending := await count("SELECT count(*) FROM engram_pending_vectors")) and \
                time.monotonic() - began < limit_s:
            await asyncio.sleep(0.1)
        lost = await count(
            "SELECT count(*) FROM store s WHERE s.value->>'kind' = 'episode' AND NOT EXISTS ("
            "SELECT 1 FROM store_vectors v WHERE v.prefix = s.prefix AND v.key = s.key) "
            "AND NOT EXISTS (SELECT 1 FROM engram_pending_vectors p "
            "WHERE p.prefix = s.prefix AND p.key = s.key)")
        episodes = await count("SELECT count(*) FROM store WHERE value->>'kind' = 'episode'")
    return {"episodes": episodes, "vectors_pending_after_load": pending_at_start,
            "seconds_until_every_vector_filled": round(time.monotonic() - began, 2),
            "vectors_still_pending": pending, "episodes_without_vector_or_queue": lost}


async def fault(server: Server, kill_at: float | None, restart_db_at: float | None,
                events: list[str]) -> None:
    """Inject the requested fault once, and log what was done when."""
    began = time.monotonic()
    if kill_at is not None:
        await asyncio.sleep(kill_at)
        server.kill()
        events.append(f"SIGKILL server at {time.monotonic() - began:.1f} s")
        await asyncio.sleep(2)
        await asyncio.to_thread(server.start)
        events.append(f"server back at {time.monotonic() - began:.1f} s")
    if restart_db_at is not None:
        await asyncio.sleep(restart_db_at)
        data_dir = default_data_dir()
        await asyncio.to_thread(embedded.stop, data_dir)
        events.append(f"Postgres stopped at {time.monotonic() - began:.1f} s")
        await asyncio.sleep(3)
        await asyncio.to_thread(embedded.ensure_running, data_dir)
        events.append(f"Postgres back at {time.monotonic() - began:.1f} s")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the server on a fresh database, load it, audit."""
    secret = secrets.token_urlsafe(48)
    async with fresh_database("load", data_dir=default_data_dir(), keep=args.keep) as (url, _):
        workdir = Path(tempfile.mkdtemp(prefix="engram-load-"))
        env = {"DATABASE_URL": url, "ENGRAM_AUTH": "jwt", "ENGRAM_JWT_SECRET": secret,
               "ENGRAM_JWT_ISSUER": ISSUER, "ENGRAM_JWT_AUDIENCE": AUDIENCE,
               "LANGSMITH_TRACING": "false", "LANGGRAPH_CLI_NO_ANALYTICS": "1",
               "LANGGRAPH_NO_VERSION_CHECK": "true", "MODEL": "", "ENGRAM_DEV_TOKENS": ""}
        server = Server(workdir, env, extra_args=["--n-jobs-per-worker", str(args.jobs)])
        server.start()
        stats, events = Stats(), list[str]()
        try:
            began = time.perf_counter()
            injector = asyncio.create_task(fault(server, args.kill_at, args.restart_db_at, events))
            created = await drive(server, secret, args.threads, args.turns, stats)
            elapsed = time.perf_counter() - began
            await injector
            log(f"{len(stats.latencies)} turns in {elapsed:.1f} s; vectors, then auditing")
            vectors = await vectors_settled(url)
            checked = await audit(server, secret, created, args.turns)
        finally:
            server.stop()
    return {
        "bench": "load", "threads": args.threads, "turns_per_thread": args.turns,
        "jobs_per_worker": args.jobs, "turns_completed": len(stats.latencies),
        "elapsed_s": round(elapsed, 1), "turns_per_s": round(len(stats.latencies) / elapsed, 2),
        **percentiles_ms(stats.latencies, "turn"), "errors": dict(stats.errors),
        "retried_turns": stats.retried, "faults": events, "audit": checked, "vectors": vectors,
        "machine": machine(),
    }


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=200)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=10, help="langgraph dev --n-jobs-per-worker")
    parser.add_argument("--kill-at", type=float, help="SIGKILL the server after this many s")
    parser.add_argument("--restart-db-at", type=float, help="restart Postgres after this many s")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    os.environ.update({"LANGSMITH_TRACING": "false"})
    emit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
