"""Engram's memory agent: the graph, its nodes, auth and HTTP additions."""
