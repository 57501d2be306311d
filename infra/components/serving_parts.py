"""The parts every serving mode is built from, so each mode's construct says only what differs:

- `ServingInputs`: what a serving construct needs from the rest of the platform;
- `config_key` and `model_variant`: the endpoint config's KMS key (left out where SageMaker refuses
  it) and its one variant serving the model (realtime and async);
- `blue_green_endpoint`: the rollback alarms and the `Endpoint` that deploys a new config by canary
  traffic shifting and rolls back on them (realtime and async);
- `scalable_target` and `scale_out_from_zero`: Application Auto Scaling's target (a variant's instance
  count or a component's copy count) and the step policy that leaves zero on an alarm;
- `sagemaker_metric` and `latency_widget`: the modes' metrics and the dashboard widget they share;
- `suspend_autoscaling`: a variant left unregistered while its instance type changes.

The rollback alarms and their topic are `infra/components/alarms.py`; the model is
`infra/components/serving_model.py`. Construct IDs are fixed here: they are the logical IDs of live
resources.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aws_cdk import Annotations, Duration, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.components.alarms import notified_rollback_alarms
from infra.instance_storage import has_instance_storage
from infra.rules import SUSPENDED_METADATA
from infra.settings import ServingSettings

VARIANT = "AllTraffic"
# Every update keeps the instance count (and weight) the variant has, whatever autoscaling reached,
# instead of resetting it to the config's InitialInstanceCount: to retain variant properties such as the
# instance count or weight, set RetainAllVariantProperties to true (step 6 of "Update endpoints that use
# auto scaling", https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html; the property:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-sagemaker-endpoint.html).
# Project-RetainScaledCapacity. Excluding DataCaptureConfig from the retained properties is "Not currently
# supported" (AWS::SageMaker::Endpoint VariantProperty), so see docs/deploy-readiness.md for data capture.
KEEP_SCALED_CAPACITY = {"retain_all_variant_properties": True}
# Application Auto Scaling's service-linked role for SageMaker (endpoints and inference components).
SCALING_ROLE = (
    "aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
)
# What Application Auto Scaling scales: a variant's instance count, or an inference component's copies.
VARIANT_INSTANCES = "sagemaker:variant:DesiredInstanceCount"
COMPONENT_COPIES = "sagemaker:inference-component:DesiredCopyCount"


@dataclass(frozen=True)
class ServingInputs:
    """What a serving construct needs from the rest of the platform (its own values are its settings)."""

    image: ecr_assets.DockerImageAsset
    model_data_bucket: s3.IBucket
    model_data_prefix: str
    key: kms.IKey
    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    s3_prefix_list_id: str
    log_retention_days: int
    retain: bool


def config_key(settings: ServingSettings, key: kms.IKey) -> str | None:
    """The endpoint config's KmsKeyId: SageMaker refuses it for types with (hardware-encrypted) local
    storage (infra/instance_storage.py)."""
    return None if has_instance_storage(settings.instance_type) else key.key_arn


def model_variant(
    model: sagemaker.CfnModel, settings: ServingSettings, *, initial_instance_count: int
) -> sagemaker.CfnEndpointConfig.ProductionVariantProperty:
    """The config's one variant, `AllTraffic`, serving `model` on the settings' instance type."""
    return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
        variant_name=VARIANT,
        model_name=model.attr_model_name,
        instance_type=settings.instance_type,
        initial_instance_count=initial_instance_count,
        initial_variant_weight=1.0,
    )


def blue_green_endpoint(
    scope: Construct,
    *,
    endpoint_name: str,
    config: sagemaker.CfnEndpointConfig,
    settings: ServingSettings,
    metric: Callable[[str, str], cloudwatch.Metric],
    key: kms.IKey,
    log_group: logs.LogGroup,
) -> tuple[sns.Topic, cloudwatch.Alarm, cloudwatch.Alarm, sagemaker.CfnEndpoint]:
    """The rollback alarms on `metric` with their topic (infra/components/alarms.py), and `Endpoint`: a
    new config goes live by canary traffic shifting (`canary_percent` of the capacity for
    `canary_wait_s`), rolls back when a rollback alarm fires, and keeps the scaled capacity; it is
    created after `log_group`, which SageMaker writes to."""
    topic, errors, latency = notified_rollback_alarms(
        scope, name=endpoint_name, settings=settings, metric=metric, key=key, topic_name=endpoint_name
    )
    endpoint = sagemaker.CfnEndpoint(
        scope,
        "Endpoint",
        endpoint_name=endpoint_name,
        endpoint_config_name=config.attr_endpoint_config_name,
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
                alarms=[sagemaker.CfnEndpoint.AlarmProperty(alarm_name=alarm.alarm_name) for alarm in (errors, latency)]
            ),
        ),
    )
    endpoint.node.add_dependency(log_group)
    return topic, errors, latency, endpoint


def scaling_role(scope: Construct) -> iam.IRole:
    return iam.Role.from_role_arn(
        scope,
        "ScalingRole",
        Stack.of(scope).format_arn(service="iam", region="", resource="role", resource_name=SCALING_ROLE),
    )


def scalable_target(
    scope: Construct,
    *,
    resource_id: str,
    dimension: str,
    min_capacity: int,
    max_capacity: int,
    after: Construct,
) -> appscaling.ScalableTarget:
    """`ScalableTarget` (with the service-linked `ScalingRole`) of `resource_id`, registered once `after`
    (the endpoint or the component it scales) exists."""
    target = appscaling.ScalableTarget(
        scope,
        "ScalableTarget",
        service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
        resource_id=resource_id,
        scalable_dimension=dimension,
        min_capacity=min_capacity,
        max_capacity=max_capacity,
        role=scaling_role(scope),
    )
    target.node.add_dependency(after)
    return target


def variant_target(
    scope: Construct, endpoint: sagemaker.CfnEndpoint, endpoint_name: str, *, low: int, high: int
) -> appscaling.ScalableTarget:
    """The scalable target of the endpoint's one variant (realtime and async)."""
    return scalable_target(
        scope,
        resource_id=f"endpoint/{endpoint_name}/variant/{VARIANT}",
        dimension=VARIANT_INSTANCES,
        min_capacity=low,
        max_capacity=high,
        after=endpoint,
    )


