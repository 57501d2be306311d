"""The one import-walls checker: which modules a source tree imports, read from its syntax tree."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path


def imported_modules(path: Path, *, top_level_only: bool = False) -> set[str]:
    """Dotted names of the absolute imports in one file (`from . import x` is skipped: it stays inside
    the package). `top_level_only`: only the module body's imports, not those inside functions."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if top_level_only else ast.walk(tree)
    modules: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def _within(module: str, names: Iterable[str]) -> bool:
    return any(module == n or module.startswith(n + ".") for n in names)


def wall_offenders(
    root: Path, forbidden: Iterable[str], allowed: Iterable[str] = (), *, top_level_only: bool = False
) -> dict[str, list[str]]:
    """Files under `root` importing a forbidden module (or a submodule of one), unless the import is of an
    allowed module (or its submodules): {relative path: sorted modules}."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such package to check")
    forbidden, allowed = tuple(forbidden), tuple(allowed)
    found = {}
    for path in sorted(root.rglob("*.py")):
        bad = sorted(
            m
            for m in imported_modules(path, top_level_only=top_level_only)
            if _within(m, forbidden) and not _within(m, allowed)
        )
        if bad:
            found[path.relative_to(root).as_posix()] = bad
    return found


def _module_name(root: Path, path: Path, package: str) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join((package, *parts[:-1]) if parts[-1] == "__init__" else (package, *parts))


def _imports_of(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every module a file imports, anywhere in it (inside functions and `if TYPE_CHECKING:` too), with
    `from a import b` giving `a.b` as well (b may be a module) and relative imports resolved."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """{module: the modules of the same package it imports} for the package whose folder is `root`."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such package to check")
    paths = {_module_name(root, p, package): p for p in sorted(root.rglob("*.py"))}
    return {
        name: _imports_of(ast.parse(path.read_text(), filename=str(path)), name, path.name == "__init__.py")
        & set(paths) - {name}
        for name, path in paths.items()
    }


def import_cycles(root: Path, package: str) -> list[list[str]]:
    """The import circles inside a package: each group of modules that import one another, directly or
    through others (a strongly connected component of more than one module), sorted."""
    graph = import_graph(root, package)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(cycles)
