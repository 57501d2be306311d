"""cdk-nag findings that appear or disappear. cdk-nag v3 packs are CDK policy-validation plugins: open
violations land in the assembly's validation-report.json; acknowledged ones are construct metadata
(`aws:cdk:acknowledged-rules`) in each stack's metadata file."""

from __future__ import annotations

from dataclasses import dataclass

from review.synth import Assembly

ACKNOWLEDGED = "aws:cdk:acknowledged-rules"


@dataclass(frozen=True, order=True)
class Finding:
    status: str  # open | acknowledged
    rule: str
    path: str
    note: str = ""  # the description of an open finding, the reason of an acknowledged one


def findings(assembly: Assembly) -> set[Finding]:
    found = set()
    for report in assembly.validation_report().get("pluginReports", []):
        for v in report.get("violations", []):
            for c in v.get("violatingConstructs", []) or v.get("violatingResources", []):
                path = c.get("constructPath") or c.get("resourceLogicalId", "")
                found.add(Finding("open", v["ruleName"], path, v.get("description", "")))
    for stack in assembly.stacks:
        for path, entries in assembly.metadata(stack).items():
            for entry in entries:
                if entry.get("type") == ACKNOWLEDGED:
                    for rule, reason in (entry.get("data") or {}).items():
                        found.add(Finding("acknowledged", rule.removeprefix("Annotation::"), path.lstrip("/"), reason))
    return found


def nag_changes(base: Assembly, head: Assembly) -> tuple[list[Finding], list[Finding]]:
    """(appeared, disappeared) findings, compared without their notes."""
    before, after = findings(base), findings(head)
    key = lambda f: (f.status, f.rule, f.path)  # noqa: E731
    before_keys, after_keys = {key(f) for f in before}, {key(f) for f in after}
    return (
        sorted(f for f in after if key(f) not in before_keys),
        sorted(f for f in before if key(f) not in after_keys),
    )