def scale_out_from_zero(
    scope: Construct,
    *,
    target: appscaling.ScalableTarget,
    alarm_id: str,
    metric: cloudwatch.Metric,
    aggregation: appscaling.MetricAggregationType,
    cooldown_s: int,
    description: str,
) -> cloudwatch.Alarm:
    """`ScaleOutFromZero` (+1 on `target`) and the alarm `alarm_id` that fires it on one datapoint of
    `metric` >= 1: target tracking alone does not leave zero, as no instance reports the tracked metric."""
    step = appscaling.StepScalingAction(
        scope,
        "ScaleOutFromZero",
        scaling_target=target,
        adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
        metric_aggregation_type=aggregation,
        cooldown=Duration.seconds(cooldown_s),
    )
    step.add_adjustment(adjustment=1, lower_bound=0)
    alarm = cloudwatch.Alarm(
        scope,
        alarm_id,
        metric=metric,
        threshold=1,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        alarm_description=description,
    )
    alarm.add_alarm_action(cloudwatch_actions.ApplicationScalingAction(step))
    return alarm


def sagemaker_metric(
    name: str, statistic: str, dimensions: dict[str, str], namespace: str = "AWS/SageMaker"
) -> cloudwatch.Metric:
    """A one-minute metric of SageMaker (or of its instances, namespace `/aws/sagemaker/Endpoints`)."""
    return cloudwatch.Metric(
        namespace=namespace,
        metric_name=name,
        statistic=statistic,
        period=Duration.minutes(1),
        dimensions_map=dimensions,
    )


def latency_widget(metric: Callable[[str, str], cloudwatch.Metric]) -> cloudwatch.GraphWidget:
    """Model latency p50 and p99; `metric(name, statistic)` gives the mode's metric."""
    return cloudwatch.GraphWidget(
        title="Model latency (us)", left=[metric("ModelLatency", "p50"), metric("ModelLatency", "p99")]
    )


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
