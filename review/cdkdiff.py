"""The CDK's own template diff, stack by stack: `cdk diff --app ASSEMBLY --template BASE STACK`, run
offline, its text parsed into resource changes (with their impact and the properties that force a
replacement) and the rows of its IAM and security-group tables."""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from review.synth import cdk_env

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# `[~] AWS::S3::Bucket Data/Bucket DataBucketE6B0FAA8 replace`: impact words from the CLI's formatImpact.
RESOURCE = re.compile(r"^\[(?P<sign>[+\-~])\] (?P<type>[A-Za-z0-9]+::[A-Za-z0-9]+::[A-Za-z0-9:]+) "
                      r"(?P<rest>.*?)(?: (?P<impact>replace|may be replaced|destroy|orphan|import))?$")
# ` ├─ [~] BucketName (requires replacement)`: a top-level property of the resource above.
PROPERTY = re.compile(r"^ [├└]─ \[(?P<sign>[+\-~ ])\] (?P<name>\S+)"
                      r"(?: \((?P<replacement>requires replacement|may cause replacement)\))?$")
TABLES = ("IAM Statement Changes", "IAM Policy Changes", "Security Group Changes")
SECTIONS = ("Template", "Parameters", "Metadata", "Mappings", "Conditions", "Resources", "Outputs",
            "Other Changes", *TABLES)
KIND = {"+": "added", "-": "removed", "~": "changed"}
IMPACT = {"replace": "replaced", "may be replaced": "may be replaced", "destroy": "deleted",
          "orphan": "removed from the stack, retained (orphaned)", "import": "imported"}


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


def run_diff(cdk: Path, assembly_dir: Path, base_template: Path, stack: str, cwd: Path) -> str:
    """The CLI's diff of `stack` in the synthesized assembly against a template file; no AWS call."""
    args = [str(cdk), "diff", "--no-color", "--no-notices", "--app", str(assembly_dir), "--method", "template",
            "--exclusively", "--template", str(base_template), "--fail-on", "never", stack]
    done = subprocess.run(args, cwd=cwd, env=cdk_env(), capture_output=True, text=True)
    out = ANSI.sub("", done.stdout + done.stderr)
    if done.returncode != 0 or f"Stack {stack}" not in out:
        raise RuntimeError(f"cdk diff {stack} failed (exit {done.returncode}):\n{out[-3000:]}")
    return out


def parse(stack: str, text: str) -> StackDiff:
    diff = StackDiff(stack=stack, text=text)
    section, table_rows, header, current = "", [], [], None
    for line in text.splitlines():
        if line.strip() in SECTIONS:
            section, current, header, table_rows = line.strip(), None, [], []
            continue
        if section in TABLES:
            header, table_rows = _table_line(section, line, header, table_rows, diff.security)
        elif section == "Resources":
            if m := RESOURCE.match(line):
                rest = m["rest"].rsplit(" ", 1)
                path, logical_id = (rest[0], rest[1]) if len(rest) == 2 else ("", rest[0])
                impact = IMPACT.get(m["impact"] or "", "")
                current = ResourceChange(KIND[m["sign"]], m["type"], path, logical_id, impact)
                diff.resources.append(current)
            elif current and (p := PROPERTY.match(line)):
                current.properties.append(p["name"])
                if p["replacement"]:
                    current.forcing.append(p["name"] + ("" if p["replacement"] == "requires replacement" else " (may)"))
        elif section and re.match(r"^\[[+\-~]\] ", line):
            diff.other.append(f"{section}: {line}")
    return diff


def _table_line(table: str, line: str, header: list[str], rows: list, out: list[SecurityRow]):
    """One line of a CLI box table: `│ + │ cell │ cell │`; rows continue on lines with a blank sign."""
    if not line.startswith("│"):
        return header, rows
    cells = [c.strip() for c in line.strip().strip("│").split("│")]
    sign, values = cells[0], cells[1:]
    if not header:
        return values, rows
    if sign in ("+", "-"):
        row = SecurityRow(table, sign, {h: v for h, v in zip(header, values, strict=False)})
        out.append(row)
        rows = [row]
    elif rows:
        for h, v in zip(header, values, strict=False):
            if v:
                previous = rows[-1].cells.get(h, "")
                rows[-1].cells[h] = f"{previous} {v}" if previous else v
    return header, rows
