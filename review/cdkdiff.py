"""The CDK's own template diff, stack by stack: the `@aws-cdk/cloudformation-diff` library (what `cdk diff`
runs, pinned in package.json) called from a small node script, `review/cdkdiff.cjs`, that returns structured
results: resource changes (with their impact and the properties that force a replacement), the rows of its
IAM and security-group tables, other template changes, and the CLI's text rendering for the report."""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("cdkdiff.cjs")
TABLES = ("IAM Statement Changes", "IAM Policy Changes", "Security Group Changes")
LOGICAL_ID = "aws:cdk:logicalId"


@dataclass
class ResourceChange:
    kind: str  # added | removed | changed
    type: str
    path: str
    logical_id: str
    impact: str = ""  # replaced | may be replaced | deleted | removed ... retained | imported | ""
    properties: list[str] = field(default_factory=list)  # top-level properties that changed
    forcing: list[str] = field(default_factory=list)  # those that require (or may cause) replacement


@dataclass
class SecurityRow:
    table: str  # one of TABLES
    sign: str  # + widens, - narrows
    cells: dict[str, str]  # column -> text (multi-line cells joined with spaces)


@dataclass
class StackDiff:
    stack: str
    text: str
    resources: list[ResourceChange] = field(default_factory=list)
    security: list[SecurityRow] = field(default_factory=list)
    other: list[str] = field(default_factory=list)  # template, parameter, output ... lines

    @property
    def empty(self) -> bool:
        return not (self.resources or self.security or self.other)


def logical_id_paths(metadata: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Logical ID -> construct path, from a stack's assembly metadata (path -> entries)."""
    return {
        entry["data"]: path
        for path, entries in metadata.items()
        for entry in entries
        if entry.get("type") == LOGICAL_ID and isinstance(entry.get("data"), str)
    }


def diff_templates(
    stack: str, base_template: Path, head_template: Path, paths: dict[str, str] | None = None, cwd: Path | None = None
) -> StackDiff:
    """The diff of two template files as the CDK computes it; no AWS call, no CLI."""
    with tempfile.TemporaryDirectory() as tmp:
        paths_file = Path(tmp) / "paths.json"
        paths_file.write_text(json.dumps(paths or {}))
        done = subprocess.run(
            ["node", str(SCRIPT), str(base_template), str(head_template), str(paths_file)],
            cwd=cwd or SCRIPT.parent.parent,
            capture_output=True,
            text=True,
            timeout=300,
        )
    if done.returncode != 0:
        raise RuntimeError(f"cdk diff of {stack} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return from_json(stack, json.loads(done.stdout))


def from_json(stack: str, data: dict[str, Any]) -> StackDiff:
    return StackDiff(
        stack=stack,
        text=data.get("text", ""),
        resources=[ResourceChange(**r) for r in data.get("resources", [])],
        security=[
            SecurityRow(table=r["table"], sign=r["sign"], cells=dict(r["cells"])) for r in data.get("security", [])
        ],
        other=list(data.get("other", [])),
    )
