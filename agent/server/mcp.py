"""Engram's memory as Model Context Protocol tools, over streamable HTTP at `/engram/mcp`.

Built with the official MCP SDK. The route sits behind our auth like every custom route, so a
call without a valid bearer token never reaches a tool, and each tool acts only on the caller's
own memories (and reads their organisation's shared ones).

`remember` is a turn without an answer: it creates a thread for the caller and runs the graph's
write path on it (scrubbing, extraction, reconciliation, episodes, the approval gate), through
the server's own API under the caller's token. A gated write leaves that thread waiting at the
approval gate, where the console or any SDK client approves it. `forget` deletes at once, unless
the policy gates deletions: then it waits at the approval gate of a thread of its own, the same
way. The policy is ENGRAM_MCP_APPROVAL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, cast

import httpx
from langgraph_sdk.client import LangGraphClient
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from agent.context import ApprovalPolicy
from agent.context import Context as RunContext
from agent.memory.model.checks import MAX_QUERY_CHARS
from agent.memory.model.limits import MAX_TOOL_RESULTS
from agent.memory.service import MemoryOperation, MemoryService, check_message, status_of
from agent.server.common import caller_of, server_store

GRAPH = "memory_agent"
APPROVAL_ENV = "ENGRAM_MCP_APPROVAL"
Limit = Annotated[int, Field(ge=1, le=MAX_TOOL_RESULTS,
                             description=f"How many memories to return (1-{MAX_TOOL_RESULTS}).")]
Query = Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS,
                             description="What to look for, in words.")]

server: MCPServer[Any] = MCPServer(
    name="engram",
    instructions=(
        "Engram is the user's long-term memory. search_memory before answering questions about "
        "the user; remember what they ask you to keep; forget what they ask you to drop."
    ),
)


def approval_policy() -> ApprovalPolicy:
    """The approval policy of writes made through MCP (ENGRAM_MCP_APPROVAL, default: the run's)."""
    policy = os.environ.get(APPROVAL_ENV) or RunContext().approval
    if policy not in ("never", "on_change", "always"):
        raise ValueError(f"{APPROVAL_ENV} must be never, on_change or always, got {policy!r}")
    return cast(ApprovalPolicy, policy)


def _request(ctx: Context[Any, Any]) -> Request:
    request = ctx.request_context.request
    if not isinstance(request, Request):
        raise ToolError("Engram's MCP tools are served over streamable HTTP only")
    return request


async def _memory(ctx: Context[Any, Any]) -> MemoryService:
    """The caller's memory, under the MCP approval policy."""
    identity = caller_of(_request(ctx))
    if isinstance(identity, JSONResponse):
        raise ToolError(bytes(identity.body).decode())
    return MemoryService(await server_store(), identity, approval_policy())


@asynccontextmanager
async def _refusals() -> AsyncIterator[None]:
    """The service's refusals as tool errors (their message says what to send instead)."""
    try:
        yield
    except Exception as err:
        if status_of(err) is None:
            raise
        raise ToolError(str(err)) from err


def _as_caller(request: Request) -> LangGraphClient:
    """The server's own API, in process, authenticated as the caller (never the no-auth route)."""
    from langgraph_api.server import app

    return LangGraphClient(httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://engram",
        headers={"Authorization": request.headers.get("authorization", "")},
        timeout=httpx.Timeout(120),
    ))


def _message(text: str) -> dict[str, str]:
    return {"type": "human", "content": text, "id": str(uuid.uuid4())}


async def _write_in_thread(
    request: Request, memory: MemoryService, message: dict[str, str],
    gated: MemoryOperation | None = None,
) -> tuple[str, dict[str, Any], bool]:
    """Run the graph's write path for `message` in a new thread of the caller's.

    With `gated`, the turn holds that operation for approval (MemoryService.hold_for_approval),
    so write_memory hands it to the approval gate instead of learning from the message. Returns
    the thread, its values, and whether it waits.
    """
    async with _as_caller(request) as client:
        thread = await client.threads.create(metadata={"source": "mcp"}, graph_id=GRAPH)
        thread_id = thread["thread_id"]
        if gated is not None:
            await memory.hold_for_approval(thread_id, message["id"], gated)
        await client.threads.update_state(thread_id, {"messages": [message]}, as_node="agent")
        await client.runs.wait(thread_id, GRAPH, input=None,
                               context={"approval": memory.approval})
        state = await client.threads.get_state(thread_id)
    return thread_id, cast(dict[str, Any], state["values"]), bool(state["next"])


@server.tool()
async def search_memory(query: Query, ctx: Context[Any, Any], limit: Limit = 5) -> list[dict[str, Any]]:
    """Search the user's memories (facts, preferences, past conversation) by meaning and words.

    Ranked as Engram's own retrieval ranks them; the best first.
    """
    memory = await _memory(ctx)
    if not query.strip():
        raise ToolError("query must not be empty")
    async with _refusals():
        return [memory.present(item) for item in await memory.search(query, limit)]


@server.tool()
async def recent_memories(ctx: Context[Any, Any], limit: Limit = 10) -> list[dict[str, Any]]:
    """The user's most recently learned or changed memories (no conversation episodes)."""
    memory = await _memory(ctx)
    return [memory.present(item) for item in await memory.recent(limit)]


@server.tool()
async def remember(
    text: Annotated[str, Field(min_length=1, max_length=4000,
                               description="What the user said that should be kept.")],
    ctx: Context[Any, Any],
) -> dict[str, Any]:
    """Keep something the user said, through Engram's write path (scrubbed, reconciled).

    Answers what was written, or that the write awaits the user's approval.
    """
    memory = await _memory(ctx)
    async with _refusals():
        check_message(text)
    thread_id, values, waiting = await _write_in_thread(_request(ctx), memory, _message(text))
    operations = values.get("memory_operations", [])
    return {
        "thread_id": thread_id,
        "status": "awaiting approval" if waiting else "done",
        "written": [op for op in operations
                    if op.get("status") == "applied" and op.get("action") != "noop"],
        "awaiting_approval": values.get("pending_memory_operations") or [],
        "skipped": [op for op in operations if op.get("action") == "noop"],
    }


@server.tool()
async def forget(
    ctx: Context[Any, Any],
    memory_id: Annotated[str | None, Field(description="The key of the memory to forget.")] = None,
    text: Annotated[str | None, Field(description="What to forget, in words.")] = None,
) -> dict[str, Any]:
    """Forget one memory of the user's: by its key, or the one memory that `text` describes."""
    memory = await _memory(ctx)
    async with _refusals():
        target = await memory.named(memory_id, text, ("memory_id", "text"))
    operation = memory.deletion(target, "the user asked to forget it (through MCP)")
    if not memory.needs_approval(operation):
        return {"status": "done", "deleted": await memory.delete(target.key)}
    # The policy gates deletions: the request waits at the approval gate of a thread of its own,
    # where a turn's gated deletion would wait.
    thread_id, values, waiting = await _write_in_thread(
        _request(ctx), memory, _message("Forget a memory (through MCP)."), operation)
    return {"thread_id": thread_id, "status": "awaiting approval" if waiting else "done",
            "awaiting_approval": values.get("pending_memory_operations") or []}


PATH = "/engram/mcp"
# Stateless: each POST is a whole exchange, so any server worker can answer it. Bearer tokens,
# not cookies, authenticate, so DNS-rebinding protection (a cookie-era defence) is off: it would
# refuse every host name but localhost. The app's lifespan runs the SDK's session manager.
app = server.streamable_http_app(
    streamable_http_path=PATH, stateless_http=True, json_response=True,
    transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
)
