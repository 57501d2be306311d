"""One endpoint serving the model version given as context, in the serving mode its settings name."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

import shared_names as names
from infra.ci_settings import CiEnvironment
from infra.components.async_endpoint import AsyncEndpoint
from infra.components.drift_monitor import DriftMonitor, DriftMonitorProps
from infra.components.endpoint import AutoscaledEndpoint
from infra.components.inference_component import ScaleToZeroEndpoint
from infra.components.promotion_access import read_promoted_models
from infra.components.serving_parts import ServingInputs
from infra.drift_settings import DriftMonitorSettings
from infra.images import MONITOR_DIR, monitor_image, serving_image
from infra.serving_modes import ASYNC, SCALE_TO_ZERO
from infra.settings import EnvironmentSettings, ServingSettings, SettingsError
from infra.stacks.network_stack import NetworkStack
from infra.stacks.storage_stack import StorageStack
from shared_names import bucket_name, training_output_prefix


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
        promoted_from: CiEnvironment | None = None,
        monitor_dir: Path = MONITOR_DIR,
    ) -> None:
        """`promoted_from`: this environment serves packages that served in another one (prod: dev);
        its model role may then read that environment's model artifacts (infra/components/promotion_access.py)."""
        super().__init__(scope, construct_id, description=description)
        _, artifact_bucket = storage.buckets_for(self)
        endpoint_name = f"{settings.prefix}-{serving.model}"
        inputs = ServingInputs(
            image=serving_image(self, serving.model, inference_dir),
            model_data_bucket=artifact_bucket,
            model_data_prefix=training_output_prefix(serving.model),
            key=storage.key,
            vpc=network.vpc,
            subnets=network.subnets,
            s3_prefix_list_id=network.s3_prefix_list_id,
            log_retention_days=settings.log_retention_days,
            retain=settings.retain,
        )
        if serving.mode == SCALE_TO_ZERO:
            self.endpoint = ScaleToZeroEndpoint(
                self, "Endpoint", endpoint_name=endpoint_name, settings=serving, inputs=inputs
            )
            CfnOutput(
                self,
                "InferenceComponentName",
                value=self.endpoint.component_name,
                description="Pass it with the endpoint name: python -m inference.client --endpoint "
                f"{endpoint_name} --component {self.endpoint.component_name}",
            )
        elif serving.mode == ASYNC:
            self.endpoint = AsyncEndpoint(
                self,
                "Endpoint",
                endpoint_name=endpoint_name,
                settings=serving,
                inputs=inputs,
                io_bucket=artifact_bucket,
                io_prefix=f"async/{serving.model}",
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
                capture_bucket=artifact_bucket,
                capture_prefix=names.data_capture_prefix(serving.model),
                endpoint_name=endpoint_name,
                settings=serving,
                inputs=inputs,
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
        self.drift_monitor = None
        if serving.drift_monitor is not None:
            self.drift_monitor = self._drift_monitor(
                serving.drift_monitor, settings, serving, storage, network, artifact_bucket, inference_dir, monitor_dir
            )
        if promoted_from is not None:
            readers = [c for c in self.endpoint.node.find_all() if isinstance(c, iam.Role) and c.node.id == "ModelRole"]
            for role in readers + ([self.drift_monitor.job_role] if self.drift_monitor else []):
                read_promoted_models(
                    role,
                    source_env=str(promoted_from.promote_from),
                    bucket=bucket_name(
                        str(promoted_from.promote_from),
                        "artifacts",
                        str(promoted_from.source_account),
                        str(promoted_from.source_region),
                        settings.project,
                    ),
                    account=str(promoted_from.source_account),
                    region=str(promoted_from.source_region),
                    model=serving.model,
                )
        CfnOutput(self, "EndpointName", value=self.endpoint.endpoint_name)
        CfnOutput(self, "ServingMode", value=serving.mode)
        CfnOutput(
            self,
            "AlarmTopicArn",
            value=self.endpoint.alarm_topic.topic_arn,
            description="Subscribe to hear of 5xx and latency alarms (they also roll back deployments)",
        )

    def _drift_monitor(
        self,
        monitor: DriftMonitorSettings,
        settings: EnvironmentSettings,
        serving: ServingSettings,
        storage: StorageStack,
        network: NetworkStack,
        artifact_bucket: s3.IBucket,
        inference_dir: Path,
        monitor_dir: Path,
    ) -> DriftMonitor:
        """The scheduled drift monitor of this endpoint (serving.<model>.drift_monitor): here, beside the
        endpoint whose captures it reads and whose alarm topic it notifies."""
        trained = {t.model for t in settings.training}
        if monitor.retrain and serving.model not in trained:
            raise SettingsError(
                f"environments.{settings.env}.serving.{serving.model}.drift_monitor.retrain: true, but "
                f"training.{serving.model} is not set, so there is no training pipeline to start"
            )
        drift = DriftMonitor(
            self,
            "DriftMonitor",
            settings=monitor,
            props=DriftMonitorProps(
                name=f"{settings.prefix}-{serving.model}",
                model=serving.model,
                version=serving.version,
                image=monitor_image(self, serving.model, inference_dir, monitor_dir),
                artifact_bucket=artifact_bucket,
                key=storage.key,
                vpc=network.vpc,
                subnets=network.subnets,
                s3_prefix_list_id=network.s3_prefix_list_id,
                alarm_topic=self.endpoint.alarm_topic,
                log_retention_days=settings.log_retention_days,
                retain=settings.retain,
                training_state_machine=f"{settings.prefix}-{serving.model}" if monitor.retrain else None,
            ),
        )
        CfnOutput(self, "DriftMonitorStateMachineArn", value=drift.state_machine.state_machine_arn)
        CfnOutput(
            self,
            "DriftReportLocation",
            value=f"s3://{artifact_bucket.bucket_name}/{drift.report_prefix}/",
            description="drift.json, drift.png and metrics.json of each window (docs/drift-monitoring.md)",
        )
        return drift
