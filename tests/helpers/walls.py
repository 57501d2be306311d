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
