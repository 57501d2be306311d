"""review.md: what a change does to the deployed system, most important first."""

from __future__ import annotations

from dataclasses import dataclass, field

from review.cdkdiff import StackDiff
from review.classify import Destructive, Widening
from review.cost import CostChange, Prices
from review.nagdiff import Finding

MARKER = "<!-- elasticml-review -->"
RAW_DIFF_LIMIT = 20000  # characters of one stack's CLI diff kept in review.md


@dataclass
class Review:
    base: str
    head: str
    stacks: list[str]
    diffs: list[StackDiff]
    added_stacks: list[str]
    removed_stacks: list[str]
    destructive: list[Destructive]
    allow_destructive: bool
    widening: list[Widening]
    narrowing: int
    nag_appeared: list[Finding]
    nag_disappeared: list[Finding]
    costs: list[CostChange]
    prices: Prices
    notes: list[str] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return bool(self.destructive) and not self.allow_destructive


def _money(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "?"
    return f"{'+' if signed and value > 0 else ''}{'-' if value < 0 else ''}${abs(value):,.2f}"


def _verdict(r: Review) -> str:
    if r.blocked:
        return (
            f"**BLOCKED: {len(r.destructive)} stateful resource(s) would be replaced or deleted, or a "
            "change would fail at deploy (a fixed name, an instance type under autoscaling).** "
            "Follow the steps given below, or re-run with `ALLOW_DESTRUCTIVE=1` once the data loss or "
            "migration is planned."
        )
    if r.destructive:
        return f"**{len(r.destructive)} destructive change(s) to stateful resources, allowed by ALLOW_DESTRUCTIVE=1.**"
    return "No stateful resource is replaced or deleted."


def _summary(r: Review) -> list[str]:
    lines = ["| Stack | Added | Removed | Changed | Replaced | Deleted |", "|---|---:|---:|---:|---:|---:|"]
    by_stack = {d.stack: d for d in r.diffs}
    for stack in r.stacks:
        d = by_stack.get(stack)
        if stack in r.removed_stacks:
            lines.append(f"| {stack} | | all | | | stack removed |")
            continue
        if d is None or d.empty:
            lines.append(f"| {stack} | 0 | 0 | 0 | 0 | 0 |")
            continue
        kinds = [x.kind for x in d.resources]
        impacts = [x.impact for x in d.resources]
        label = stack + (" (new stack)" if stack in r.added_stacks else "")
        lines.append(
            f"| {label} | {kinds.count('added')} | {kinds.count('removed')} | {kinds.count('changed')} | "
            f"{sum('replaced' in i for i in impacts)} | {impacts.count('deleted')} |"
        )
    return lines


def _nag_lines(findings: list[Finding]) -> list[str]:
    """One line per rule and status, naming every construct it applies to."""
    grouped: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        grouped.setdefault((f.status, f.rule), []).append(f)
    lines = []
    for (status, rule), items in grouped.items():
        note = items[0].note if len(items[0].note) <= 200 else items[0].note[:197] + "..."
        paths = ", ".join(f"`{f.path}`" for f in items)
        lines.append(f"- {status} `{rule}` on {paths}" + (f": {note}" if note else ""))
    return lines


def render(r: Review) -> str:
    out = [MARKER, f"# Infrastructure review: {r.base} -> {r.head}", "", _verdict(r), ""]
    out += ["## Stacks", "", *_summary(r), ""]

    out += ["## Destructive changes to stateful resources", ""]
    out += [
        f"- **{d.label}** `{d.stack}/{d.path or d.logical_id}` ({d.type} {d.logical_id}) would be "
        f"**{d.action}**: {d.why}"
        for d in r.destructive
    ] or ["None."]
    flagged = {(d.stack, d.logical_id) for d in r.destructive}
    replaced = [
        (d.stack, x)
        for d in r.diffs
        for x in d.resources
        if x.impact and x.impact != "imported" and (d.stack, x.logical_id) not in flagged
    ]
    if replaced:
        out += ["", "Other replacements and removals (not stateful):", ""]
        out += [
            f"- `{stack}/{x.path or x.logical_id}` ({x.type}): {x.impact}"
            + (f", forced by {', '.join(x.forcing)}" if x.forcing else "")
            for stack, x in replaced
        ]
    out.append("")

    out += ["## Access widening (IAM and security groups)", ""]
    out += [f"- `{w.stack}` {w.table}: {w.summary}" for w in r.widening] or ["None."]
    if r.narrowing:
        out += ["", f"{r.narrowing} IAM or security-group change(s) narrow access."]
    out.append("")

    out += ["## cdk-nag findings", ""]
    if not (r.nag_appeared or r.nag_disappeared):
        out.append("No finding appears or disappears.")
    for title, items in (("Appeared", r.nag_appeared), ("Disappeared", r.nag_disappeared)):
        if items:
            out += [f"{title}:", ""]
            out += _nag_lines(items)
            out.append("")
    out.append("")

    p = r.prices
    out += [
        "## Cost",
        "",
        f"Estimated monthly on-demand cost in {p.region}, prices of {p.date} from review/prices.json ({p.source}).",
        "",
    ]
    if r.costs:
        total = sum(c.delta for c in r.costs if c.delta is not None)
        out += [
            "| Stack | What | Before | After | Monthly before | Monthly after | Delta | Notes |",
            "|---|---|---|---|---:|---:|---:|---|",
        ]
        out += [
            f"| {c.stack} | {c.item} | {c.before} | {c.after} | {_money(c.monthly_before)} | "
            f"{_money(c.monthly_after)} | {_money(c.delta, signed=True)} | {c.note} |"
            for c in r.costs
        ]
        out += ["", f"**Estimated monthly delta: {_money(round(total, 2), signed=True)}**"]
    else:
        out.append("No change moves cost (instance types and counts, autoscaling bounds, spot, data capture).")
    out.append("")

    out += ["## Diff per stack (cdk diff)", ""]
    for d in r.diffs:
        if d.empty:
            continue
        text = d.text if len(d.text) <= RAW_DIFF_LIMIT else d.text[:RAW_DIFF_LIMIT] + "\n... (cut; see cdk diff)"
        out += [
            f"<details><summary>{d.stack}: {len(d.resources)} resource change(s)</summary>",
            "",
            "```text",
            text.strip(),
            "```",
            "",
            "</details>",
            "",
        ]
    if not any(not d.empty for d in r.diffs):
        out += ["No template differs.", ""]
    out += r.notes
    return "\n".join(out).rstrip() + "\n"
