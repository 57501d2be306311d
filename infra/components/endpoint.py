"""A SageMaker real-time endpoint: isolated model, encrypted config with data capture, blue/green
canary deployments that roll back on alarms, target-tracking autoscaling and a dashboard."""

from __future__ import annotations

import re

from aws_cdk import Annotations, Duration, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra.components.alarms import notified_rollback_alarms
from infra.components.common import grant_prefix
from infra.components.serving_model import isolated_model
from infra.instance_storage import has_instance_storage
from infra.nag import allow_wildcards
from infra.rules import SUSPENDED_METADATA
from infra.settings import ModelVersion, ServingSettings

VARIANT = "AllTraffic"
# Every update keeps the instance count (and weight) the variant has, whatever autoscaling reached,
# instead of resetting it to the config's InitialInstanceCount: to retain variant properties such as the
# instance count or weight, set RetainAllVariantProperties to true (step 6 of "Update endpoints that use
# auto scaling", https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html; the property:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-sagemaker-endpoint.html).
# Project-RetainScaledCapacity. Excluding DataCaptureConfig from the retained properties is "Not currently
# supported" (AWS::SageMaker::Endpoint VariantProperty), so see docs/deploy-readiness.md for data capture.
KEEP_SCALED_CAPACITY = {"retain_all_variant_properties": True}


def suspend_autoscaling(endpoint: sagemaker.CfnEndpoint, endpoint_name: str) -> None:
    """Leave the variant unregistered (serving.<model>.autoscaling_suspended): CloudFormation deletes the
    scaling policies and deregisters the scalable target, as SageMaker requires before an instance-type
    change of a registered variant ("Update endpoints that use auto scaling"). Recorded on the endpoint
    for Project-EndpointAutoscaling, and warned about at synth."""
    endpoint.node.add_metadata(SUSPENDED_METADATA, {"endpoint": endpoint_name})
    Annotations.of(endpoint).add_warning_v2(
        "elasticml:autoscaling-suspended",
        f"{endpoint_name}: autoscaling is suspended (serving.<model>.autoscaling_suspended); the instance "
        "count stays where it is until autoscaling_suspended is removed and the stack deployed again",
    )


