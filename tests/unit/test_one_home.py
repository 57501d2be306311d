"""Facts with one home in shared_names.py are not spelled again in the code of another package (prose in
docstrings and comments may name them)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import shared_names

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("infra", "planner", "review", "benchmarks", "k8s", "experiments", "release", "local_mode", "monitor")
FACTS = {
    "the serving capacity file": shared_names.SERVING_CAPACITY_FILE,
    "the capacity plans folder": shared_names.CAPACITY_PLANS_DIR,
    "the artifact bucket's name (shared_names.bucket_name)": "-artifacts-",
}


def code_strings(path: Path) -> set[str]:
    """The string constants of a file's code, f-string parts included, docstrings left out."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    }


def spelled_again(fact: str, packages: tuple[str, ...] = PACKAGES, root: Path = ROOT) -> list[str]:
    return sorted(
        path.relative_to(root).as_posix()
        for package in packages
        for path in (root / package).rglob("*.py")
        if any(fact in s for s in code_strings(path))
    )


@pytest.mark.parametrize("what", sorted(FACTS))
def test_a_shared_fact_is_spelled_only_in_shared_names(what):
    assert spelled_again(FACTS[what]) == [], f"{what}: use shared_names instead"


def test_the_check_sees_a_literal_and_skips_a_docstring(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text('"""Reads planner/plans."""\nX = f"{1}-artifacts-{2}"\n')
    (tmp_path / "pkg" / "b.py").write_text('"""planner/plans"""\n')
    assert spelled_again("-artifacts-", ("pkg",), tmp_path) == ["pkg/a.py"]
    assert spelled_again("planner/plans", ("pkg",), tmp_path) == []
