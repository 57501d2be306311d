"""`deploy`, `register` and `teardown` with the SDK's `sagemaker.core` resources.

A temporary endpoint gets the pipeline's guardrails: the inference image, the model in the VPC with
network isolation, the endpoint config encrypted with the project key. Its model, endpoint config
and endpoint share one name and carry the tag `elasticml:experiment=<name>`; `teardown` deletes only
resources that carry that tag, so it can never remove a pipeline endpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from sagemaker.core.resources import Endpoint, EndpointConfig, Model
from sagemaker.core.shapes import (
    ContainerDefinition,
    ProductionVariant,
    Tag,
    VpcConfig,
)

import shared_names
from experiments.errors import GuardrailViolation
from experiments.outputs import PlatformOutputs
from experiments.spec import TAG_KEY

VARIANT = "AllTraffic"
# As the pipeline registers them (infra/components/training_pipeline.py).
CONTENT_TYPES = {model: list(types) for model, types in shared_names.CONTENT_TYPES.items()}


@dataclass(frozen=True)
class DeploymentSpec:
    name: str
    job_name: str
    model_data_url: str
    image_uri: str
    role_arn: str
    key_arn: str
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    instance_type: str
    tags: dict[str, str] = field(default_factory=dict)


def check_finished_job(job: dict[str, Any], outputs: PlatformOutputs) -> str:
    """The job's model artifact, if it is one the model role may read."""
    name, status = job["TrainingJobName"], job["TrainingJobStatus"]
    if status != "Completed":
        raise GuardrailViolation(f"training job {name} is {status}; only a Completed job can be deployed")
    artifact = job.get("ModelArtifacts", {}).get("S3ModelArtifacts", "")
    allowed = f"s3://{outputs.artifact_bucket}/training/{outputs.model}/"
    if not artifact.startswith(allowed):
        raise GuardrailViolation(f"{artifact or 'no artifact'}: the {outputs.model} model role reads only {allowed}")
    return artifact


def deployment_spec(*, name: str, job: dict[str, Any], outputs: PlatformOutputs, instance_type: str) -> DeploymentSpec:
    if len(name) > 63:
        raise GuardrailViolation(f"endpoint name {name!r} is longer than 63 characters; pass a shorter --name")
    return DeploymentSpec(
        name=name,
        job_name=job["TrainingJobName"],
        model_data_url=check_finished_job(job, outputs),
        image_uri=outputs.inference_image_uri,
        role_arn=outputs.model_role_arn,
        key_arn=outputs.key_arn,
        subnet_ids=outputs.subnet_ids,
        security_group_ids=(outputs.model_security_group_id,),
        instance_type=instance_type,
        tags={
            TAG_KEY: name,
            "project": shared_names.PROJECT,
            "environment": outputs.env,
            f"{shared_names.PROJECT}:training-job": job["TrainingJobName"],
        },
    )


def _tags(spec_tags: dict[str, str]) -> list[Tag]:
    return [Tag(key=k, value=v) for k, v in spec_tags.items()]


def deploy_steps(spec: DeploymentSpec, session) -> list[Callable[[], object]]:
    """CreateModel, CreateEndpointConfig, CreateEndpoint, in order; each returns the SDK resource."""
    return [
        lambda: Model.create(
            model_name=spec.name,
            execution_role_arn=spec.role_arn,
            enable_network_isolation=True,
            primary_container=ContainerDefinition(image=spec.image_uri, model_data_url=spec.model_data_url),
            vpc_config=VpcConfig(security_group_ids=list(spec.security_group_ids), subnets=list(spec.subnet_ids)),
            tags=_tags(spec.tags),
            session=session,
        ),
        lambda: EndpointConfig.create(
            endpoint_config_name=spec.name,
            kms_key_id=spec.key_arn,
            tags=_tags(spec.tags),
            session=session,
            production_variants=[
                ProductionVariant(
                    variant_name=VARIANT,
                    model_name=spec.name,
                    instance_type=spec.instance_type,
                    initial_instance_count=1,
                    initial_variant_weight=1.0,
                )
            ],
        ),
        lambda: Endpoint.create(
            endpoint_name=spec.name, endpoint_config_name=spec.name, tags=_tags(spec.tags), session=session
        ),
    ]


