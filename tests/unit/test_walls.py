"""The walls of DESIGN.md: which package may import which, checked on the source itself."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WALLS = {
    ROOT / "infra": {"training", "inference", "torch", "tensorflow", "keras"},
    ROOT / "inference" / "inference": {"training", "infra"},
    ROOT / "training" / "training": {"infra", "inference"},
    # The review synthesizes other commits: it must not import this tree's infra.
    ROOT / "review": {"infra", "training", "inference", "torch", "tensorflow", "keras"},
    ROOT / "experiments": {"infra", "training", "inference", "torch", "tensorflow", "keras"},
    # The planner imports no framework and no CDK: infra reads its plan files as data.
    ROOT / "planner": {"infra", "training", "inference", "torch", "tensorflow", "keras", "aws_cdk", "constructs",
                       "cdk_nag"},
}


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module.split(".")[0])
    return modules


@pytest.mark.parametrize("package", sorted(WALLS), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_package_imports_nothing_behind_its_wall(package):
    if not package.exists():
        pytest.skip(f"{package} not present")
    offenders = {str(path.relative_to(ROOT)): sorted(imported_modules(path) & WALLS[package])
                 for path in package.rglob("*.py")}
    assert {path: mods for path, mods in offenders.items() if mods} == {}


def test_the_wall_check_sees_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import torch.nn\nfrom training.job import run_job\nfrom . import sibling\n")
    assert imported_modules(source) == {"torch", "training"}
