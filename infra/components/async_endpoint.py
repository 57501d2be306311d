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
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.components.alarms import notified_rollback_alarms
from infra.components.common import grant_prefix
from infra.components.endpoint import KEEP_SCALED_CAPACITY, suspend_autoscaling
from infra.components.inference_component import scaling_role
from infra.components.serving_model import isolated_model
from infra.instance_storage import has_instance_storage
from infra.nag import allow_wildcards
from infra.serving_modes import AsyncSettings
from infra.settings import ServingSettings

VARIANT = "AllTraffic"


class AsyncEndpoint(Construct):
    """One model behind an asynchronous endpoint that scales to 0 instances on an empty backlog."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        settings: ServingSettings,
        image: ecr_assets.DockerImageAsset,
        model_data_bucket: s3.IBucket,
        model_data_prefix: str,
        io_bucket: s3.IBucket,
        io_prefix: str,
        key: kms.IKey,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        s3_prefix_list_id: str,
        log_retention_days: int,
        retain: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        options = settings.mode_options if isinstance(settings.mode_options, AsyncSettings) else AsyncSettings()
        self.endpoint_name = endpoint_name
        self.input_prefix, self.output_prefix, self.failure_prefix = (
            f"{io_prefix}/{part}" for part in ("input", "output", "failure")
        )
        self.model, role, self.log_group = isolated_model(
            self,
            endpoint_name=endpoint_name,
            version=settings.version,
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
            environment={"SAGEMAKER_MAX_PAYLOAD_IN_MB": str(options.max_payload_mb)},
        )
        # The model role reads the inputs and writes the answers and failures, all under io_prefix/.
        grant_prefix(role, io_bucket, io_prefix, write=True)
        allow_wildcards(
            role,
            f"Model execution role: reads async inputs and writes answers under {io_prefix}/.",
            rf"Resource::.*/{re.escape(io_prefix)}/\*",
        )
        self.success_topic = sns.Topic(
            self, "SuccessTopic", master_key=key, enforce_ssl=True, display_name=f"{endpoint_name} async answers"
        )
        self.error_topic = sns.Topic(
            self, "ErrorTopic", master_key=key, enforce_ssl=True, display_name=f"{endpoint_name} async failures"
        )
        # Publish only; the key use it needs (GenerateDataKey, Decrypt) the role holds already, without the
        # GenerateDataKey* wildcard `grant_publish` would add.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sns:Publish"], resources=[self.success_topic.topic_arn, self.error_topic.topic_arn]
            )
        )
        bucket = f"s3://{io_bucket.bucket_name}"
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
                    initial_instance_count=1,
                    initial_variant_weight=1.0,
                )
            ],
            async_inference_config=sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty(
                output_config=sagemaker.CfnEndpointConfig.AsyncInferenceOutputConfigProperty(
                    s3_output_path=f"{bucket}/{self.output_prefix}",
                    s3_failure_path=f"{bucket}/{self.failure_prefix}",
                    kms_key_id=key.key_arn,
                    notification_config=sagemaker.CfnEndpointConfig.AsyncInferenceNotificationConfigProperty(
                        success_topic=self.success_topic.topic_arn, error_topic=self.error_topic.topic_arn
                    ),
                ),
                client_config=sagemaker.CfnEndpointConfig.AsyncInferenceClientConfigProperty(
                    max_concurrent_invocations_per_instance=options.max_concurrent_invocations_per_instance
                ),
            ),
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
        self.backlog_target = options.backlog_per_instance_target
        self.scaling_target, self.wake_alarm = None, None
        if settings.autoscaling_suspended:
            suspend_autoscaling(self.endpoint, endpoint_name)
            self.dashboard = self._dashboard()
            return
        self.scaling_target = appscaling.ScalableTarget(
            self,
            "ScalableTarget",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{endpoint_name}/variant/{VARIANT}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=0,
            max_capacity=settings.max_capacity,
            role=scaling_role(self),
        )
        self.scaling_target.node.add_dependency(self.endpoint)
        self.scaling_target.scale_to_track_metric(
            "BacklogPerInstance",
            target_value=self.backlog_target,
            custom_metric=self._metric("ApproximateBacklogSizePerInstance", "Average", variant=False),
            scale_in_cooldown=Duration.seconds(settings.scale_in_cooldown_s),
            scale_out_cooldown=Duration.seconds(settings.scale_out_cooldown_s),
        )
        self.wake_alarm = self._scale_out_from_zero(settings)
        self.dashboard = self._dashboard()

    def _metric(self, name: str, statistic: str, *, variant: bool = True) -> cloudwatch.Metric:
        dimensions = {"EndpointName": self.endpoint_name, **({"VariantName": VARIANT} if variant else {})}
        return cloudwatch.Metric(
            namespace="AWS/SageMaker",
            metric_name=name,
            statistic=statistic,
            period=Duration.minutes(1),
            dimensions_map=dimensions,
        )

    def _scale_out_from_zero(self, settings: ServingSettings) -> cloudwatch.Alarm:
        step = appscaling.StepScalingAction(
            self,
            "ScaleOutFromZero",
            scaling_target=self.scaling_target,
            adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
            metric_aggregation_type=appscaling.MetricAggregationType.AVERAGE,
            cooldown=Duration.seconds(settings.scale_out_cooldown_s),
        )
        step.add_adjustment(adjustment=1, lower_bound=0)
        alarm = cloudwatch.Alarm(
            self,
            "BacklogWithoutCapacity",
            metric=self._metric("HasBacklogWithoutCapacity", "Average", variant=False),
            threshold=1,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"{self.endpoint_name}: requests wait with no instance; adds one (scale out from zero)",
        )
        alarm.add_alarm_action(cloudwatch_actions.ApplicationScalingAction(step))
        return alarm

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
            cloudwatch.GraphWidget(
                title="Model latency (us)",
                left=[self._metric("ModelLatency", "p50"), self._metric("ModelLatency", "p99")],
            ),
            cloudwatch.AlarmStatusWidget(
                title="Alarms", alarms=[a for a in (self.errors_alarm, self.latency_alarm, self.wake_alarm) if a]
            ),
        )
        return dashboard
