"""One autoscaled endpoint serving the model version given as context."""
from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.components.endpoint import AutoscaledEndpoint
from infra.settings import EnvironmentSettings, ServingSettings
from infra.stacks.network_stack import NetworkStack
from infra.stacks.storage_stack import StorageStack
from infra.stacks.training_stack import image_asset


class ServingStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, settings: EnvironmentSettings,
                 serving: ServingSettings, network: NetworkStack, storage: StorageStack, inference_dir: Path,
                 description: str) -> None:
        super().__init__(scope, construct_id, description=description)
        _, artifact_bucket = storage.buckets_for(self)
        self.endpoint = AutoscaledEndpoint(
            self, "Endpoint", endpoint_name=f"{settings.prefix}-{serving.model}", settings=serving,
            version=serving.version, image=image_asset(self, "InferenceImage", inference_dir),
            model_data_bucket=artifact_bucket, model_data_prefix=f"training/{serving.model}",
            capture_bucket=artifact_bucket, capture_prefix=f"data-capture/{serving.model}",
            key=storage.key, vpc=network.vpc, subnets=network.subnets)
        CfnOutput(self, "EndpointName", value=self.endpoint.endpoint_name)
        CfnOutput(self, "AlarmTopicArn", value=self.endpoint.alarm_topic.topic_arn,
                  description="Subscribe to hear of 5xx and latency alarms (they also roll back deployments)")
        how = (f"capacity plan {Path(serving.plan.source).name} (policy {serving.plan.policy}, "
               f"{len(serving.plan.scheduled_actions)} scheduled actions)" if serving.plan else
               f"max RPS per instance {serving.max_rps_per_instance} ({serving.capacity_source}) "
               f"x safety factor {serving.safety_factor} x 60")
        CfnOutput(self, "InvocationsPerInstanceTarget", value=str(serving.invocations_per_instance_target),
                  description=how)
