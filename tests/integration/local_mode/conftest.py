"""One smoke-sized `python -m local_mode` run, shared by the tests that check its products."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.local_mode import free_port, run_local_mode


@dataclass(frozen=True)
class SmokeRun:
    output: Path
    port: int
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> SmokeRun:
    output = tmp_path_factory.mktemp("local_mode") / "local"
    port = free_port()
    result = run_local_mode(output, port)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return SmokeRun(output, port, result)
