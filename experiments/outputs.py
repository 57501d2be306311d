"""What an experiment needs from the deployed stacks, read from their CloudFormation outputs.

Names follow `infra/application.py`: `elasticml-<env>-storage|network|training`. Nothing is guessed:
a missing stack or output is an error that names it and says how to deploy it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from experiments.errors import MissingOutput, StackNotDeployed
from shared_names import MODEL_KINDS as MODELS
from shared_names import PROJECT, output_keys, stack_name, stack_prefix

__all__ = ["MODELS", "PROJECT", "PlatformOutputs", "output_keys", "read_platform_outputs", "stack_names"]


@dataclass(frozen=True)
class PlatformOutputs:
    """Everything `launch`, `deploy` and `register` take from the stacks, for one env and model."""

    env: str
    model: str
    data_bucket: str
    artifact_bucket: str
    key_arn: str
    subnet_ids: tuple[str, ...]
    training_image_uri: str
    training_role_arn: str
    training_security_group_id: str
    model_package_group: str
    inference_image_uri: str
    model_role_arn: str
    model_security_group_id: str

    @property
    def prefix(self) -> str:
        return stack_prefix(self.env)


def stack_names(env: str) -> dict[str, str]:
    return {part: stack_name(env, part) for part in ("storage", "network", "training")}


def describe_outputs(cloudformation, stack: str) -> dict[str, str] | None:
    """The stack's outputs by key; None when it does not exist (or was deleted)."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        if "does not exist" in exc.response.get("Error", {}).get("Message", ""):
            return None
        raise
    if not stacks or stacks[0].get("StackStatus") in ("DELETE_COMPLETE", "ROLLBACK_COMPLETE"):
        return None
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def any_platform_stack(cloudformation) -> bool:
    """Whether this region holds any elasticml stack: tells 'wrong region' from 'not deployed yet'."""
    paginator = cloudformation.get_paginator("list_stacks")
    for page in paginator.paginate(
        StackStatusFilter=["CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"]
    ):
        if any(s["StackName"].startswith(f"{PROJECT}-") for s in page["StackSummaries"]):
            return True
    return False


def read_platform_outputs(cloudformation, *, env: str, model: str) -> PlatformOutputs:
    names = stack_names(env)
    by_part: dict[str, dict[str, str]] = {}
    for part, stack in names.items():
        outputs = describe_outputs(cloudformation, stack)
        if outputs is None:
            raise StackNotDeployed(
                stack, cloudformation.meta.region_name, others_in_region=any_platform_stack(cloudformation)
            )
        by_part[part] = outputs
    values: dict[str, Any] = {}
    for field, (part, key) in output_keys(model).items():
        if key not in by_part[part]:
            raise MissingOutput(names[part], key, list(by_part[part]))
        values[field] = by_part[part][key]
    values["subnet_ids"] = tuple(s.strip() for s in str(values["subnet_ids"]).split(",") if s.strip())
    return PlatformOutputs(env=env, model=model, **values)