def register_step(
    *, job: dict[str, Any], outputs: PlatformOutputs, instance_type: str, evaluation: dict[str, Any] | None, session
) -> Callable[[], dict[str, Any]]:
    """CreateModelPackage in the model's group, pending manual approval, as the pipeline registers.

    Sent with the session's SageMaker client, not `ModelPackage.create`: in sagemaker-core 2.27 that
    method's `inference_specification` is typed as the model card's shape (containers only), which
    drops the content types and instance types the pipeline's approval flow relies on."""
    artifact = check_finished_job(job, outputs)
    metadata = {"training_job": job["TrainingJobName"], "source": "experiments"}
    description = f"Experiment {job['TrainingJobName']}"
    if evaluation:
        metadata["accuracy"] = str(evaluation.get("accuracy"))
        description += f"; accuracy {evaluation.get('accuracy')} on {evaluation.get('split')}"
    request = {
        "ModelPackageGroupName": outputs.model_package_group,
        "ModelApprovalStatus": "PendingManualApproval",
        "ModelPackageDescription": description,
        "CustomerMetadataProperties": metadata,
        "InferenceSpecification": {
            "Containers": [{"Image": outputs.inference_image_uri, "ModelDataUrl": artifact}],
            "SupportedContentTypes": CONTENT_TYPES[outputs.model],
            "SupportedResponseMIMETypes": ["application/json"],
            "SupportedRealtimeInferenceInstanceTypes": [instance_type],
        },
        "Tags": [
            {"Key": k, "Value": v}
            for k, v in {
                TAG_KEY: job["TrainingJobName"],
                "project": shared_names.PROJECT,
                "environment": outputs.env,
            }.items()
        ],
    }
    return lambda: session.client("sagemaker").create_model_package(**request)


# --- teardown -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    label: str
    noun: str  # Endpoint -> describe_endpoint, EndpointName, EndpointArn, delete_endpoint

    @property
    def snake(self) -> str:
        return self.label.replace(" ", "_")


KINDS = (Kind("endpoint", "Endpoint"), Kind("endpoint config", "EndpointConfig"), Kind("model", "Model"))
"""Deleted in this order: the endpoint first, the model it serves last."""


@dataclass(frozen=True)
class Owned:
    kind: Kind
    name: str


def _is_not_found(exc: ClientError) -> bool:
    message = exc.response.get("Error", {}).get("Message", "")
    return exc.response.get("Error", {}).get("Code") == "ValidationException" and "Could not find" in message


def owned_resources(client, name: str) -> list[Owned]:
    """What `deploy` made under `name`; refuses anything that lacks its tag."""
    found = []
    for kind in KINDS:
        try:
            arn = getattr(client, f"describe_{kind.snake}")(**{f"{kind.noun}Name": name})[f"{kind.noun}Arn"]
        except ClientError as exc:
            if _is_not_found(exc):
                continue
            raise
        tags = {t["Key"]: t["Value"] for t in client.list_tags(ResourceArn=arn).get("Tags", [])}
        if tags.get(TAG_KEY) != name:
            raise GuardrailViolation(
                f"{kind.label} {name} was not made by `experiments deploy` (no {TAG_KEY}={name} "
                "tag); teardown leaves it alone"
            )
        found.append(Owned(kind, name))
    return found


def deployments(client, prefix: str) -> list[str]:
    """Names of the experiment deployments in this env: models named `<prefix>-...` with our tag."""
    names = []
    for page in client.get_paginator("list_models").paginate(NameContains=prefix):
        for model in page["Models"]:
            tags = {t["Key"]: t["Value"] for t in client.list_tags(ResourceArn=model["ModelArn"]).get("Tags", [])}
            if tags.get(TAG_KEY) == model["ModelName"]:
                names.append(model["ModelName"])
    return names


def delete_step(client, owned: Owned) -> Callable[[], object]:
    return lambda: getattr(client, f"delete_{owned.kind.snake}")(**{f"{owned.kind.noun}Name": owned.name})
