"""One home for a pinned version: torch's is written once, in requirements.txt; the images' build argument,
make's wheel download and the serving peers' venvs read it from there."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What installs or builds: requirements, Dockerfiles, make, scripts, code (docs and results may quote it).
BUILD_FILES = re.compile(r"(^|/)(Dockerfile|Makefile)$|\.(txt|mk|sh|py|toml|cfg)$")


def test_torchs_version_is_written_once():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    writes = [
        path
        for path in tracked.split()
        if BUILD_FILES.search(path)
        and (ROOT / path).is_file()
        and re.search(r"torch==\d|TORCH_VERSION\s*[:?]?=\s*\d", (ROOT / path).read_text(errors="replace"))
    ]
    assert writes == ["requirements.txt"]


def test_the_dockerfiles_take_torchs_version_as_a_build_argument():
    for context in ("inference", "training"):
        text = (ROOT / context / "Dockerfile").read_text()
        assert re.search(r"^ARG TORCH_VERSION$", text, re.M), context
        assert "torch==${TORCH_VERSION}" in text, context
