"""`make k8s ENV=dev` as a user runs it: the images named, the manifests written, every check passing."""

from __future__ import annotations

import os
import subprocess

import pytest

from k8s.source import REPO_ROOT


@pytest.mark.slow
def test_make_k8s_writes_and_checks_the_manifests(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    result = subprocess.run(
        ["make", "--no-print-directory", "k8s", "ENV=dev", f"K8S_OUT={tmp_path}"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-5000:]
    assert sorted(p.name for p in (tmp_path / "dev").iterdir()) == [
        "00-namespace.k8s.yaml",
        "cnn.k8s.yaml",
        "mlp.k8s.yaml",
    ]
    assert "13 manifests" in out and ": 0 failed" in out
    assert "Failed checks: 0" in out
    assert "(placeholder)" in out  # no model version given: said, not hidden
