"""Mode `scale-to-zero`: a real-time endpoint whose model is an inference component, so SageMaker can
remove the last instance when the copy count reaches 0, and a failed call at zero brings one back.

The pieces, each from "Scale an endpoint to zero instances"
(https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-zero-instances.html):
- the endpoint config's variant has `ManagedInstanceScaling` with `MinInstanceCount: 0` and no model
  (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariantManagedInstanceScaling.html);
  an endpoint config with inference components carries the `ExecutionRoleArn`;
- the model is an `AWS::SageMaker::InferenceComponent` created with one copy (a copy count of 0 is
  refused at creation; scaling takes it to 0 afterwards)
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-sagemaker-inferencecomponent.html);
- its copy count (`sagemaker:inference-component:DesiredCopyCount`, min 0) tracks
  `SageMakerInferenceComponentInvocationsPerCopy`;
- a step policy (+1 copy) fires on an alarm on `NoCapacityInvocationFailures`. AWS's example uses
  `GreaterThanThreshold` 1 on a 60 s Sum, which needs two failed calls in a minute; here
  `GreaterThanOrEqualToThreshold` 1, so the first failed call wakes the endpoint.
Model updates roll out copy by copy (the component's rolling update policy) and roll back on the
5xx and latency alarms; endpoint-level canary traffic shifting and data capture are not used here.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack, Token
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra.components.alarms import notified_rollback_alarms
from infra.components.common import depend_on_policy_only
from infra.components.serving_model import isolated_model
from infra.instance_storage import has_instance_storage
from infra.serving_modes import SCALE_TO_ZERO, ScaleToZeroSettings, check_region, invocations_per_copy_target
from infra.settings import ServingSettings

VARIANT = "AllTraffic"
# Application Auto Scaling's service-linked role for SageMaker (endpoints and inference components).
SCALING_ROLE = (
    "aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
)


def scaling_role(scope: Construct) -> iam.IRole:
    return iam.Role.from_role_arn(
        scope,
        "ScalingRole",
        Stack.of(scope).format_arn(service="iam", region="", resource="role", resource_name=SCALING_ROLE),
    )


class ScaleToZeroEndpoint(Construct):
    """One model as an inference component on an endpoint that scales to 0 instances."""

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
        key: kms.IKey,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        s3_prefix_list_id: str,
        log_retention_days: int,
        retain: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        region = Stack.of(self).region
        check_region(
            SCALE_TO_ZERO,
            None if Token.is_unresolved(region) else region,
            f"{endpoint_name} (serving.{settings.model}.mode)",
        )
        options = (
            settings.mode_options if isinstance(settings.mode_options, ScaleToZeroSettings) else ScaleToZeroSettings()
        )
        self.endpoint_name = endpoint_name
        self.component_name = f"{endpoint_name}-component"
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
            log_group=f"/aws/sagemaker/InferenceComponents/{self.component_name}",
            log_retention_days=log_retention_days,
            retain=retain,
        )
        model_vpc = self.model.vpc_config
        # An endpoint of inference components carries the execution role, the network isolation and the
        # VPC of its containers itself (EndpointConfig ExecutionRoleArn, EnableNetworkIsolation, VpcConfig:
        # https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-sagemaker-endpointconfig.html);
        # the model keeps its own as well.
        self.config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            # SageMaker refuses KmsKeyId for types with (hardware-encrypted) local storage
            kms_key_id=None if has_instance_storage(settings.instance_type) else key.key_arn,
            execution_role_arn=role.role_arn,
            enable_network_isolation=True,
            vpc_config=sagemaker.CfnEndpointConfig.VpcConfigProperty(
                security_group_ids=model_vpc.security_group_ids, subnets=model_vpc.subnets
            ),
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=VARIANT,
                    instance_type=settings.instance_type,
                    initial_instance_count=1,
                    managed_instance_scaling=sagemaker.CfnEndpointConfig.ManagedInstanceScalingProperty(
                        status="ENABLED", min_instance_count=0, max_instance_count=settings.max_capacity
                    ),
                    routing_config=sagemaker.CfnEndpointConfig.RoutingConfigProperty(
                        routing_strategy="LEAST_OUTSTANDING_REQUESTS"
                    ),
                )
            ],
        )
        depend_on_policy_only(self.config, role)
        self.endpoint = sagemaker.CfnEndpoint(
            self, "Endpoint", endpoint_name=endpoint_name, endpoint_config_name=self.config.attr_endpoint_config_name
        )
        self.alarm_topic, self.errors_alarm, self.latency_alarm = notified_rollback_alarms(
            self,
            name=self.component_name,
            settings=settings,
            metric=self._metric,
            key=key,
            topic_name=endpoint_name,
            rolls_back="a component update",
        )
        self.component = sagemaker.CfnInferenceComponent(
            self,
            "Component",
            inference_component_name=self.component_name,
            endpoint_name=self.endpoint.attr_endpoint_name,
            variant_name=VARIANT,
            specification=sagemaker.CfnInferenceComponent.InferenceComponentSpecificationProperty(
                model_name=self.model.attr_model_name,
                compute_resource_requirements=sagemaker.CfnInferenceComponent.InferenceComponentComputeResourceRequirementsProperty(
                    number_of_cpu_cores_required=options.copy_cpu_cores,
                    min_memory_required_in_mb=options.copy_memory_mb,
                ),
            ),
            runtime_config=sagemaker.CfnInferenceComponent.InferenceComponentRuntimeConfigProperty(copy_count=1),
            # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_InferenceComponentRollingUpdatePolicy.html
            # MaximumBatchSize "must be between 5% to 50% of the copy count"; WaitIntervalInSeconds 0-3600.
            deployment_config=sagemaker.CfnInferenceComponent.InferenceComponentDeploymentConfigProperty(
                rolling_update_policy=sagemaker.CfnInferenceComponent.InferenceComponentRollingUpdatePolicyProperty(
                    maximum_batch_size=sagemaker.CfnInferenceComponent.InferenceComponentCapacitySizeProperty(
                        type="CAPACITY_PERCENT", value=max(5, min(50, settings.canary_percent))
                    ),
                    wait_interval_in_seconds=min(settings.canary_wait_s, 3600),
                ),
                auto_rollback_configuration=sagemaker.CfnInferenceComponent.AutoRollbackConfigurationProperty(
                    alarms=[
                        sagemaker.CfnInferenceComponent.AlarmProperty(alarm_name=alarm.alarm_name)
                        for alarm in (self.errors_alarm, self.latency_alarm)
                    ]
                ),
            ),
        )
        self.component.node.add_dependency(self.log_group)  # exists before SageMaker writes to it
        self.scaling_target = appscaling.ScalableTarget(
            self,
            "ScalableTarget",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"inference-component/{self.component_name}",
            scalable_dimension="sagemaker:inference-component:DesiredCopyCount",
            min_capacity=0,
            max_capacity=settings.max_capacity,
            role=scaling_role(self),
        )
        self.scaling_target.node.add_dependency(self.component)
        self.copy_target = invocations_per_copy_target(settings)
        self.scaling_target.scale_to_track_metric(
            "InvocationsPerCopy",
            target_value=self.copy_target,
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_INFERENCE_COMPONENT_INVOCATIONS_PER_COPY,
            scale_in_cooldown=Duration.seconds(settings.scale_in_cooldown_s),
            scale_out_cooldown=Duration.seconds(settings.scale_out_cooldown_s),
        )
        self.wake_alarm = self._scale_out_from_zero()
        self.dashboard = self._dashboard()

    def _metric(self, name: str, statistic: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/SageMaker",
            metric_name=name,
            statistic=statistic,
            period=Duration.minutes(1),
            dimensions_map={"InferenceComponentName": self.component_name},
        )

    def _scale_out_from_zero(self) -> cloudwatch.Alarm:
        step = appscaling.StepScalingAction(
            self,
            "ScaleOutFromZero",
            scaling_target=self.scaling_target,
            adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
            metric_aggregation_type=appscaling.MetricAggregationType.MAXIMUM,
            cooldown=Duration.seconds(60),
        )
        step.add_adjustment(adjustment=1, lower_bound=0)
        alarm = cloudwatch.Alarm(
            self,
            "NoCapacity",
            metric=self._metric("NoCapacityInvocationFailures", "Sum"),
            threshold=1,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"{self.component_name}: a call found no copy; adds one (scale out from zero)",
        )
        alarm.add_alarm_action(cloudwatch_actions.ApplicationScalingAction(step))
        return alarm

    def _dashboard(self) -> cloudwatch.Dashboard:
        dashboard = cloudwatch.Dashboard(self, "Dashboard")
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Invocations per copy (scaling metric)",
                left=[self._metric("InvocationsPerCopy", "Sum")],
                left_annotations=[cloudwatch.HorizontalAnnotation(value=self.copy_target, label="target")],
            ),
            cloudwatch.GraphWidget(
                title="Calls at zero capacity (wake-ups)", left=[self._metric("NoCapacityInvocationFailures", "Sum")]
            ),
            cloudwatch.GraphWidget(
                title="Model latency (us)",
                left=[self._metric("ModelLatency", "p50"), self._metric("ModelLatency", "p99")],
            ),
            cloudwatch.AlarmStatusWidget(
                title="Alarms", alarms=[self.errors_alarm, self.latency_alarm, self.wake_alarm]
            ),
        )
        return dashboard
