"""The SageMaker Python SDK v3 side of `launch`: a `ModelTrainer` carrying every guardrail of the spec."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import boto3
from sagemaker.core.helper.session_helper import Session
from sagemaker.core.shapes import MetricDefinition, Tag
from sagemaker.core.training.configs import (
    CheckpointConfig,
    Compute,
    InputData,
    Networking,
    OutputDataConfig,
    StoppingCondition,
)
from sagemaker.train.model_trainer import ModelTrainer

from experiments.spec import CHECKPOINT_LOCAL_PATH, TrainingSpec

# Given explicitly, so no config file on the user's machine is read (or fills in defaults of its own)
# and the SDK sends no usage telemetry from inside the platform's accounts.
SDK_CONFIG: dict[str, Any] = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}


def sdk_session(boto_session: boto3.Session, default_bucket: str | None = None) -> Session:
    return Session(boto_session=boto_session, sagemaker_config=SDK_CONFIG, default_bucket=default_bucket)


@contextlib.contextmanager
def stack_role_trusted() -> Iterator[None]:
    """ModelTrainer checks its role with iam:SimulatePrincipalPolicy against Resource "*"; the stacks'
    roles scope the EC2 network-interface actions to ARNs and PutMetricData to a namespace, so that
    check calls them denied. The role comes from the training stack (where cdk-nag and the tests check
    it), so the SDK's own check is switched off while the trainer is built."""
    previous = os.environ.get("SAGEMAKER_VALIDATE_ROLE")
    os.environ["SAGEMAKER_VALIDATE_ROLE"] = "false"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("SAGEMAKER_VALIDATE_ROLE", None)
        else:
            os.environ["SAGEMAKER_VALIDATE_ROLE"] = previous


def model_trainer(spec: TrainingSpec, session: Session) -> ModelTrainer:
    with stack_role_trusted():
        trainer = _model_trainer(spec, session)
    return trainer.with_metric_definitions(
        [MetricDefinition(name=d["Name"], regex=d["Regex"]) for d in spec.metric_definitions]
    )


def _model_trainer(spec: TrainingSpec, session: Session) -> ModelTrainer:
    return ModelTrainer(
        sagemaker_session=session,
        role=spec.role_arn,
        base_job_name=spec.base_job_name,
        training_image=spec.image_uri,
        training_input_mode="File",
        compute=Compute(
            instance_type=spec.instance_type,
            instance_count=spec.instance_count,
            volume_size_in_gb=spec.volume_size_gb,
            volume_kms_key_id=spec.key_arn,
            enable_managed_spot_training=True,
        ),
        networking=Networking(
            subnets=list(spec.subnet_ids),
            security_group_ids=list(spec.security_group_ids),
            enable_network_isolation=True,
            enable_inter_container_traffic_encryption=True,
        ),
        stopping_condition=StoppingCondition(
            max_runtime_in_seconds=spec.max_runtime_s, max_wait_time_in_seconds=spec.max_wait_s
        ),
        output_data_config=OutputDataConfig(s3_output_path=spec.output_path, kms_key_id=spec.key_arn),
        checkpoint_config=CheckpointConfig(s3_uri=spec.checkpoint_uri, local_path=CHECKPOINT_LOCAL_PATH),
        input_data_config=[InputData(channel_name=name, data_source=uri) for name, uri in spec.channels.items()],
        hyperparameters=dict(spec.hyperparameters),
        tags=[Tag(key=k, value=v) for k, v in spec.tags.items()],
    )


def start(trainer: ModelTrainer):
    """CreateTrainingJob; returns the SDK's TrainingJob resource (described once after creation)."""
    trainer.train(wait=False, logs=False)
    return trainer._latest_training_job  # the SDK keeps it there; there is no public accessor in 3.27


def follow_logs_with(boto_session: boto3.Session) -> None:
    """`TrainingJob.wait(logs=True)` reads CloudWatch Logs through a process-wide client that the SDK
    builds from a default boto3 session, which would ignore --profile and --region (sagemaker-core 2.27,
    `sagemaker.core.utils.logs.CloudWatchLogsClient`); give it the experiment's session instead."""
    from sagemaker.core.utils.logs import CloudWatchLogsClient
    from sagemaker.core.utils.utils import SingletonMeta

    client = boto_session.client("logs")
    SingletonMeta._instances[CloudWatchLogsClient] = instance = object.__new__(CloudWatchLogsClient)
    instance.client = client
