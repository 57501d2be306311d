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

Data caching (`Specification.DataCacheConfig.EnableCaching`, on): "With caching enabled, the endpoint
caches this data [the model artifacts and container image] in each instance that it provisions for the
inference component. That way, the inference component deploys faster during the auto scaling process. If
caching isn't enabled, the inference component takes longer to deploy because of the time it spends
downloading the data." (InferenceComponentDataCacheConfig,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_InferenceComponentDataCacheConfig.html;
CloudFormation: AWS::SageMaker::InferenceComponent InferenceComponentDataCacheConfig, "Update requires: No
interruption",
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-sagemaker-inferencecomponent-inferencecomponentdatacacheconfig.html).
The cache lives on instances that are already running: AWS describes it as cutting the cold start of
copies placed on an instance the endpoint already has, not the launch of a new one ("Introducing container
caching in Amazon SageMaker AI for faster model scaling", AWS Machine Learning Blog, 2026-06-16,
https://aws.amazon.com/blogs/machine-learning/introducing-container-caching-in-amazon-sagemaker-ai-for-faster-model-scaling/).
So here it speeds a copy that comes back while its instance is still up (the copy count reached 0 but
managed instance scaling has not removed the instance yet) and copies added beside a running one; the
wake-up from zero instances still pulls the image and the artifact. docs/cold-start.md has the figures.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack, Token
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra.components.alarms import notified_rollback_alarms
from infra.components.common import depend_on_policy_only
from infra.components.serving_model import ServedModel
from infra.components.serving_parts import (
    COMPONENT_COPIES,
    VARIANT,
    ServingInputs,
    config_key,
    latency_widget,
    sagemaker_metric,
    scalable_target,
    scale_out_from_zero,
)
from infra.serving_modes import SCALE_TO_ZERO, ScaleToZeroSettings, check_region, invocations_per_copy_target
from infra.settings import ServingSettings

IC = sagemaker.CfnInferenceComponent


class ScaleToZeroEndpoint(ServedModel):
    """One model as an inference component on an endpoint that scales to 0 instances."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        settings: ServingSettings,
        inputs: ServingInputs,
    ) -> None:
        super().__init__(scope, construct_id)
        region = Stack.of(self).region
        check_region(
            SCALE_TO_ZERO,
            None if Token.is_unresolved(region) else region,
            f"{endpoint_name} (serving.{settings.model}.mode)",
        )
        self.component_name = f"{endpoint_name}-component"
        self.serve_model(endpoint_name, settings, inputs, f"/aws/sagemaker/InferenceComponents/{self.component_name}")
        self.config = self._config(settings, inputs, self.model_role)
        self.endpoint = sagemaker.CfnEndpoint(
            self, "Endpoint", endpoint_name=endpoint_name, endpoint_config_name=self.config.attr_endpoint_config_name
        )
        self.alarm_topic, self.errors_alarm, self.latency_alarm = notified_rollback_alarms(
            self,
            name=self.component_name,
            settings=settings,
            metric=self._metric,
            key=inputs.key,
            topic_name=endpoint_name,
            rolls_back="a component update",
        )
        self.component = self._component(settings)
        self.component.node.add_dependency(self.log_group)  # exists before SageMaker writes to it
        self.copy_target = invocations_per_copy_target(settings)
        self.scaling_target, self.wake_alarm = self._scaling(settings)
        self.dashboard = self._dashboard()

    def _config(self, settings: ServingSettings, inputs: ServingInputs, role: iam.Role) -> sagemaker.CfnEndpointConfig:
        """An endpoint of inference components carries the execution role, the network isolation and the
        VPC of its containers itself (EndpointConfig ExecutionRoleArn, EnableNetworkIsolation, VpcConfig:
        https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-sagemaker-endpointconfig.html);
        the model keeps its own as well."""
        model_vpc = self.model.vpc_config
        config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            kms_key_id=config_key(settings, inputs.key),
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
        depend_on_policy_only(config, role)
        return config

    def _component(self, settings: ServingSettings) -> sagemaker.CfnInferenceComponent:
        """The model with one copy (a copy count of 0 is refused at creation), its data cached on the
        instances (see the module's docstring), updated copy by copy with rollback on the alarms."""
        options = (
            settings.mode_options if isinstance(settings.mode_options, ScaleToZeroSettings) else ScaleToZeroSettings()
        )
        return IC(
            self,
            "Component",
            inference_component_name=self.component_name,
            endpoint_name=self.endpoint.attr_endpoint_name,
            variant_name=VARIANT,
            specification=IC.InferenceComponentSpecificationProperty(
                model_name=self.model.attr_model_name,
                compute_resource_requirements=IC.InferenceComponentComputeResourceRequirementsProperty(
                    number_of_cpu_cores_required=options.copy_cpu_cores,
                    min_memory_required_in_mb=options.copy_memory_mb,
                ),
                data_cache_config=IC.InferenceComponentDataCacheConfigProperty(enable_caching=True),
            ),
            runtime_config=IC.InferenceComponentRuntimeConfigProperty(copy_count=1),
            # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_InferenceComponentRollingUpdatePolicy.html
            # MaximumBatchSize "must be between 5% to 50% of the copy count"; WaitIntervalInSeconds 0-3600.
            deployment_config=IC.InferenceComponentDeploymentConfigProperty(
                rolling_update_policy=IC.InferenceComponentRollingUpdatePolicyProperty(
                    maximum_batch_size=IC.InferenceComponentCapacitySizeProperty(
                        type="CAPACITY_PERCENT", value=max(5, min(50, settings.canary_percent))
                    ),
                    wait_interval_in_seconds=min(settings.canary_wait_s, 3600),
                ),
                auto_rollback_configuration=IC.AutoRollbackConfigurationProperty(
                    alarms=[IC.AlarmProperty(alarm_name=a.alarm_name) for a in (self.errors_alarm, self.latency_alarm)]
                ),
            ),
        )

    def _scaling(self, settings: ServingSettings) -> tuple[appscaling.ScalableTarget, cloudwatch.Alarm]:
        """The copy count, 0 to max_capacity, tracks invocations per copy; +1 copy when a call finds none."""
        target = scalable_target(
            self,
            resource_id=f"inference-component/{self.component_name}",
            dimension=COMPONENT_COPIES,
            min_capacity=0,
            max_capacity=settings.max_capacity,
            after=self.component,
        )
        target.scale_to_track_metric(
            "InvocationsPerCopy",
            target_value=self.copy_target,
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_INFERENCE_COMPONENT_INVOCATIONS_PER_COPY,
            scale_in_cooldown=Duration.seconds(settings.scale_in_cooldown_s),
            scale_out_cooldown=Duration.seconds(settings.scale_out_cooldown_s),
        )
        wake = scale_out_from_zero(
            self,
            target=target,
            alarm_id="NoCapacity",
            metric=self._metric("NoCapacityInvocationFailures", "Sum"),
            aggregation=appscaling.MetricAggregationType.MAXIMUM,
            cooldown_s=60,
            description=f"{self.component_name}: a call found no copy; adds one (scale out from zero)",
        )
        return target, wake

    def _metric(self, name: str, statistic: str) -> cloudwatch.Metric:
        return sagemaker_metric(name, statistic, {"InferenceComponentName": self.component_name})

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
            latency_widget(self._metric),
            cloudwatch.AlarmStatusWidget(
                title="Alarms", alarms=[self.errors_alarm, self.latency_alarm, self.wake_alarm]
            ),
        )
        return dashboard
