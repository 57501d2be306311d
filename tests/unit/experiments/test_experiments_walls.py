"""The experiments client stays client-side: it imports none of the container packages or the CDK app
(it reads their data files: cdk.json, training/metric_definitions.json), and no image build context
holds it."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
FORBIDDEN = {"training", "inference", "infra", "aws_cdk", "torch", "tensorflow", "keras"}


def top_level_imports(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module.split(".")[0])
    return modules


def test_experiments_imports_nothing_behind_the_walls():
    offenders = {p.name: sorted(top_level_imports(p) & FORBIDDEN) for p in (ROOT / "experiments").glob("*.py")}
    assert {name: mods for name, mods in offenders.items() if mods} == {}
    assert top_level_imports(ROOT / "experiments" / "api.py") >= {"experiments", "boto3"}  # the check sees imports


def test_no_image_build_context_holds_the_client():
    for context in ("training", "inference"):
        assert not (ROOT / context / "experiments").exists()
