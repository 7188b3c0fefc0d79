"""One member cannot stall everyone: refusals at every edge, and a neighbour's turns under attack.

Starts `langgraph dev` on a fresh database (JWT users, loopback only) and measures, through the
real server:

1. Refusals: a 1 MiB body (and a body inside the byte limit whose text breaks a field's limit)
   sent `--tries` times to every edge that accepts text; the time to its 413 or 422.
2. Noisy neighbour: a victim runs `--turns` turns in its own thread, alone (quiet), then while an
   attacker (another member) loops worst-case requests on `--attackers` connections (noisy),
   then alone again. The attacker's requests are the largest each route accepts, filled with
   the scrubber's worst shapes (tests/data/hostile_texts.py), plus oversized ones, through the
   server's routes, Mem0's routes and MCP (`--attacks` picks some). The goal: the victim's noisy
   p50 within 1.5x of its quiet p50 (both quiet phases pooled, same run); 1.2x with only the
   Mem0 and MCP doors attacking (`--attacks "mem0 add" "mem0 search" "mcp remember" "mcp search"`).

    .venv/bin/python bench/neighbour.py                 # --turns 30 --attackers 2 --tries 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from itertools import cycle
from pathlib import Path
from typing import Any

import httpx
from _common import default_data_dir, emit, fresh_database, log, machine, percentiles_ms

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import jwt  # noqa: E402

from agent.memory.model.schema import Identity, memory_namespace  # noqa: E402
from tests.data.hostile_texts import SHAPES, hostile  # noqa: E402
from tests.e2e.conftest import Server  # noqa: E402

GRAPH = "memory_agent"
ISSUER, AUDIENCE, ORG = "https://auth.neighbour.test", "engram", "bench"
MIB = 1024 * 1024
GOAL_RATIO = 1.5
Body = Callable[[str], tuple[str, str, Any]]
"""(method, path, JSON body) of one request, given the attacker's thread id."""


def token(secret: str, user: str) -> str:
    now = int(time.time())
    return jwt.encode({"sub": user, "org": ORG, "role": "member", "iss": ISSUER,
                       "aud": AUDIENCE, "iat": now, "exp": now + 7200}, secret, algorithm="HS256")


def messages(texts: list[str]) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text} for text in texts]}


def refusals(namespace: list[str]) -> dict[str, Body]:
    """Requests every edge must refuse before any work: a 1 MiB body, or a field over its limit."""
    big = hostile("1-", MIB)
    return {
        "store put 1 MiB": lambda t: ("PUT", "/store/items", {
            "namespace": namespace, "key": "k", "value": {"text": big}}),
        "store put text over 2,000": lambda t: ("PUT", "/store/items", {
            "namespace": namespace, "key": "k", "value": {"text": big[:60_000]}}),
        "store search 1 MiB": lambda t: ("POST", "/store/items/search", {
            "namespace_prefix": namespace, "query": big}),
        "run 1 MiB": lambda t: ("POST", f"/threads/{t}/runs/wait", {
            "assistant_id": GRAPH, "input": messages([big])}),
        "run message over 32,000": lambda t: ("POST", f"/threads/{t}/runs/wait", {
            "assistant_id": GRAPH, "input": messages([big[:900_000]])}),
        "approval edit 1 MiB": lambda t: ("POST", f"/threads/{t}/runs/wait", {
            "assistant_id": GRAPH, "command": {"resume": {"op": {"edit": big}}}}),
        "state update 1 MiB": lambda t: ("POST", f"/threads/{t}/state", {
            "values": {"summary": big}}),
        "import 1 MiB message": lambda t: ("POST", "/engram/import", {"sessions": [
            {"date": "2024-01-01", "messages": [{"role": "user", "content": big}]}]}),
        "import 5 MiB": lambda t: ("POST", "/engram/import", {"sessions": [
            {"date": "2024-01-01", "messages": [{"role": "user", "content": big * 5}]}]}),
        "console edit 1 MiB": lambda t: ("PATCH", "/engram/memories/k", {"text": big}),
        "mcp remember 1 MiB": lambda t: ("POST", "/engram/mcp", {
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "remember", "arguments": {"text": big}}}),
    }


def attacks(namespace: list[str]) -> dict[str, Body]:
    """The largest request each route accepts, filled with the scrubber's worst shapes."""
    worst = [hostile(unit, 32_000) for _, unit in SHAPES]
    shapes = cycle(worst)
    refused = cycle(refusals(namespace).values())
    two_thousand = [text[:2_000] for text in worst]
    return {
        "run": lambda t: ("POST", f"/threads/{t}/runs/wait", {
            "assistant_id": GRAPH, "input": messages([next(shapes) for _ in range(20)])}),
        "import": lambda t: ("POST", "/engram/import", {"sessions": [
            {"date": "2024-01-01", "messages": [{"role": "user", "content": next(shapes)}
                                                for _ in range(100)]}]}),
        "store put": lambda t: ("PUT", "/store/items", {
            "namespace": namespace, "key": secrets.token_hex(4),
            "value": {"text": two_thousand[0]}}),
        "store search": lambda t: ("POST", "/store/items/search", {
            "namespace_prefix": namespace, "query": two_thousand[1]}),
        "refused": lambda t: next(refused)(t),
        "mem0 add": lambda t: ("POST", "/v3/memories/add/", {"messages": [
            {"role": "user", "content": next(shapes)[:30_000]} for _ in range(30)]}),
        "mem0 search": lambda t: ("POST", "/v3/memories/search/", {
            "query": two_thousand[2], "filters": {"OR": [{"agent_id": f"a{n}"} for n in range(31)]}}),
        "mcp remember": lambda t: ("POST", "/engram/mcp", {
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "remember", "arguments": {"text": two_thousand[3] * 2}}}),
        "mcp search": lambda t: ("POST", "/engram/mcp", {
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "search_memory", "arguments": {"query": two_thousand[4],
                                                              "limit": 50}}}),
    }


