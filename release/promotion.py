"""A registry approval -> the approved package serving that environment's endpoint.

The path: SageMaker emits `SageMaker Model Package State Change`; the access stack's EventBridge rule
keeps only approvals in the environment's groups and sends them through an API destination to
GitHub's repository_dispatch; the promote workflow runs `python -m release promote` in the
environment's GitHub environment (prod: its reviewers). Why this path rather than CodeBuild or
resolving the newest approved version at synth: deploys stay in one place (the workflow, with its
review and its prod gate), and which package an endpoint serves stays an input of the deploy
(`-c <model>_model_package_arn`), recorded in the registry, never looked up at synth
(docs/architecture.md). docs/deploy.md has the AWS pages this rests on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shared_names as names
from release.registry import PACKAGE_ARN, PromotionError, Registry


@dataclass(frozen=True)
class Approval:
    """What the dispatch carries (`client_payload`, written by the access stack's rule)."""

    environment: str
    model_package_arn: str
    model_package_group: str
    model_approval_status: str


def read_approval(event_path: Path) -> Approval:
    """The approval in a repository_dispatch event file (GITHUB_EVENT_PATH); bad input names the key."""
    try:
        event = json.loads(event_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PromotionError(f"{event_path}: not a readable JSON event ({exc})") from exc
    if event.get("action") not in (None, names.DISPATCH_EVENT_TYPE):
        raise PromotionError(f"{event_path}: action {event.get('action')!r} is not {names.DISPATCH_EVENT_TYPE!r}")
    payload = event.get("client_payload")
    if not isinstance(payload, Mapping):
        raise PromotionError(f"{event_path}: client_payload missing")
    values = {}
    for key in ("environment", "model_package_arn", "model_package_group", "model_approval_status"):
        value = payload.get(key)
        if not isinstance(value, str) or not value:
            raise PromotionError(f"{event_path}: client_payload.{key} missing or not a string")
        values[key] = value
    return Approval(**values)


@dataclass(frozen=True)
class Target:
    """One environment as promotion sees it."""

    env: str
    project: str
    models: tuple[str, ...]
    promote_from: str | None = None

    @property
    def prefix(self) -> str:
        return names.stack_prefix(self.env, self.project)

    def group(self, model: str) -> str:
        return f"{self.prefix}-{model}"

    def endpoint(self, model: str) -> str:
        return f"{self.prefix}-{model}"

    def serving_stack(self, model: str) -> str:
        return f"{names.stack_name(self.env, 'serving', self.project)}-{model}"

    def model_of(self, group: str) -> str | None:
        return next((m for m in self.models if self.group(m) == group), None)


@dataclass(frozen=True)
class Result:
    deployed: bool
    message: str
    model: str | None = None
    model_package_arn: str | None = None


class DeployFailed(RuntimeError):
    """The serving stack's deploy failed (CloudFormation rolled it back; the endpoint serves what it did)."""


Deploy = Callable[[str, str], None]  # (model, package ARN) -> None, raises DeployFailed


def promote(approval: Approval, target: Target, registry: Registry, deploy: Deploy, now: str) -> Result:
    """Deploy the approved package to `target`'s endpoint and record it in the registry.

    Skipped (nothing changes): a package of another group, or one that is no longer approved. Refused
    (PromotionError): an event for another environment, and in an environment that takes its models
    from another one, a package that never served there. A failed deploy changes nothing in the registry."""
    if approval.environment != target.env:
        raise PromotionError(
            f"the approval is for environment {approval.environment!r}, this job deploys {target.env!r}"
        )
    model = target.model_of(approval.model_package_group)
    match = PACKAGE_ARN.fullmatch(approval.model_package_arn)
    if model is None or not match or match["group"] != approval.model_package_group:
        return Result(
            False,
            f"{approval.model_package_arn}: not a package of {target.env}'s groups "
            f"({', '.join(target.group(m) for m in target.models)}); nothing deployed",
        )
    description = registry.describe(approval.model_package_arn)
    status = description.get("ModelApprovalStatus")
    if status != "Approved":
        return Result(
            False,
            f"{approval.model_package_arn} is {status} now (the event said {approval.model_approval_status}); "
            "nothing deployed",
            model,
            approval.model_package_arn,
        )
    metadata = description.get("CustomerMetadataProperties") or {}
    if target.promote_from:
        source_key = names.served_in_key(target.promote_from)
        if not metadata.get(names.SOURCE_PACKAGE_KEY) or not metadata.get(source_key):
            raise PromotionError(
                f"{approval.model_package_arn} never served in {target.promote_from}: it has no "
                f"{names.SOURCE_PACKAGE_KEY}/{source_key} metadata. A model reaches {target.env} only as a "
                f"package that served in {target.promote_from}, registered here by the promote workflow; "
                "reject this one"
            )
    endpoint = target.endpoint(model)
    previous = registry.serving(target.group(model), endpoint)
    if previous == approval.model_package_arn:
        return Result(False, f"{endpoint} serves {previous} already; nothing deployed", model, previous)
    try:
        deploy(model, approval.model_package_arn)
    except DeployFailed as exc:
        raise PromotionError(
            f"deploying {approval.model_package_arn} to {endpoint} failed ({exc}); CloudFormation rolled the "
            f"stack back and the registry still says {previous or 'no package'} serves it"
        ) from exc
    registry.mark_serving(approval.model_package_arn, endpoint=endpoint, env=target.env, at=now, previous=previous)
    return Result(True, f"{endpoint} serves {approval.model_package_arn}", model, approval.model_package_arn)


def source_record(registry: Registry, arn: str, env: str) -> dict[str, Any]:
    """What the registration in the next environment needs of a package that serves in `env`."""
    description = registry.describe(arn)
    metadata = description.get("CustomerMetadataProperties") or {}
    if not metadata.get(names.served_in_key(env)):
        raise PromotionError(f"{arn} has not served in {env} (no {names.served_in_key(env)} metadata)")
    return {
        "model_package_arn": arn,
        "environment": env,
        "served_at": metadata[names.served_in_key(env)],
        "inference_specification": description["InferenceSpecification"],
        "description": description.get("ModelPackageDescription", ""),
    }


def register(source: Mapping[str, Any], model: str, target: Target, registry: Registry, image_uri: str) -> str:
    """Register the artifact that served in `target.promote_from` in `target`'s group, pending approval:
    the same model.tar.gz (read across accounts), `target`'s own copy of the inference image. Returns
    the new package's ARN, or the one registered before from the same source."""
    if not target.promote_from or source.get("environment") != target.promote_from:
        raise PromotionError(
            f"{target.env} takes models from {target.promote_from or 'no environment'}; the source package "
            f"served in {source.get('environment')!r}"
        )
    source_arn = str(source["model_package_arn"])
    group = target.group(model)
    listed = registry.call("list_model_packages", ModelPackageGroupName=group, SortBy="CreationTime", MaxResults=100)
    for summary in listed.get("ModelPackageSummaryList", []):
        metadata = registry.describe(summary["ModelPackageArn"]).get("CustomerMetadataProperties") or {}
        if metadata.get(names.SOURCE_PACKAGE_KEY) == source_arn:
            return summary["ModelPackageArn"]
    spec = json.loads(json.dumps(source["inference_specification"]))
    for container in spec["Containers"]:
        container["Image"] = image_uri
        container.pop("ImageDigest", None)
    created = registry.call(
        "create_model_package",
        ModelPackageGroupName=group,
        ModelApprovalStatus="PendingManualApproval",
        ModelPackageDescription=f"Served in {target.promote_from} as {source_arn}"[:1024],
        InferenceSpecification=spec,
        CustomerMetadataProperties={
            names.SOURCE_PACKAGE_KEY: source_arn,
            names.served_in_key(target.promote_from): str(source["served_at"]),
        },
    )
    return created["ModelPackageArn"]
