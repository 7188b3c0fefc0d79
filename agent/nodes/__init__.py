"""The graph's nodes, one module each."""

from agent.nodes.agent import agent
from agent.nodes.retrieve import retrieve
from agent.nodes.summarize import summarize
from agent.nodes.write_memory import approve_memory, write_memory

__all__ = ["agent", "approve_memory", "retrieve", "summarize", "write_memory"]
