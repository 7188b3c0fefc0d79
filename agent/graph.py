"""The memory agent's topology: summarize -> retrieve -> agent -> write_memory.

A model that can call tools may call Engram's memory tools (agent/tools.py) from the agent node:
the calls run in memory_tools and the agent node goes on, until it answers (agent <-> memory_tools).
write_memory hands the operations the approval policy gates to approve_memory, which pauses the
run for a human (an interrupt). The checkpointer (tier 1) and the store (tier 2) are not compiled
in: the server provides them from the factories that langgraph.json names (store/postgres.py).
"""

from typing import Literal

from langchain_core.messages import AIMessage
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import RetryPolicy

from agent.context import Context
from agent.nodes import agent, approve_memory, retrieve, summarize, write_memory
from agent.state import InputState, State
from agent.telemetry import timed_node
from agent.tools import TOOLS

# Store and model calls may fail transiently (a restarted database, a rate limit).
TRANSIENT = RetryPolicy(max_attempts=3, initial_interval=0.2)


def route_after_agent(state: State) -> Literal["memory_tools", "write_memory"]:
    """Run the memory tools the model called; once it answers, write the turn's memory."""
    last = state["messages"][-1]
    return "memory_tools" if isinstance(last, AIMessage) and last.tool_calls else "write_memory"


def route_after_write_memory(state: State) -> Literal["approve_memory", "__end__"]:
    """Ask a human when write_memory left operations pending approval."""
    return "approve_memory" if state.get("pending_memory_operations") else "__end__"


builder = StateGraph(State, input_schema=InputState, context_schema=Context)
# Every node's latency is observed under its name (engram_node_seconds).
for node in (summarize, retrieve, agent, write_memory, approve_memory):
    builder.add_node(node.__name__, timed_node(node), retry_policy=TRANSIENT)
builder.add_node("memory_tools", ToolNode(TOOLS), retry_policy=TRANSIENT)
builder.add_edge(START, "summarize")
builder.add_edge("summarize", "retrieve")
builder.add_edge("retrieve", "agent")
builder.add_conditional_edges("agent", route_after_agent)
builder.add_edge("memory_tools", "agent")
builder.add_conditional_edges("write_memory", route_after_write_memory)
builder.add_edge("approve_memory", END)

graph = builder.compile(name="memory_agent")
