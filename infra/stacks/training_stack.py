"""Training images and one train -> evaluate -> gate -> register state machine per model, and what
ad-hoc experiments (`experiments/`) need from the platform, as outputs: images, roles, security groups."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Duration, Stack
from constructs import Construct

import shared_names as names
from infra.components.common import sagemaker_model_role, workload_security_group
from infra.components.evaluation import EvaluationReader
from infra.components.training_job import TrainingJobProps, TrainingJobTask
from infra.components.training_pipeline import TrainingPipeline
from infra.images import image_asset, serving_image
from infra.metric_definitions import load_metric_definitions
from infra.settings import EnvironmentSettings
from infra.stacks.network_stack import NetworkStack
from infra.stacks.storage_stack import StorageStack


def key(model: str, field: str) -> str:
    """The CloudFormation output key of one per-model training output (shared_names.TRAINING_MODEL_OUTPUTS)."""
    return names.model_output_key(model, names.TRAINING_MODEL_OUTPUTS[field])


class TrainingStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EnvironmentSettings,
        network: NetworkStack,
        storage: StorageStack,
        training_dir: Path,
        inference_dir: Path,
        metric_definitions_file: Path,
        description: str,
    ) -> None:
        super().__init__(scope, construct_id, description=description)
        metrics = load_metric_definitions(metric_definitions_file)
        data_bucket, artifact_bucket = storage.buckets_for(self)
        reader = EvaluationReader(
            self,
            "EvaluationReader",
            artifact_bucket=artifact_bucket,
            output_prefix=names.TRAINING_OUTPUT_ROOT,
            key=storage.key,
            vpc=network.vpc,
            subnets=network.subnets,
            s3_prefix_list_id=network.s3_prefix_list_id,
            log_retention_days=settings.log_retention_days,
            retain=settings.retain,
            reserved_concurrency=settings.evaluation_reserved_concurrency,
        )
        serving_types = {s.model: s.instance_type for s in settings.serving}
        self.pipelines = {}
        for t in settings.training:
            name = f"{settings.prefix}-{t.model}"
            m = t.model.capitalize()
            training_image = image_asset(self, f"{m}TrainingImage", training_dir, FRAMEWORK=t.framework)
            # The serving image of the same framework: the model package registers it, experiments deploy it.
            inference_image = serving_image(self, t.model, inference_dir, construct_id=f"{m}InferenceImage")
            job = TrainingJobTask(
                self,
                f"{m}TrainingJob",
                settings=t,
                props=TrainingJobProps(
                    job_name_prefix=name,
                    image=training_image,
                    metric_definitions=metrics,
                    data_bucket=data_bucket,
                    artifact_bucket=artifact_bucket,
                    key=storage.key,
                    vpc=network.vpc,
                    subnets=network.subnets,
                    s3_prefix_list_id=network.s3_prefix_list_id,
                ),
            )
            pipeline = TrainingPipeline(
                self,
                f"{t.model.capitalize()}Pipeline",
                model=t.model,
                group_name=name,
                training_job=job,
                evaluation_function=reader.function,
                inference_image=inference_image,
                quality_threshold=t.quality_threshold,
                security_gate=t.security.payload(t.model) if t.security else None,
                inference_instance_types=[serving_types.get(t.model, "ml.c5.xlarge")],
                timeout=Duration.seconds(max(t.max_runtime_s, t.max_wait_s) + 3600),
                key=storage.key,
                log_retention_days=settings.log_retention_days,
                retain=settings.retain,
            )
            self.pipelines[t.model] = pipeline
            CfnOutput(self, key(t.model, "state_machine_arn"), value=pipeline.state_machine.state_machine_arn)
            CfnOutput(self, key(t.model, "model_package_group"), value=name)
            CfnOutput(self, key(t.model, "training_image_uri"), value=training_image.image_uri)
            CfnOutput(self, key(t.model, "inference_image_uri"), value=inference_image.image_uri)
            CfnOutput(self, key(t.model, "training_role_arn"), value=job.role.role_arn)
            CfnOutput(self, key(t.model, "training_security_group_id"), value=job.security_group.security_group_id)
            # Temporary experiment endpoints (`python -m experiments deploy`): the serving stack's model
            # role and security group, for the endpoints named `<name>-exp-*`.
            experiment_role = sagemaker_model_role(
                self,
                f"{m}ExperimentModelRole",
                description=f"{name}-exp-* experiment endpoints: read the model artifact and pull the image",
                image=inference_image,
                model_data_bucket=artifact_bucket,
                model_data_prefix=names.training_output_prefix(t.model),
                key=storage.key,
                log_group=f"/aws/sagemaker/Endpoints/{name}-exp-*",
            )
            experiment_group = workload_security_group(
                self,
                f"{m}ExperimentSecurityGroup",
                vpc=network.vpc,
                s3_prefix_list_id=network.s3_prefix_list_id,
                description=f"{name}-exp-* experiment endpoint model containers",
            )
            CfnOutput(self, key(t.model, "model_role_arn"), value=experiment_role.role_arn)
            CfnOutput(self, key(t.model, "model_security_group_id"), value=experiment_group.security_group_id)
