"""sendpool's import graph, read from the source: who imports whom, and how.

Each arrow says whether it runs when the module loads (``top``), only for the
type checker (``typing``, under ``if TYPE_CHECKING:``) or only when a function
runs (``deferred``). Imports resolve to the most specific module they name:
``from sendpool.store import queue`` is an arrow to ``sendpool.store.queue``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import sendpool

PACKAGE = Path(sendpool.__file__).parent
Kind = Literal["top", "typing", "deferred"]


@dataclass(frozen=True)
class Arrow:
    importer: str
    imported: str
    kind: Kind
    line: int

    def __str__(self) -> str:
        return f"{self.importer} -> {self.imported} ({self.kind}, line {self.line})"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def module_paths() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(
    body: list[ast.stmt], kind: Kind
) -> Iterator[tuple[ast.Import | ast.ImportFrom, Kind]]:
    """Every import statement under ``body``, with how it runs."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, kind
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _nested(node, "deferred")
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _imports(node.body, "typing" if kind == "top" else kind)
            yield from _imports(node.orelse, kind)
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    yield from _imports([child], kind)
                elif isinstance(child, ast.Lambda):
                    yield from _nested(child, "deferred")


def _nested(node: ast.AST, kind: Kind) -> Iterator[tuple[ast.Import | ast.ImportFrom, Kind]]:
    for child in ast.walk(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, kind


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The most specific sendpool module ``name`` refers to, if it is one of ours."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def imported_names(path: Path, importer: str) -> Iterator[tuple[str, Kind, int]]:
    """Every module name ``path`` imports (ours or not), absolute, with how and where."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    for node, kind in _imports(tree.body, "top"):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, kind, node.lineno
        else:
            module = _absolute(node, importer, is_package)
            for alias in node.names:
                yield f"{module}.{alias.name}" if module else alias.name, kind, node.lineno


def arrows() -> list[Arrow]:
    known = module_paths()
    found: set[Arrow] = set()
    for importer, path in known.items():
        for name, kind, line in imported_names(path, importer):
            target = _resolve(name, known)
            if target is not None and target != "sendpool" and target != importer:
                found.add(Arrow(importer, target, kind, line))
    return sorted(found, key=lambda a: (a.importer, a.imported, a.kind, a.line))


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    graph: dict[str, list[str]] = {}
    for a, b in edges:
        graph.setdefault(a, []).append(b)
        graph.setdefault(b, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(groups)
