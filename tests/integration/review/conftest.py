"""Fixtures of the review tests. Throwaway repositories made from the project, committed as the base;
the base is synthesized once, then each kind of change is made in its own repository's working tree and
reviewed against that base, two reviews at a time (synth is what costs time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from review import synth
from tests.helpers.review_repo import PROJECT, edit, make_repo, set_setting

# One environment keeps each synth near 15 s; `make review` does every environment the same way.
CONTEXT = {"env": "dev"}


def add_tag(repo: Path) -> None:
    edit(
        repo / "infra" / "application.py",
        'Tags.of(stack).add("environment", settings.env)',
        'Tags.of(stack).add("environment", settings.env)\n            Tags.of(stack).add("owner", "ml-platform")',
    )


def rename_data_bucket(repo: Path) -> None:
    edit(
        repo / "infra" / "stacks" / "storage_stack.py",
        'bucket_name(settings, "data")',
        'bucket_name(settings, "dataset")',
    )


def widen_s3_access(repo: Path) -> None:
    edit(
        repo / "infra" / "components" / "common.py",
        'resources=[bucket.arn_for_objects(f"{prefix}/*")]',
        'resources=[bucket.arn_for_objects("*")]',
    )


def change_instance_types(repo: Path) -> None:
    set_setting(repo, "dev.serving.cnn.instance_type", "ml.c5.2xlarge")  # from ml.c5.xlarge
    set_setting(repo, "dev.training.mlp.instance_type", "ml.c5.xlarge")  # from ml.c5.2xlarge
    set_setting(repo, "dev.training.cnn.security.min_robust_accuracy", 0.35)  # a security gate threshold


CHANGES = {f.__name__: f for f in (add_tag, rename_data_bucket, widen_s3_access, change_instance_types)}


@dataclass
class Result:
    repo: Path
    returncode: int
    text: str
    stderr: str
    head: Path  # the working tree's assembly, kept for a second look

    def section(self, title: str) -> str:
        """The body of one `## title` section of review.md."""
        start = self.text.index(f"## {title}")
        end = self.text.find("\n## ", start + 1)
        return self.text[start : end if end > 0 else None]


def run_review(
    repo: Path, base: Path, work: Path, *args: str, head: Path | None = None, env: dict[str, str] | None = None
) -> Result:
    output = work / "review.md"
    cmd = [
        sys.executable,
        "-m",
        "review",
        "--repo",
        str(repo),
        "--base-assembly",
        str(base),
        "--output",
        str(output),
        "--quiet",
        *[a for k, v in CONTEXT.items() for a in ("-c", f"{k}={v}")],
        *args,
    ]
    cmd += ["--head-assembly", str(head)] if head else ["--keep", str(work / "kept")]
    done = subprocess.run(
        cmd,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ALLOW_DESTRUCTIVE": "", **(env or {})},
    )
    assert output.is_file(), done.stderr[-3000:]
    return Result(repo, done.returncode, output.read_text(), done.stderr, head or work / "kept" / "head.out")


@pytest.fixture(scope="session")
def base_assembly(tmp_path_factory) -> Path:
    """The committed project, synthesized once for every review."""
    repo = make_repo(tmp_path_factory.mktemp("base-repo"))
    out = tmp_path_factory.mktemp("base") / "base.out"
    log = out.with_suffix(".log")
    proc = synth.start_synth(repo / "node_modules" / ".bin" / "cdk", repo, out, synth.review_context(CONTEXT), log)
    synth.wait_synth(proc, "the test base", log, out)
    return out


@pytest.fixture(scope="session")
def reviewed(base_assembly, tmp_path_factory) -> dict[str, Result]:
    """Each change of CHANGES in its own repository, reviewed against the base; two at a time."""

    def one(name: str) -> Result:
        repo = make_repo(tmp_path_factory.mktemp(f"repo-{name}"))
        CHANGES[name](repo)
        return run_review(repo, base_assembly, tmp_path_factory.mktemp(f"review-{name}"))

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(CHANGES, pool.map(one, CHANGES), strict=True))


@pytest.fixture
def rerun(base_assembly, tmp_path):
    """Review an already synthesized working tree again, with other options."""
    return lambda result, *args, **kw: run_review(result.repo, base_assembly, tmp_path, *args, head=result.head, **kw)


@pytest.fixture(scope="session")
def prices() -> dict:
    return json.loads((PROJECT / "review" / "prices.json").read_text())
