"""cfn-lint and checkov over every synthesized template, and `make synth` as a fresh clone runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.application import REPO_ROOT

CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"


def templates(outdir) -> list[str]:
    found = sorted(str(p) for p in outdir.glob("*.template.json"))
    assert len(found) == 12, found
    return found


def test_cfn_lint_finds_no_errors_or_warnings(synthesized):
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(
        [str(cfn_lint), "--format", "parseable", *templates(synthesized.outdir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.slow
def test_checkov_fails_no_check_beyond_the_documented_skips(synthesized):
    assert CHECKOV.exists(), "checkov is installed by `make test` (mk/infra.mk) into .venv-checkov"
    templates(synthesized.outdir)
    result = subprocess.run(
        [str(CHECKOV), "--config-file", str(REPO_ROOT / ".checkov.yaml"), "--directory", str(synthesized.outdir)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert "Failed checks: 0" in result.stdout


@pytest.mark.slow
def test_make_synth_needs_no_credentials_or_docker(tmp_path):
    """`make synth` prints its own time (`time cdk synth`); a wall-clock limit here would only measure the
    machine's load."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        DOCKER_HOST="unix:///nonexistent.sock",
    )
    result = subprocess.run(
        ["make", "--no-print-directory", "synth", f"CDK_OUT={tmp_path / 'cdk.out'}"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    names = sorted(p.name for p in (tmp_path / "cdk.out").glob("*.template.json"))
    assert names == [
        f"elasticml-{env}-{name}.template.json"
        for env in ("dev", "prod")
        for name in ("ci-access", "network", "storage", "training")
    ]
    assert "not synthesized: no model version" in result.stderr


def test_checkov_skips_are_per_resource_and_documented(synthesized):
    assert "skip-check" not in (REPO_ROOT / ".checkov.yaml").read_text()
    skipped = {}
    for template in templates(synthesized.outdir):
        for logical_id, resource in json.loads(Path(template).read_text())["Resources"].items():
            for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
                skipped[(template, logical_id, skip["id"])] = skip["comment"]
    assert skipped
    assert all(len(comment) >= 30 for comment in skipped.values()), skipped
