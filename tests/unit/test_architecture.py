"""The dependency rule's cycle half: no import cycles between Enlace's modules.

import-linter checks the layers (``make lint``, ``[tool.importlinter]`` in pyproject.toml); this
test finds cycles between any two modules, whatever their layer, counting imports inside
functions and under ``TYPE_CHECKING`` (grimp sees every import statement).
"""

from __future__ import annotations

import grimp

PACKAGES = ("gateway", "trusted_sources", "services")


class _Components:
    """Tarjan's strongly connected components over direct imports; those of two or more modules
    are cycles."""

    def __init__(self, graph: grimp.ImportGraph) -> None:
        self.graph = graph
        self.index: dict[str, int] = {}
        self.low: dict[str, int] = {}
        self.stack: list[str] = []
        self.cycles: list[list[str]] = []

    def visit(self, module: str) -> None:
        self.index[module] = self.low[module] = len(self.index)
        self.stack.append(module)
        for imported in self.graph.find_modules_directly_imported_by(module):
            if imported not in self.index:
                self.visit(imported)
                self.low[module] = min(self.low[module], self.low[imported])
            elif imported in self.stack:
                self.low[module] = min(self.low[module], self.index[imported])
        if self.low[module] == self.index[module]:
            self._pop_component(module)

    def _pop_component(self, root: str) -> None:
        component = self.stack[self.stack.index(root) :]
        del self.stack[self.stack.index(root) :]
        if len(component) > 1:
            self.cycles.append(sorted(component))


def _strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    components = _Components(graph)
    for module in sorted(graph.modules):
        if module not in components.index:
            components.visit(module)
    return components.cycles


def test_no_import_cycles_between_modules() -> None:
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=False)
    assert _strongly_connected(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for name in ("a", "a.x", "a.y", "a.z"):
        graph.add_module(name)
    graph.add_import(importer="a.x", imported="a.y")
    graph.add_import(importer="a.y", imported="a.x")
    graph.add_import(importer="a.y", imported="a.z")
    assert _strongly_connected(graph) == [["a.x", "a.y"]]
