"""Mode `realtime`: a SageMaker real-time endpoint. Isolated model, encrypted config with data capture,
blue/green canary deployments that roll back on alarms, target tracking on invocations per instance
(with the capacity plan's scheduled minimums) and a dashboard."""

from __future__ import annotations

import re

from aws_cdk import Duration
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra.components.common import grant_prefix
from infra.components.serving_model import ServedModel
from infra.components.serving_parts import (
    VARIANT,
    ServingInputs,
    config_key,
    latency_widget,
    model_variant,
    sagemaker_metric,
    variant_target,
)
from infra.nag import allow_wildcards
from infra.settings import ServingSettings


class AutoscaledEndpoint(ServedModel):
    """Serves one model version; `settings` decides capacity, scaling, deployment and alarms."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        settings: ServingSettings,
        inputs: ServingInputs,
        capture_bucket: s3.IBucket,
        capture_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.serve_model(endpoint_name, settings, inputs, f"/aws/sagemaker/Endpoints/{endpoint_name}")
        self.config = self._config(settings, inputs, capture_bucket, capture_prefix)
        grant_prefix(self.model_role, capture_bucket, capture_prefix, write=True)
        allow_wildcards(
            self.model_role,
            f"Model execution role: writes the endpoint's captured data under {capture_prefix}/.",
            rf"Resource::.*/{re.escape(capture_prefix)}/\*",
        )
        scaled = self.deploy_blue_green(self.config, settings, inputs, self._metric)
        self.scaling_target = self._scaling(settings) if scaled else None
        self.dashboard = self._dashboard(settings)

    def _config(
        self, settings: ServingSettings, inputs: ServingInputs, capture_bucket: s3.IBucket, capture_prefix: str
    ) -> sagemaker.CfnEndpointConfig:
        return sagemaker.CfnEndpointConfig(
            self,
            "Config",
            kms_key_id=config_key(settings, inputs.key),
            production_variants=[model_variant(self.model, settings, initial_instance_count=settings.min_capacity)],
            data_capture_config=sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
                enable_capture=settings.data_capture_percent > 0,
                initial_sampling_percentage=settings.data_capture_percent,
                destination_s3_uri=f"s3://{capture_bucket.bucket_name}/{capture_prefix}",
                kms_key_id=inputs.key.key_arn,
                capture_options=[
                    sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input"),
                    sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Output"),
                ],
                capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
                    json_content_types=["application/json"]
                ),
            ),
        )

    def _scaling(self, settings: ServingSettings) -> appscaling.ScalableTarget:
        """Target tracking on invocations per instance; the capacity plan's scheduled actions raise and
        lower MinCapacity ahead of forecast ramps
        (https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_applicationautoscaling.ScalingSchedule.html)."""
        target = variant_target(
            self, self.endpoint, self.endpoint_name, low=settings.min_capacity, high=settings.max_capacity
        )
        target.scale_to_track_metric(
            "InvocationsPerInstance",
            target_value=settings.invocations_per_instance_target,
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            scale_in_cooldown=Duration.seconds(settings.scale_in_cooldown_s),
            scale_out_cooldown=Duration.seconds(settings.scale_out_cooldown_s),
        )
        for action in settings.plan.scheduled_actions if settings.plan else ():
            target.scale_on_schedule(
                action.name, schedule=appscaling.Schedule.expression(action.schedule), min_capacity=action.min_capacity
            )
        return target

    def _metric(self, name: str, statistic: str, namespace: str = "AWS/SageMaker") -> cloudwatch.Metric:
        return sagemaker_metric(
            name, statistic, {"EndpointName": self.endpoint_name, "VariantName": VARIANT}, namespace
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
            latency_widget(self._metric),
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
