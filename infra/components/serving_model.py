"""The SageMaker model every serving mode deploys: network-isolated in the VPC, its own execution role;
and `ServedModel`, the start every mode's construct shares (the endpoint name and that model)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.components.common import (
    depend_on_policy_only,
    encrypted_log_group,
    sagemaker_model_role,
    workload_security_group,
)
from infra.components.serving_parts import ServingInputs, blue_green_endpoint, suspend_autoscaling
from infra.settings import ModelVersion, ServingSettings


def isolated_model(
    scope: Construct,
    *,
    endpoint_name: str,
    version: ModelVersion,
    inputs: ServingInputs,
    log_group: str,
    environment: Mapping[str, str] | None = None,
) -> tuple[sagemaker.CfnModel, iam.Role, logs.LogGroup]:
    """`Model` (and `ModelRole`, `SecurityGroup`, `Logs`) under `scope`: the model package or the inference
    image with a model.tar.gz, `EnableNetworkIsolation` and a `VpcConfig` in the subnets whose security group
    allows only HTTPS to S3; the role writes `log_group`, which is created here with the project key and
    a retention (else SageMaker creates it on first write, unencrypted and kept forever). Whatever
    writes to the log group should depend on it."""
    if not version.given:
        raise ValueError(f"{endpoint_name}: a model package ARN or a model data URL is required")
    security_group = workload_security_group(
        scope,
        "SecurityGroup",
        vpc=inputs.vpc,
        s3_prefix_list_id=inputs.s3_prefix_list_id,
        description=f"{endpoint_name} model containers",
    )
    logs_group = encrypted_log_group(
        scope, "Logs", key=inputs.key, retention_days=inputs.log_retention_days, retain=inputs.retain, name=log_group
    )
    role = sagemaker_model_role(
        scope,
        "ModelRole",
        description=f"{endpoint_name}: read the model artifact and pull the image",
        image=inputs.image,
        model_data_bucket=inputs.model_data_bucket,
        model_data_prefix=inputs.model_data_prefix,
        key=inputs.key,
        log_group=log_group,
    )
    env = dict(environment) if environment else None
    container = (
        sagemaker.CfnModel.ContainerDefinitionProperty(model_package_name=version.model_package_arn, environment=env)
        if version.model_package_arn
        else sagemaker.CfnModel.ContainerDefinitionProperty(
            image=inputs.image.image_uri, environment=env, model_data_url=version.model_data_url
        )
    )
    model = sagemaker.CfnModel(
        scope,
        "Model",
        execution_role_arn=role.role_arn,
        primary_container=container,
        enable_network_isolation=True,
        vpc_config=sagemaker.CfnModel.VpcConfigProperty(
            security_group_ids=[security_group.security_group_id],
            subnets=inputs.vpc.select_subnets(subnet_type=inputs.subnets.subnet_type).subnet_ids,
        ),
    )
    depend_on_policy_only(model, role)
    return model, role, logs_group


class ServedModel(Construct):
    """The base of each serving mode's construct: `serve_model` makes its endpoint name and
    `isolated_model` under it (the model, `model_role` and `log_group`, with the construct IDs that
    function fixes); `deploy_blue_green` the endpoint of the modes with a model variant. Each mode adds
    its endpoint config, alarms, scaling and dashboard."""

    endpoint_name: str
    model: sagemaker.CfnModel
    model_role: iam.Role
    log_group: logs.LogGroup
    # set by deploy_blue_green (realtime and async)
    alarm_topic: sns.Topic
    errors_alarm: cloudwatch.Alarm
    latency_alarm: cloudwatch.Alarm
    endpoint: sagemaker.CfnEndpoint

    def serve_model(
        self,
        endpoint_name: str,
        settings: ServingSettings,
        inputs: ServingInputs,
        log_group: str,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self.endpoint_name = endpoint_name
        self.model, self.model_role, self.log_group = isolated_model(
            self,
            endpoint_name=endpoint_name,
            version=settings.version,
            inputs=inputs,
            log_group=log_group,
            environment=environment,
        )

    def deploy_blue_green(
        self,
        config: sagemaker.CfnEndpointConfig,
        settings: ServingSettings,
        inputs: ServingInputs,
        metric: Callable[[str, str], cloudwatch.Metric],
    ) -> bool:
        """`config` deployed blue/green with its rollback alarms on `metric` (`serving_parts.blue_green_endpoint`,
        realtime and async). Returns whether the mode registers the variant with autoscaling: not while
        `autoscaling_suspended` (`suspend_autoscaling`)."""
        self.alarm_topic, self.errors_alarm, self.latency_alarm, self.endpoint = blue_green_endpoint(
            self,
            endpoint_name=self.endpoint_name,
            config=config,
            settings=settings,
            metric=metric,
            key=inputs.key,
            log_group=self.log_group,
        )
        if settings.autoscaling_suspended:
            suspend_autoscaling(self.endpoint, self.endpoint_name)
            return False
        return True
