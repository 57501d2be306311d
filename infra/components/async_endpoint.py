"""Mode `async`: an asynchronous inference endpoint. Requests are queued; the input is an S3 object, the
answer (or the error) is written to S3 under the project key and announced on an SNS topic; the
instance count follows the backlog, down to 0.

- `AsyncInferenceConfig` (output and failure paths, KmsKeyId, success and error topics, max concurrent
  invocations per instance):
  https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-sagemaker-endpointconfig-asyncinferenceconfig.html
- Scaling, as "Autoscale an asynchronous endpoint" describes it
  (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-autoscale.html): the variant registered
  with min 0; target tracking on the customized metric `ApproximateBacklogSizePerInstance` (Average,
  dimension EndpointName); and a step policy (+1 instance) on an alarm on `HasBacklogWithoutCapacity`,
  without which the endpoint leaves zero only when the backlog exceeds the tracking target. The metric
  is 1 while requests wait with no instance; one datapoint >= 1 is enough here.
- Blue/green deployments with canary traffic shifting and rollback alarms apply to asynchronous
  endpoints too (not in the exclusions list:
  https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-exclusions.html).
The serving container accepts bodies up to `async.max_payload_mb` (SAGEMAKER_MAX_PAYLOAD_IN_MB) here;
SageMaker accepts async payloads up to 1 GB (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference.html).
"""

from __future__ import annotations

import re

from aws_cdk import Duration
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
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
    scale_out_from_zero,
    variant_target,
)
from infra.nag import allow_wildcards
from infra.serving_modes import AsyncSettings
from infra.settings import ServingSettings


class AsyncEndpoint(ServedModel):
    """One model behind an asynchronous endpoint that scales to 0 instances on an empty backlog."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        settings: ServingSettings,
        inputs: ServingInputs,
        io_bucket: s3.IBucket,
        io_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        options = settings.mode_options if isinstance(settings.mode_options, AsyncSettings) else AsyncSettings()
        payload_limit = {"SAGEMAKER_MAX_PAYLOAD_IN_MB": str(options.max_payload_mb)}
        self.serve_model(endpoint_name, settings, inputs, f"/aws/sagemaker/Endpoints/{endpoint_name}", payload_limit)
        self.input_prefix, self.output_prefix, self.failure_prefix = (
            f"{io_prefix}/{part}" for part in ("input", "output", "failure")
        )
        self._queue_access(self.model_role, inputs, io_bucket, io_prefix)
        self.config = self._config(settings, options, inputs, io_bucket)
        scaled = self.deploy_blue_green(self.config, settings, inputs, self._metric)
        self.backlog_target = options.backlog_per_instance_target
        self.scaling_target: appscaling.ScalableTarget | None = None
        self.wake_alarm: cloudwatch.Alarm | None = None
        if scaled:
            self.scaling_target, self.wake_alarm = self._scaling(settings)
        self.dashboard = self._dashboard()

    def _queue_access(self, role: iam.Role, inputs: ServingInputs, io_bucket: s3.IBucket, io_prefix: str) -> None:
        """The model role reads the inputs and writes the answers and failures, all under io_prefix/, and
        announces them on the success and error topics."""
        grant_prefix(role, io_bucket, io_prefix, write=True)
        allow_wildcards(
            role,
            f"Model execution role: reads async inputs and writes answers under {io_prefix}/.",
            rf"Resource::.*/{re.escape(io_prefix)}/\*",
        )
        self.success_topic, self.error_topic = (
            sns.Topic(
                self, topic_id, master_key=inputs.key, enforce_ssl=True, display_name=f"{self.endpoint_name} {what}"
            )
            for topic_id, what in (("SuccessTopic", "async answers"), ("ErrorTopic", "async failures"))
        )
        # Publish only; the key use it needs (GenerateDataKey, Decrypt) the role holds already, without the
        # GenerateDataKey* wildcard `grant_publish` would add.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sns:Publish"], resources=[self.success_topic.topic_arn, self.error_topic.topic_arn]
            )
        )

    def _config(
        self, settings: ServingSettings, options: AsyncSettings, inputs: ServingInputs, io_bucket: s3.IBucket
    ) -> sagemaker.CfnEndpointConfig:
        bucket = f"s3://{io_bucket.bucket_name}"
        return sagemaker.CfnEndpointConfig(
            self,
            "Config",
            kms_key_id=config_key(settings, inputs.key),
            production_variants=[model_variant(self.model, settings, initial_instance_count=1)],
            async_inference_config=sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty(
                output_config=sagemaker.CfnEndpointConfig.AsyncInferenceOutputConfigProperty(
                    s3_output_path=f"{bucket}/{self.output_prefix}",
                    s3_failure_path=f"{bucket}/{self.failure_prefix}",
                    kms_key_id=inputs.key.key_arn,
                    notification_config=sagemaker.CfnEndpointConfig.AsyncInferenceNotificationConfigProperty(
                        success_topic=self.success_topic.topic_arn, error_topic=self.error_topic.topic_arn
                    ),
                ),
                client_config=sagemaker.CfnEndpointConfig.AsyncInferenceClientConfigProperty(
                    max_concurrent_invocations_per_instance=options.max_concurrent_invocations_per_instance
                ),
            ),
        )

    def _scaling(self, settings: ServingSettings) -> tuple[appscaling.ScalableTarget, cloudwatch.Alarm]:
        """Target tracking on the backlog per instance, from 0; and +1 instance when requests wait with none."""
        target = variant_target(self, self.endpoint, self.endpoint_name, low=0, high=settings.max_capacity)
        target.scale_to_track_metric(
            "BacklogPerInstance",
            target_value=self.backlog_target,
            custom_metric=self._metric("ApproximateBacklogSizePerInstance", "Average", variant=False),
            scale_in_cooldown=Duration.seconds(settings.scale_in_cooldown_s),
            scale_out_cooldown=Duration.seconds(settings.scale_out_cooldown_s),
        )
        wake = scale_out_from_zero(
            self,
            target=target,
            alarm_id="BacklogWithoutCapacity",
            metric=self._metric("HasBacklogWithoutCapacity", "Average", variant=False),
            aggregation=appscaling.MetricAggregationType.AVERAGE,
            cooldown_s=settings.scale_out_cooldown_s,
            description=f"{self.endpoint_name}: requests wait with no instance; adds one (scale out from zero)",
        )
        return target, wake

    def _metric(self, name: str, statistic: str, *, variant: bool = True) -> cloudwatch.Metric:
        return sagemaker_metric(
            name, statistic, {"EndpointName": self.endpoint_name, **({"VariantName": VARIANT} if variant else {})}
        )

    def _dashboard(self) -> cloudwatch.Dashboard:
        dashboard = cloudwatch.Dashboard(self, "Dashboard")
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Backlog per instance (scaling metric)",
                left=[self._metric("ApproximateBacklogSizePerInstance", "Average", variant=False)],
                left_annotations=[cloudwatch.HorizontalAnnotation(value=self.backlog_target, label="target")],
            ),
            cloudwatch.GraphWidget(
                title="Backlog and waits with no instance",
                left=[
                    self._metric("ApproximateBacklogSize", "Average", variant=False),
                    self._metric("HasBacklogWithoutCapacity", "Maximum", variant=False),
                ],
            ),
            latency_widget(self._metric),
            cloudwatch.AlarmStatusWidget(
                title="Alarms", alarms=[a for a in (self.errors_alarm, self.latency_alarm, self.wake_alarm) if a]
            ),
        )
        return dashboard
