"""The service's bounded inputs and the edge's rules, without a server.

Filters (agent/memory/read/filters.py): bounds checked before any part is read, values scalar,
evaluation as Mem0 documents it. Metadata: flat, bounded, scrubbed. The edge
(agent/server/edge.py): reviewed routes only, under a mount prefix too, and a fair share of
expensive requests per member. Large-text work: one text of each owner in the worker's queue.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send

from agent.memory.model.checks import InvalidCorrection, check_metadata
from agent.memory.model.limits import MAX_FILTER_DEPTH, MAX_FILTER_PARTS
from agent.memory.read import filters
from agent.memory.text import offload
from agent.server import edge, tokens
from tests.conftest import JWT_AUDIENCE, JWT_ISSUER, JWT_SECRET, mint

FIELDS = {"user_id": "ann", "agent_id": "planner", "app_id": None, "run_id": None,
          "categories": ["preference"], "metadata": {"source": "crm", "tier": 2},
          "created_at": "2026-12-07T10:00:00+00:00", "updated_at": "2026-12-07T10:00:00+00:00"}


@pytest.mark.parametrize(("raw", "kept"), [
    ({"agent_id": "planner"}, True),
    ({"agent_id": {"in": ["a", "planner"]}}, True),
    ({"agent_id": {"ne": "planner"}}, False),
    ({"app_id": "*"}, False),
    ({"categories": {"in": ["fact"]}}, False),
    ({"metadata": {"source": "crm", "tier": 2}}, True),
    ({"created_at": {"lte": "2026-12-07"}}, True),  # a date bound includes its whole day
    ({"created_at": {"gt": "2026-12-07T11"}}, False),
    ({"OR": [{"agent_id": "x"}, {"NOT": {"app_id": "*"}}]}, True),
    ({"AND": [{"user_id": "ann"}, {"NOT": [{"agent_id": "planner"}]}]}, False),
])
def test_a_filter_keeps_what_it_says(raw: dict[str, Any], kept: bool) -> None:
    assert filters.matches(filters.parse(raw), FIELDS) is kept


@pytest.mark.parametrize(("raw", "says"), [
    ({"OR": [{}] * 300_000}, "at most"),
    ({"AND": [{"agent_id": str(n)} for n in range(MAX_FILTER_PARTS + 1)]}, "at most"),
    ({f"k{n}": 1 for n in range(MAX_FILTER_PARTS + 1)}, "parts"),
    ({"categories": {"in": [{}]}}, "string, a number"),
    ({"metadata": {"a": [1]}}, "string, a number"),
    ({"mood": "happy"}, "unsupported filter"),
    ({"OR": {"agent_id": "a"}}, "takes a list"),
    ({"created_at": {"after": "2026"}}, "'gte'"),
    ("agent_id", "must be an object"),
])
def test_a_filter_past_a_limit_or_of_a_wrong_shape_is_refused(raw: Any, says: str) -> None:
    with pytest.raises(InvalidCorrection, match=says):
        filters.parse(raw)


def test_depth_is_counted_without_recursion_and_refused_before_any_part_is_read() -> None:
    deep: Any = {"agent_id": "a"}
    for _ in range(100_000):  # far past Python's recursion limit
        deep = {"NOT": deep}
    with pytest.raises(InvalidCorrection, match="deeper than"):
        filters.parse(deep)
    shallow: Any = {"agent_id": "planner"}
    for _ in range(MAX_FILTER_DEPTH):
        shallow = {"NOT": shallow}
    assert filters.matches(filters.parse(shallow), FIELDS) is (MAX_FILTER_DEPTH % 2 == 0)


def test_metadata_is_flat_bounded_and_scrubbed() -> None:
    kept = check_metadata({"note": "mail eve.doe@example.com", "n": 3, "ok": True})
    assert kept is not None and "eve.doe@example.com" not in kept["note"]
    assert kept["n"] == 3 and kept["ok"] is True
    for bad, says in [({"a": {"b": 1}}, "flat"), ({"a": "x" * 501}, "at most 500"),
                      ({f"k{n}": 1 for n in range(17)}, "at most 16"), ({"a": "x\x00"}, "U\\+0000"),
                      ("text", "an object")]:
        with pytest.raises(InvalidCorrection, match=says):
            check_metadata(bad)


def _scope(path: str, method: str = "GET", root_path: str = "",
           token: str | None = None) -> dict[str, Any]:
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    return {"type": "http", "method": method, "path": root_path + path, "root_path": root_path,
            "headers": headers, "query_string": b""}


@pytest.mark.parametrize("prefix", ["", "/api"])
def test_only_reviewed_routes_pass_the_edge_with_or_without_a_mount_prefix(prefix: str) -> None:
    allowed = [("GET", "/ok"), ("POST", "/threads/t1/runs/wait"), ("PUT", "/store/items"),
               ("GET", "/threads/t1/state"), ("HEAD", "/assistants/a1"),
               ("OPTIONS", "/threads/t1/runs")]
    denied = [("POST", "/threads/t1/commands"), ("POST", "/threads/t1/stream/events"),
              ("POST", "/threads/prune"), ("GET", "/profile"), ("POST", "/mcp"),
              ("POST", "/a2a/x"), ("POST", "/some/new/route"), ("DELETE", "/threads/t1/state")]
    for method, path in allowed:
        assert edge.is_reviewed(_scope(path, method, prefix), []), (method, path)
    for method, path in denied:
        assert not edge.is_reviewed(_scope(path, method, prefix), []), (method, path)
    assert not edge.is_reviewed({"type": "websocket", "path": "/threads/t/stream/events",
                                 "root_path": prefix, "headers": []}, [])


async def test_a_member_past_the_fair_share_gets_429_and_others_do_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(edge, "caller_for", _caller)
    release = asyncio.Event()
    entered: list[str] = []

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        entered.append(scope["path"])
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    gate = edge.Edge(slow, concurrent=2)

    async def call(token: str, method: str = "POST") -> tuple[int, dict[bytes, bytes]]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": json.dumps({}).encode(), "more_body": False}

        async def send(message: Any) -> None:
            sent.append(message)

        await gate(_scope("/threads/search", method, token=token), receive, send)
        return sent[0]["status"], dict(sent[0].get("headers", []))

    busy = [asyncio.create_task(call("ann")) for _ in range(2)]
    await asyncio.sleep(0.01)
    status, headers = await call("ann")
    assert status == 429 and headers[b"retry-after"] == b"1"
    reading = asyncio.create_task(call("ann", "GET"))  # reads are not counted
    other = asyncio.create_task(call("bob"))
    await asyncio.sleep(0.01)
    assert len(entered) == 4  # ann's two, her read, bob's
    release.set()
    assert [s for s, _ in await asyncio.gather(*busy, reading, other)] == [200, 200, 200, 200]
    assert gate.in_flight == {}
    assert (await call("ann"))[0] == 200  # her share is back


def _caller(token: str) -> Any:
    from agent.server.tokens import Caller

    return Caller(token, "acme", "member")


async def test_each_owner_has_one_text_in_the_workers_queue_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = asyncio.Lock()  # one worker process: first come, first served
    order: list[str] = []

    async def in_worker(work: Any, args: Any, kwargs: Any) -> Any:
        queued = asyncio.ensure_future(worker.acquire())
        await asyncio.sleep(0)
        await queued
        try:
            order.append(args[0])
            await asyncio.sleep(0.005)
            return args[0]
        finally:
            worker.release()

    monkeypatch.setattr(offload, "_in_worker", in_worker)

    async def text_of(owner: str, name: str) -> str:
        with offload.owned_by(owner):
            return await offload.sized(offload.OFF_LOOP_CHARS + 1, str, name)

    flood = [asyncio.create_task(text_of("ann", f"ann-{n}")) for n in range(4)]
    await asyncio.sleep(0)
    late = asyncio.create_task(text_of("bob", "bob-0"))
    await asyncio.gather(*flood, late)
    assert order.index("bob-0") <= 1  # not behind all of ann's texts
    assert offload._lanes == {} and not offload._waiting


def test_a_token_names_its_member_for_the_fair_share(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"ENGRAM_AUTH": "jwt", "ENGRAM_JWT_SECRET": JWT_SECRET,
                        "ENGRAM_JWT_ISSUER": JWT_ISSUER,
                        "ENGRAM_JWT_AUDIENCE": JWT_AUDIENCE}.items():
        monkeypatch.setenv(name, value)
    tokens.settings.cache_clear()
    try:
        assert edge.member_of(_scope("/runs/wait", "POST", token=mint("ann", "acme"))) == \
            "acme/ann"
        assert edge.member_of(_scope("/runs/wait", "POST", token="forged")) is None
        assert edge.member_of(_scope("/runs/wait", "POST")) is None
    finally:
        tokens.settings.cache_clear()


@pytest.mark.parametrize(("role", "shows_reason"), [("member", False), ("admin", True),
                                                    ("service", True)])
async def test_readiness_tells_members_what_is_wrong_without_internals(
    monkeypatch: pytest.MonkeyPatch, role: str, shows_reason: bool,
) -> None:
    from starlette.requests import Request

    from agent.server import webapp

    async def dead_store() -> Any:
        raise OSError("connection to db.internal:5432 failed for user engram_admin")

    monkeypatch.setattr(webapp, "server_store", dead_store)
    request = Request({"type": "http", "method": "GET", "path": "/engram/ready", "headers": [],
                       "user": {"role": role}})
    answer = json.loads(bytes((await webapp.ready(request)).body))
    assert answer["ready"] is False
    assert ("db.internal" in answer["error"]) is shows_reason
    assert "does not answer" in answer["error"] or shows_reason
