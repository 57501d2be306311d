"""One endpoint serving the model version given as context, in the serving mode its settings name."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.components.async_endpoint import AsyncEndpoint
from infra.components.endpoint import AutoscaledEndpoint
from infra.components.inference_component import ScaleToZeroEndpoint
from infra.images import serving_image
from infra.serving_modes import ASYNC, SCALE_TO_ZERO
from infra.settings import EnvironmentSettings, ServingSettings
from infra.stacks.network_stack import NetworkStack
from infra.stacks.storage_stack import StorageStack


class ServingStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EnvironmentSettings,
        serving: ServingSettings,
        network: NetworkStack,
        storage: StorageStack,
        inference_dir: Path,
        description: str,
    ) -> None:
        super().__init__(scope, construct_id, description=description)
        _, artifact_bucket = storage.buckets_for(self)
        endpoint_name = f"{settings.prefix}-{serving.model}"
        common = dict(
            endpoint_name=endpoint_name,
            settings=serving,
            image=serving_image(self, serving.model, inference_dir),
            model_data_bucket=artifact_bucket,
            model_data_prefix=f"training/{serving.model}",
            key=storage.key,
            vpc=network.vpc,
            subnets=network.subnets,
            s3_prefix_list_id=network.s3_prefix_list_id,
            log_retention_days=settings.log_retention_days,
            retain=settings.retain,
        )
        if serving.mode == SCALE_TO_ZERO:
            self.endpoint = ScaleToZeroEndpoint(self, "Endpoint", **common)
            CfnOutput(
                self,
                "InferenceComponentName",
                value=self.endpoint.component_name,
                description="Pass it with the endpoint name: python -m inference.client --endpoint "
                f"{endpoint_name} --component {self.endpoint.component_name}",
            )
        elif serving.mode == ASYNC:
            self.endpoint = AsyncEndpoint(
                self, "Endpoint", io_bucket=artifact_bucket, io_prefix=f"async/{serving.model}", **common
            )
            CfnOutput(
                self,
                "AsyncInputLocation",
                value=f"s3://{artifact_bucket.bucket_name}/{self.endpoint.input_prefix}/",
                description="Upload inputs here (the endpoint reads only this prefix)",
            )
            CfnOutput(self, "AsyncSuccessTopicArn", value=self.endpoint.success_topic.topic_arn)
            CfnOutput(self, "AsyncErrorTopicArn", value=self.endpoint.error_topic.topic_arn)
        else:
            self.endpoint = AutoscaledEndpoint(
                self,
                "Endpoint",
                version=serving.version,
                capture_bucket=artifact_bucket,
                capture_prefix=f"data-capture/{serving.model}",
                **common,
            )
            how = (
                f"capacity plan {Path(serving.plan.source).name} (policy {serving.plan.policy}, "
                f"{len(serving.plan.scheduled_actions)} scheduled actions)"
                if serving.plan
                else f"max RPS per instance {serving.max_rps_per_instance} ({serving.capacity_source}) "
                f"x safety factor {serving.safety_factor} x 60"
            )
            CfnOutput(
                self,
                "InvocationsPerInstanceTarget",
                value=str(serving.invocations_per_instance_target),
                description=how,
            )
        CfnOutput(self, "EndpointName", value=self.endpoint.endpoint_name)
        CfnOutput(self, "ServingMode", value=serving.mode)
        CfnOutput(
            self,
            "AlarmTopicArn",
            value=self.endpoint.alarm_topic.topic_arn,
            description="Subscribe to hear of 5xx and latency alarms (they also roll back deployments)",
        )