async def request(http: httpx.AsyncClient, thread: str, body: Body) -> tuple[int, float]:
    method, path, payload = body(thread)
    data = json.dumps(payload)
    began = time.perf_counter()
    response = await http.request(method, path, content=data, headers={
        "content-type": "application/json", "Accept": "application/json, text/event-stream"})
    return response.status_code, time.perf_counter() - began


async def victim_turns(http: httpx.AsyncClient, thread: str, turns: int, phase: str,
                       seen: list[float]) -> None:
    for number in range(turns):
        text = f"Remember that my {phase} note {number} is about the garden."
        began = time.perf_counter()
        response = await http.post(f"/threads/{thread}/runs/wait", json={
            "assistant_id": GRAPH, "input": messages([text])})
        response.raise_for_status()
        seen.append(time.perf_counter() - began)


async def attacker(http: httpx.AsyncClient, thread: str, bodies: list[Body], stop: asyncio.Event,
                   statuses: Counter[str]) -> None:
    for body in cycle(bodies):
        if stop.is_set():
            return
        try:
            status, _ = await request(http, thread, body)
            statuses[str(status)] += 1
        except httpx.HTTPError as err:
            statuses[type(err).__name__] += 1


@asynccontextmanager
async def serving(label: str, secret: str) -> AsyncIterator[Server]:
    """`langgraph dev` on a fresh database, JWT users signed with `secret`, loopback only."""
    async with fresh_database(label, data_dir=default_data_dir()) as (url, _):
        env = {"DATABASE_URL": url, "ENGRAM_AUTH": "jwt", "ENGRAM_JWT_SECRET": secret,
               "ENGRAM_JWT_ISSUER": ISSUER, "ENGRAM_JWT_AUDIENCE": AUDIENCE,
               "LANGSMITH_TRACING": "false", "LANGGRAPH_CLI_NO_ANALYTICS": "1",
               "LANGGRAPH_NO_VERSION_CHECK": "true", "MODEL": "", "ENGRAM_DEV_TOKENS": ""}
        server = Server(Path(tempfile.mkdtemp(prefix=f"engram-{label}-")), env)
        server.start()
        try:
            yield server
        finally:
            server.stop()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the server on a fresh database; refusals, then the quiet/noisy/quiet phases."""
    secret = secrets.token_urlsafe(48)
    async with serving("neighbour", secret) as server:
        return await measure(server, secret, args)


def client(server: Server, secret: str, user: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, timeout=600, headers={
        "Authorization": f"Bearer {token(secret, user)}"})


async def measure(server: Server, secret: str, args: argparse.Namespace) -> dict[str, Any]:
    namespace = list(memory_namespace(Identity("mallory", ORG)))
    async with client(server, secret, "mallory") as bad, client(server, secret, "vic") as vic:
        bad_thread = (await bad.post("/threads", json={})).json()["thread_id"]
        vic_thread = (await vic.post("/threads", json={})).json()["thread_id"]
        await victim_turns(vic, vic_thread, 3, "warm-up", [])

        refused: dict[str, dict[str, Any]] = {}
        for name, body in refusals(namespace).items():
            timings, codes = [], set()
            for _ in range(args.tries):
                status, took = await request(bad, bad_thread, body)
                timings.append(took)
                codes.add(status)
            refused[name] = {"status": sorted(codes), "ms_p50": round(
                statistics.median(timings) * 1000, 1), "ms_max": round(max(timings) * 1000, 1)}
            log(f"{name:28} {sorted(codes)} p50 {refused[name]['ms_p50']} ms")

        quiet: list[float] = []
        await victim_turns(vic, vic_thread, args.turns // 2, "quiet", quiet)
        noisy: list[float] = []
        stop, statuses = asyncio.Event(), Counter[str]()
        threads = [(await bad.post("/threads", json={})).json()["thread_id"]
                   for _ in range(args.attackers)]
        chosen = [body for name, body in attacks(namespace).items()
                  if not args.attacks or name in args.attacks]
        loops = [asyncio.create_task(attacker(bad, thread, chosen, stop, statuses))
                 for thread in threads]
        began = time.perf_counter()
        await victim_turns(vic, vic_thread, args.turns, "noisy", noisy)
        noisy_s = time.perf_counter() - began
        stop.set()
        await asyncio.gather(*loops)
        await victim_turns(vic, vic_thread, args.turns - args.turns // 2, "quiet again", quiet)
    quiet_p50 = statistics.median(quiet)
    noisy_p50 = statistics.median(noisy)
    return {
        "bench": "neighbour", "turns": args.turns, "attackers": args.attackers,
        "attacks": args.attacks or list(attacks([])),
        **percentiles_ms(quiet, "victim_quiet"), **percentiles_ms(noisy, "victim_noisy"),
        "victim_p50_ratio": round(noisy_p50 / quiet_p50, 3), "goal_ratio": GOAL_RATIO,
        "attacker_requests": sum(statuses.values()), "attacker_statuses": dict(statuses),
        "attack_s": round(noisy_s, 1), "refusals": refused,
        "slowest_refusal_ms_p50": max(r["ms_p50"] for r in refused.values()),
        "machine": machine(),
    }


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=30, help="victim turns per phase")
    parser.add_argument("--attackers", type=int, default=2, help="concurrent attacker loops")
    parser.add_argument("--tries", type=int, default=5, help="sends of each refused request")
    parser.add_argument("--attacks", nargs="*", choices=list(attacks([])),
                        help="only these attacks (default: all, in turn)")
    emit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
