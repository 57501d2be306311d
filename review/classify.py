"""What in a diff needs a reviewer's attention: stateful resources that would be replaced or deleted,
and IAM or security-group changes that widen access."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from review.cdkdiff import SecurityRow, StackDiff

# Resources whose replacement or deletion loses data or breaks what depends on their identity.
STATEFUL_TYPES = {
    "AWS::S3::Bucket": "S3 bucket",
    "AWS::KMS::Key": "KMS key",
    "AWS::SageMaker::Endpoint": "SageMaker endpoint",
    "AWS::SageMaker::ModelPackageGroup": "model package group",
    "AWS::Logs::LogGroup": "log group",
    "AWS::DynamoDB::Table": "DynamoDB table",
    "AWS::EFS::FileSystem": "EFS file system",
    "AWS::ECR::Repository": "ECR repository",
    "AWS::RDS::DBInstance": "RDS instance",
    "AWS::RDS::DBCluster": "RDS cluster",
}
DESTRUCTIVE_IMPACTS = ("replaced", "may be replaced", "deleted")
RETAINING_POLICIES = ("Retain", "RetainExceptOnCreate", "Snapshot")


@dataclass(frozen=True)
class Destructive:
    stack: str
    logical_id: str
    path: str
    type: str
    action: str  # replaced | may be replaced | deleted | deleted with its stack
    why: str  # the properties that force the replacement, or why it is deleted

    @property
    def label(self) -> str:
        return STATEFUL_TYPES.get(self.type, self.type)


@dataclass(frozen=True)
class Widening:
    stack: str
    table: str
    summary: str


def destructive_changes(diffs: list[StackDiff]) -> list[Destructive]:
    out = []
    for diff in diffs:
        for r in diff.resources:
            if r.type not in STATEFUL_TYPES or r.impact not in DESTRUCTIVE_IMPACTS:
                continue
            if r.impact == "deleted":
                why = "removed from the stack with deletion policy Delete"
            else:
                why = ("forced by " + ", ".join(r.forcing)) if r.forcing else "a property change requires it"
            out.append(Destructive(diff.stack, r.logical_id, r.path, r.type, r.impact, why))
    return out


def deleted_stack(stack: str, template: dict[str, Any]) -> list[Destructive]:
    """The stateful resources a stack that no longer exists would take with it (those not retained)."""
    out = []
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") in STATEFUL_TYPES and resource.get("DeletionPolicy") not in RETAINING_POLICIES:
            path = resource.get("Metadata", {}).get("aws:cdk:path", "")
            out.append(Destructive(stack, logical_id, path, resource["Type"], "deleted with its stack",
                                   "the stack is no longer synthesized; deletion policy Delete"))
    return out


def _widens(row: SecurityRow) -> bool:
    """CDK's notion of broadening: a statement or rule added; for IAM, an Allow added or a Deny removed."""
    effect = row.cells.get("Effect", "Allow")
    if row.table == "IAM Statement Changes":
        return (row.sign == "+") == (effect == "Allow")
    return row.sign == "+"


def widening_changes(diffs: list[StackDiff]) -> tuple[list[Widening], int]:
    """The widening rows of each stack's IAM and security-group tables, and the count of narrowing ones."""
    widen, narrow = [], 0
    for diff in diffs:
        for row in diff.security:
            if _widens(row):
                summary = " | ".join(f"{k}: {v}" for k, v in row.cells.items() if v)
                widen.append(Widening(diff.stack, row.table, summary))
            else:
                narrow += 1
    return widen, narrow