class AutoscaledEndpoint(Construct):
    """Serves one model version; `settings` decides capacity, scaling, deployment and alarms."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        settings: ServingSettings,
        version: ModelVersion,
        image: ecr_assets.DockerImageAsset,
        model_data_bucket: s3.IBucket,
        model_data_prefix: str,
        capture_bucket: s3.IBucket,
        capture_prefix: str,
        key: kms.IKey,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        s3_prefix_list_id: str,
        log_retention_days: int,
        retain: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.endpoint_name = endpoint_name
        self.model, role, self.log_group = isolated_model(
            self,
            endpoint_name=endpoint_name,
            version=version,
            image=image,
            model_data_bucket=model_data_bucket,
            model_data_prefix=model_data_prefix,
            key=key,
            vpc=vpc,
            subnets=subnets,
            s3_prefix_list_id=s3_prefix_list_id,
            log_group=f"/aws/sagemaker/Endpoints/{endpoint_name}",
            log_retention_days=log_retention_days,
            retain=retain,
        )
        self.config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            # SageMaker refuses KmsKeyId for types with (hardware-encrypted) local storage
            kms_key_id=None if has_instance_storage(settings.instance_type) else key.key_arn,
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=VARIANT,
                    model_name=self.model.attr_model_name,
                    instance_type=settings.instance_type,
                    initial_instance_count=settings.min_capacity,
                    initial_variant_weight=1.0,
                )
            ],
            data_capture_config=sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
                enable_capture=settings.data_capture_percent > 0,
                initial_sampling_percentage=settings.data_capture_percent,
                destination_s3_uri=f"s3://{capture_bucket.bucket_name}/{capture_prefix}",
                kms_key_id=key.key_arn,
                capture_options=[
                    sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input"),
                    sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Output"),
                ],
                capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
                    json_content_types=["application/json"]
                ),
            ),
        )
        grant_prefix(role, capture_bucket, capture_prefix, write=True)
        allow_wildcards(
            role,
            f"Model execution role: writes the endpoint's captured data under {capture_prefix}/.",
            rf"Resource::.*/{re.escape(capture_prefix)}/\*",
        )
        self.alarm_topic, self.errors_alarm, self.latency_alarm = notified_rollback_alarms(
            self, name=self.endpoint_name, settings=settings, metric=self._metric, key=key, topic_name=endpoint_name
        )
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=endpoint_name,
            endpoint_config_name=self.config.attr_endpoint_config_name,
            **KEEP_SCALED_CAPACITY,
            deployment_config=sagemaker.CfnEndpoint.DeploymentConfigProperty(
                blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
                    traffic_routing_configuration=sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
                        type="CANARY",
                        wait_interval_in_seconds=settings.canary_wait_s,
                        canary_size=sagemaker.CfnEndpoint.CapacitySizeProperty(
                            type="CAPACITY_PERCENT", value=settings.canary_percent
                        ),
                    ),
                    termination_wait_in_seconds=settings.termination_wait_s,
                ),
                auto_rollback_configuration=sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
                    alarms=[
                        sagemaker.CfnEndpoint.AlarmProperty(alarm_name=alarm.alarm_name)
                        for alarm in (self.errors_alarm, self.latency_alarm)
                    ]
                ),
            ),
        )
        self.endpoint.node.add_dependency(self.log_group)  # exists before SageMaker writes to it
        self.scaling_target = None
        if settings.autoscaling_suspended:
            suspend_autoscaling(self.endpoint, endpoint_name)
            self.dashboard = self._dashboard(settings)
            return
        self.scaling_target = appscaling.ScalableTarget(
            self,
            "ScalableTarget",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{endpoint_name}/variant/{VARIANT}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=settings.min_capacity,
            max_capacity=settings.max_capacity,
            role=iam.Role.from_role_arn(
                self,
                "ScalingRole",
                Stack.of(self).format_arn(
                    service="iam",
                    region="",
                    resource="role",
                    resource_name="aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
                    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint",
                ),
            ),
        )
        self.scaling_target.node.add_dependency(self.endpoint)
        self.scaling_target.scale_to_track_metric(
            "InvocationsPerInstance",
            target_value=settings.invocations_per_instance_target,
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            scale_in_cooldown=Duration.seconds(settings.scale_in_cooldown_s),
            scale_out_cooldown=Duration.seconds(settings.scale_out_cooldown_s),
        )
        # The capacity plan's scheduled actions raise and lower MinCapacity ahead of forecast ramps
        # (https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_applicationautoscaling.ScalingSchedule.html).
        for action in settings.plan.scheduled_actions if settings.plan else ():
            self.scaling_target.scale_on_schedule(
                action.name, schedule=appscaling.Schedule.expression(action.schedule), min_capacity=action.min_capacity
            )
        self.dashboard = self._dashboard(settings)

    def _metric(self, name: str, statistic: str, namespace: str = "AWS/SageMaker") -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=namespace,
            metric_name=name,
            statistic=statistic,
            period=Duration.minutes(1),
            dimensions_map={"EndpointName": self.endpoint_name, "VariantName": VARIANT},
        )

    def _dashboard(self, settings: ServingSettings) -> cloudwatch.Dashboard:
        dashboard = cloudwatch.Dashboard(self, "Dashboard")
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Invocations per instance (scaling metric)",
                left=[self._metric("InvocationsPerInstance", "Sum")],
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(value=settings.invocations_per_instance_target, label="target")
                ],
            ),
            cloudwatch.GraphWidget(
                title="Model latency (us)",
                left=[self._metric("ModelLatency", "p50"), self._metric("ModelLatency", "p99")],
            ),
            cloudwatch.GraphWidget(
                title="Errors",
                left=[self._metric("Invocation4XXErrors", "Sum"), self._metric("Invocation5XXErrors", "Sum")],
            ),
            cloudwatch.GraphWidget(
                title="Instances: CPU and memory",
                left=[
                    self._metric("CPUUtilization", "Average", "/aws/sagemaker/Endpoints"),
                    self._metric("MemoryUtilization", "Average", "/aws/sagemaker/Endpoints"),
                ],
            ),
            cloudwatch.AlarmStatusWidget(title="Rollback alarms", alarms=[self.errors_alarm, self.latency_alarm]),
        )
        return dashboard
