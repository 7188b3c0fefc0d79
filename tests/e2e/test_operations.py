"""What operators and Studio rely on: schemas, the graph, metrics and readiness."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.conftest import mint
from tests.e2e.conftest import Server
from tests.e2e.helpers import GRAPH, say

pytestmark = pytest.mark.e2e

Clients = Callable[[str], LangGraphClient]


async def test_studio_sees_the_context_form_and_the_nodes_with_the_tool_loop(client_for: Clients) -> None:
    alice = client_for("alice")
    (assistant,) = await alice.assistants.search(graph_id=GRAPH)
    schemas = await alice.assistants.get_schemas(assistant["assistant_id"])
    fields = schemas["context_schema"]["properties"]
    assert set(fields) == {"model", "approval", "max_context_tokens", "memory_limit",
                           "min_relevance"}
    assert all(field.get("description") for field in fields.values())
    graph = await alice.assistants.get_graph(assistant["assistant_id"])
    nodes = {node["id"] for node in graph["nodes"]}
    assert {"summarize", "retrieve", "agent", "memory_tools", "write_memory",
            "approve_memory"} <= nodes
    edges = {(edge["source"], edge["target"]) for edge in graph["edges"]}
    # The model's tool loop beside the agent, drawn so in Studio; write_memory once, after it.
    assert {("agent", "memory_tools"), ("memory_tools", "agent"), ("agent", "write_memory")} <= edges


async def test_metrics_count_the_pipeline_without_user_content(
    server: Server, client_for: Clients
) -> None:
    alice = client_for("alice")
    thread = await alice.threads.create()
    await say(alice, thread["thread_id"], "My favourite tea is genmaicha.")
    await say(alice, thread["thread_id"], "Which tea do I like?")
    async with httpx.AsyncClient(base_url=server.url) as http:
        member = await http.get("/engram/metrics",
                                headers={"Authorization": f"Bearer {mint('alice', 'acme')}"})
        scraped = await http.get(
            "/engram/metrics", headers={"Authorization": f"Bearer {mint('ops', 'acme', 'service')}"})
    assert member.status_code == 403
    assert scraped.status_code == 200
    text = scraped.text
    assert 'engram_retrievals_total{outcome="hit"}' in text
    assert 'engram_node_seconds_bucket{le="0.001",node="retrieve"}' in text
    assert 'engram_memory_operations_total{action="add",status="applied"}' in text
    assert "genmaicha" not in text and "alice" not in text
    assert 'engram_vectors{state="pending"}' in text
    assert 'engram_vector_oldest_pending_seconds' in text
    # The turns' episodes get their vectors from the server's worker, counted here.
    filled = 0.0
    for _ in range(100):
        async with httpx.AsyncClient(base_url=server.url) as http:
            text = (await http.get("/engram/metrics", headers={
                "Authorization": f"Bearer {mint('ops', 'acme', 'service')}"})).text
        filled = next(float(line.split()[-1]) for line in text.splitlines()
                      if line.startswith('engram_vectors{state="filled"}'))
        if filled >= 2:
            break
        await asyncio.sleep(0.2)
    assert filled >= 2


async def test_readiness_checks_database_vectors_and_model(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.get("/engram/ready")).status_code == 401
        response = await http.get(
            "/engram/ready", headers={"Authorization": f"Bearer {mint('ops', 'acme', 'service')}"})
    assert response.status_code == 200 and response.json()["ready"] is True


async def test_logs_are_json_with_ids_and_never_content(server: Server, client_for: Clients) -> None:
    alice = client_for("alice")
    thread = await alice.threads.create()
    await say(alice, thread["thread_id"], "Remember that my locker code is hidden-kumquat.")
    await say(alice, thread["thread_id"], "What is my locker code?")
    events = []
    for line in server.log.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    ours = [e for e in events if e.get("thread_id") == thread["thread_id"]
            and str(e.get("event", "")).startswith(("memory_retrieval", "memory_write"))]
    assert {e["event"].split()[0] for e in ours} == {"memory_retrieval", "memory_write"}
    assert all(e["user_id"] == "alice" and e["run_id"] for e in ours)
    assert "kumquat" not in json.dumps(ours)
