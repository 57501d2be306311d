"""What in a diff needs a reviewer's attention: stateful resources that would be replaced or deleted,
and IAM or security-group changes that widen access."""

from __future__ import annotations

import json
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
# The property that gives each type a fixed physical name, when the template sets it.
NAME_PROPERTIES = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::KMS::Alias": "AliasName",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::SageMaker::Endpoint": "EndpointName",
    "AWS::SageMaker::EndpointConfig": "EndpointConfigName",
    "AWS::SageMaker::Model": "ModelName",
    "AWS::SageMaker::ModelPackageGroup": "ModelPackageGroupName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::ECR::Repository": "RepositoryName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::EC2::SecurityGroup": "GroupName",
}
REPLACEMENT_FAILS = "replaced, which fails at deploy"
MOVE_FAILS = "given a new logical ID, which fails at deploy"
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
            out.append(
                Destructive(
                    stack,
                    logical_id,
                    path,
                    resource["Type"],
                    "deleted with its stack",
                    "the stack is no longer synthesized; deletion policy Delete",
                )
            )
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


def _named(template: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    """Logical ID -> (type, fixed name as canonical JSON, construct path) of the named resources."""
    out = {}
    for logical_id, resource in template.get("Resources", {}).items():
        prop = NAME_PROPERTIES.get(resource.get("Type", ""))
        name = (resource.get("Properties") or {}).get(prop) if prop else None
        if name is not None:
            out[logical_id] = (
                resource["Type"],
                json.dumps(name, sort_keys=True),
                resource.get("Metadata", {}).get("aws:cdk:path", ""),
            )
    return out


def _shown(name: str) -> str:
    value = json.loads(name)
    return value if isinstance(value, str) else name


def fixed_name_conflicts(
    diffs: list[StackDiff], base: dict[str, dict[str, Any]], head: dict[str, dict[str, Any]]
) -> list[Destructive]:
    """Changes that fail at deploy because a resource has a fixed physical name (a bucket, a key alias,
    a named role, endpoint, state machine or log group): CloudFormation creates the new resource before
    it deletes the old one, so a replacement, or the same name under a new logical ID (a renamed or
    moved construct), collides with the old resource, which still exists, or is retained (orphaned) and
    keeps the name for good. `base`/`head`: templates by stack name.
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-name.html
    ("you can't perform an update that causes a custom-named resource to be replaced")"""
    out = []
    for diff in diffs:
        named = _named(head.get(diff.stack, {}))
        for r in diff.resources:
            if r.impact in ("replaced", "may be replaced") and r.logical_id in named:
                forced = f"forced by {', '.join(r.forcing)}; " if r.forcing else ""
                out.append(
                    Destructive(
                        diff.stack,
                        r.logical_id,
                        r.path,
                        r.type,
                        REPLACEMENT_FAILS,
                        f"{forced}it has the fixed name {_shown(named[r.logical_id][1])}: the "
                        "replacement cannot be created while the old resource holds the name",
                    )
                )
    gone = {
        (kind, name): (stack, logical_id)
        for stack, template in base.items()
        for logical_id, (kind, name, _) in _named(template).items()
        if logical_id not in head.get(stack, {}).get("Resources", {})
    }
    for stack, template in head.items():
        for logical_id, (kind, name, path) in _named(template).items():
            if logical_id in base.get(stack, {}).get("Resources", {}) or (kind, name) not in gone:
                continue
            old_stack, old_id = gone[(kind, name)]
            out.append(
                Destructive(
                    stack,
                    logical_id,
                    path,
                    kind,
                    MOVE_FAILS,
                    f"{old_stack}/{old_id} becomes {stack}/{logical_id} with the same fixed name "
                    f"{_shown(name)}: the new resource is created while the old one still exists "
                    "(or is retained, orphaned), so the name is taken",
                )
            )
    return out


def merge(fixed: list[Destructive], destructive: list[Destructive]) -> list[Destructive]:
    """The fixed-name conflicts first; a destructive change they already name is not repeated."""
    seen = {(d.stack, d.logical_id) for d in fixed}
    return fixed + [d for d in destructive if (d.stack, d.logical_id) not in seen]


INSTANCE_TYPE_CHANGE_FAILS = "updated to a new instance type while registered with autoscaling, which fails at deploy"
# The documented order ("Update endpoints that use auto scaling",
# https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html: deregister the scalable
# target, update the endpoint, register it again), as three deploys of this project's stacks.
INSTANCE_TYPE_STEPS = (
    "SageMaker refuses an instance-type change of a variant that is registered with Application Auto "
    "Scaling, and CloudFormation would deregister the target only after the endpoint update. Do it in "
    "three deploys: (1) keep the old instance_type, set serving.<model>.autoscaling_suspended: true "
    "in cdk.json and deploy (CloudFormation deletes the scaling policies and deregisters the variant; "
    "the instance count stays where autoscaling left it); (2) change instance_type, keep "
    "autoscaling_suspended, deploy (the blue/green update moves to the new type and keeps the count); "
    "(3) remove autoscaling_suspended and deploy (the variant is registered again). See "
    "docs/deploy-readiness.md, 'Changing the instance type of an autoscaled endpoint'."
)


def _variant_types(template: dict[str, Any]) -> dict[tuple[str, str], tuple[str, str]]:
    """(endpoint name, variant) -> (instance type, endpoint logical ID) of every endpoint with a fixed
    name whose config (in the same template) has instance-backed variants."""
    resources = template.get("Resources", {})
    out = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::SageMaker::Endpoint":
            continue
        props = resource.get("Properties") or {}
        name, config_ref = props.get("EndpointName"), props.get("EndpointConfigName")
        config_id = (config_ref or {}).get("Fn::GetAtt", [None])[0] if isinstance(config_ref, dict) else None
        config = resources.get(config_id or "", {}).get("Properties") or {}
        if not isinstance(name, str):
            continue
        for variant in config.get("ProductionVariants") or []:
            if isinstance(variant.get("VariantName"), str) and isinstance(variant.get("InstanceType"), str):
                out[(name, variant["VariantName"])] = (variant["InstanceType"], logical_id)
    return out


def _registered(template: dict[str, Any]) -> set[str]:
    """ResourceIds of the scalable targets of a template (e.g. endpoint/NAME/variant/VARIANT)."""
    return {
        str((r.get("Properties") or {}).get("ResourceId"))
        for r in template.get("Resources", {}).values()
        if r.get("Type") == "AWS::ApplicationAutoScaling::ScalableTarget"
    }


def autoscaled_instance_type_changes(
    base: dict[str, dict[str, Any]], head: dict[str, dict[str, Any]]
) -> list[Destructive]:
    """Endpoint variants whose instance type changes while the deployed (base) stack has them
    registered as a scalable target: UpdateEndpoint fails, and the stack rolls back. `base`/`head`:
    templates by stack name. The finding carries the steps that make the change in the documented order."""
    out = []
    for stack, template in head.items():
        before = base.get(stack)
        if before is None:
            continue
        old_types, registered = _variant_types(before), _registered(before)
        for (name, variant), (instance_type, logical_id) in sorted(_variant_types(template).items()):
            old = old_types.get((name, variant))
            if old is None or old[0] == instance_type or f"endpoint/{name}/variant/{variant}" not in registered:
                continue
            path = (template["Resources"][logical_id].get("Metadata") or {}).get("aws:cdk:path", "")
            out.append(
                Destructive(
                    stack,
                    logical_id,
                    path,
                    "AWS::SageMaker::Endpoint",
                    INSTANCE_TYPE_CHANGE_FAILS,
                    f"variant {variant} of {name} goes from {old[0]} to {instance_type}. {INSTANCE_TYPE_STEPS}",
                )
            )
    return out
