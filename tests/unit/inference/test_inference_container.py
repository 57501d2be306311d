"""The serving image's build context: hadolint-clean Dockerfile, pinned bases and requirements, the wall."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.helpers.walls import wall_offenders

REPO = Path(__file__).resolve().parents[3]
CONTEXT = REPO / "inference"


def test_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), str(CONTEXT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_pins_its_base_runs_unprivileged_and_serves_on_8080():
    text = (CONTEXT / "Dockerfile").read_text()
    defaults = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, re.M))  # FROM ${PYTHON_IMAGE}: its default
    bases = [
        re.sub(r"\$\{(\w+)\}", lambda m: defaults.get(m[1], m[0]), base)
        for base in re.findall(r"^FROM\s+(\S+)", text, re.M)
    ]
    assert bases and all(re.search(r":\d+\.\d+\.\d+", base) for base in bases), bases
    assert re.search(r"^USER\s+(?!root|0\b)\S+", text, re.M)
    assert re.search(r"^EXPOSE\s+8080", text, re.M)
    assert 'CMD ["serve"]' in text
    serve = (CONTEXT / "serve").read_text()
    assert "python -m inference serve" in serve
    assert (CONTEXT / "serve").stat().st_mode & 0o111


def test_requirements_are_pinned():
    lines = [line.strip() for line in (CONTEXT / "requirements.txt").read_text().splitlines()]
    packages = [line for line in lines if line and not line.startswith("#")]
    assert packages
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.+]+", p) for p in packages), packages


def test_inference_never_imports_training_and_frameworks_only_lazily():
    assert wall_offenders(CONTEXT / "inference", ("training",)) == {}
    assert wall_offenders(CONTEXT / "inference", ("torch", "tensorflow", "keras"), top_level_only=True) == {}


def test_importing_the_server_loads_no_framework():
    code = (
        "import sys, inference.app, inference.server, inference.client; "
        "print(sorted(m for m in ('torch', 'tensorflow') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=CONTEXT, check=True
    ).stdout
    assert out.strip() == "[]"
