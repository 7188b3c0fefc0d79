"""The imports point one way: a newcomer can read each layer knowing only the ones below it."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MEMORY_LAYERS = ["text", "model", "read", "write"]
"""agent/memory's sub-packages, lowest first; service.py sits above them all."""


def imported(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function, as dotted names."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("layer", MEMORY_LAYERS)
def test_a_memory_layer_imports_only_the_layers_below_it(layer: str) -> None:
    above = MEMORY_LAYERS[MEMORY_LAYERS.index(layer) + 1:]
    forbidden = [f"agent.memory.{name}" for name in above] + ["agent.memory.service"]
    wrong = {str(path.relative_to(ROOT)): sorted(name for name in imported(path)
                                                  if name.startswith(tuple(forbidden)))
             for path in modules(f"agent/memory/{layer}")}
    assert {path: names for path, names in wrong.items() if names} == {}


@pytest.mark.parametrize(("folder", "never"), [
    ("store", ("agent",)),  # generic storage: the application configures it (agent/stores.py)
    ("agent/memory", ("agent.server", "agent.nodes", "agent.graph")),
    ("agent/nodes", ("agent.server",)),  # nodes record in agent/telemetry.py, the server exposes
])
def test_lower_packages_never_import_the_ones_that_use_them(
    folder: str, never: tuple[str, ...],
) -> None:
    wrong = {str(path.relative_to(ROOT)): sorted(
        name for name in imported(path)
        if any(name == prefix or name.startswith(f"{prefix}.") for prefix in never))
        for path in modules(folder)}
    assert {path: names for path, names in wrong.items() if names} == {}


def test_nodes_never_import_each_other() -> None:
    nodes = {"agent", "retrieve", "summarize", "write_memory"}  # approve_memory is write_memory's
    wrong = {path.name: sorted(name for name in imported(path)
                               if name.startswith("agent.nodes.")
                               and name.removeprefix("agent.nodes.") in nodes - {path.stem})
             for path in modules("agent/nodes") if path.stem in nodes}
    assert {path: names for path, names in wrong.items() if names} == {}


def test_store_modules_import_each_other_without_a_cycle() -> None:
    """store/ is a DAG, counting imports inside functions (a cycle there breaks only at run time)."""
    paths = {path.stem: path for path in modules("store") if path.stem != "__init__"}
    graph = {name: {other for other in paths
                    if any(found == f"store.{other}" or found.startswith(f"store.{other}.")
                           for found in imported(path))}
             for name, path in paths.items()}
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        cycle = " -> ".join(reversed(err.args[1]))  # each imports the next
        pytest.fail(f"store/ imports in a circle: {cycle}")
    assert set(order) == set(paths)


def store_reaches(path: Path) -> list[str]:
    """Each `.store` / `._store` attribute `path` reads (a store reached past the service)."""
    return [f"line {node.lineno}" for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Attribute) and node.attr in ("store", "_store")
            and not (isinstance(node.value, ast.Attribute) and node.value.attr == "on")]
            # `auth.on.store` names the server's store handler, not a store


def test_only_the_memory_service_reaches_the_store() -> None:
    """Every way in (nodes, tools, server routes, MCP, Mem0, import) goes through MemoryService.

    Nothing outside agent/memory imports the read or write layers (where the store is used),
    or reads a `.store`: a new door cannot skip a check the service makes.
    """
    doors = [path for path in modules("agent") if not path.is_relative_to(ROOT / "agent/memory")
             and path.name != "stores.py"]  # agent/stores.py configures the store itself
    internals = ("agent.memory.read", "agent.memory.write")
    wrong = {str(path.relative_to(ROOT)): sorted(name for name in imported(path)
                                                  if name.startswith(internals))
             + store_reaches(path) for path in doors}
    assert {path: found for path, found in wrong.items() if found} == {}
