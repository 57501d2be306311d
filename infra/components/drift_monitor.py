"""The scheduled drift monitor of one realtime endpoint (docs/drift-monitoring.md).

EventBridge Scheduler starts a Step Functions state machine every `schedule`; the state machine finds the
UTC days of the window that hold captures, runs `python -m monitor` as a SageMaker Processing job
(`createProcessingJob.sync`) in the isolated VPC with network isolation and the project key, reads the
job's `metrics.json` and hands it to CloudWatch PutMetricData itself, so the job needs no route to
CloudWatch (and the VPC no `monitoring` interface endpoint). An alarm on the `Drift` metric in N
consecutive windows notifies the serving stack's topic and, with `retrain`, an EventBridge rule on its
state change starts the model's training pipeline.

What AWS validates, and where it says so:
- CreateProcessingJob (ProcessingJobName `^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`, at most 10 ProcessingInputs,
  NetworkConfig, VolumeKmsKeyId, KmsKeyId of the outputs):
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateProcessingJob.html
- the role of `createProcessingJob.sync`, exactly as published ("IAM policies for Amazon SageMaker",
  CreateProcessingJob, Run a Job (.sync)): https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html
- the window's days computed with JSONata (`$toMillis`, `$fromMillis`, `$distinct`, and Step Functions'
  own `$parse`): https://docs.aws.amazon.com/step-functions/latest/dg/transforming-data.html
- the S3 listing, the report read and PutMetricData through AWS SDK service integrations:
  https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html
- the schedule and its role (trusted by `scheduler.amazonaws.com`, `states:StartExecution`):
  https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html#setting-up-execution-role
- the alarm's evaluation range (Period x EvaluationPeriods <= 7 days for periods of an hour or more):
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
- the alarm state-change event the retraining rule matches (source `aws.cloudwatch`, detail-type
  `CloudWatch Alarm State Change`): https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

import shared_names as names
from infra.components.common import (
    VPC_ACCESS_WILDCARD,
    acknowledge_inline_policies,
    depend_on_policy_only,
    encrypted_log_group,
    grant_key,
    grant_prefix,
    sagemaker_logs_and_metrics,
    sagemaker_vpc_access,
    workload_security_group,
)
from infra.components.training_job import RETRIED_ERRORS
from infra.drift_settings import DriftMonitorSettings
from infra.instance_storage import has_instance_storage
from infra.nag import allow_wildcards
from infra.settings import ModelVersion

PROCESSING = "/opt/ml/processing"
VARIANT = "AllTraffic"  # the realtime endpoint's one variant (infra/components/endpoint.py)
SYNC_PROCESSING_RULE = "StepFunctionsGetEventsForSageMakerProcessingJobsRule"


@dataclass(frozen=True)
class DriftMonitorProps:
    """Where the monitor reads and writes, and what it watches (the endpoint's own settings are in
    ServingSettings; the monitor's in `DriftMonitorSettings`)."""

    name: str  # <project>-<env>-<model>: the endpoint's name, the prefix of the job names
    model: str
    version: ModelVersion
    image: ecr_assets.DockerImageAsset
    artifact_bucket: s3.IBucket  # captures, model artifacts and reports
    key: kms.IKey
    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    s3_prefix_list_id: str
    alarm_topic: sns.ITopic
    log_retention_days: int
    retain: bool
    training_state_machine: str | None = None  # the pipeline's name: started after drift when `retrain`


class DriftMonitor(Construct):
    """Schedule -> state machine -> processing job -> metrics -> alarms (and, with `retrain`, the rule that
    starts the training pipeline) for one endpoint; the module docstring says what AWS validates where."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: DriftMonitorSettings, props: DriftMonitorProps
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings, self.props = settings, props
        stack = Stack.of(self)
        p = props
        self.job_prefix = f"{p.name}-drift"
        self.capture_prefix = f"{names.data_capture_prefix(p.model)}/{p.name}/{VARIANT}"
        self.report_prefix = names.monitor_report_prefix(p.model)
        self.model_prefix = names.training_output_prefix(p.model)
        self.security_group = workload_security_group(
            self,
            "SecurityGroup",
            vpc=p.vpc,
            s3_prefix_list_id=p.s3_prefix_list_id,
            description=f"{self.job_prefix} processing jobs: HTTPS to S3 only",
        )
        self.job_role = self._job_role()
        log_group = encrypted_log_group(
            self,
            "Logs",
            key=p.key,
            retention_days=p.log_retention_days,
            retain=p.retain,
            name=f"/aws/vendedlogs/states/{self.job_prefix}",
        )
        # An explicit name: the KMS grant's encryption-context condition names the state machine's ARN.
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=self.job_prefix,
            definition_body=sfn.DefinitionBody.from_string(stack.to_json_string(self.definition())),
            timeout=Duration.seconds(settings.max_runtime_s + 3600),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(p.key),
            comment=f"Drift monitor of {p.name}: one window of captures against the artifact's reference",
        )
        self._state_machine_policy()
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            schedule=scheduler.ScheduleExpression.expression(settings.schedule),
            target=scheduler_targets.StepFunctionsStartExecution(
                self.state_machine, role=self._starter_role("SchedulerRole", "scheduler.amazonaws.com")
            ),
            description=f"{p.name}: one drift window of {settings.window_hours} h",
        )
        self.drift_alarm, self.failed_alarm = self._alarms()
        self.retrain_rule = self._retrain() if settings.retrain else None

    # --- the state machine -------------------------------------------------------------------------

    def definition(self) -> dict:
        """The state machine (JSONata): Window -> ModelArtifact -> FindCaptures -> AnyCaptures ->
        Monitor (the processing job) -> ReadMetrics -> PublishMetrics; a window without captures
        publishes WindowSize 0 and WindowUsable 0 instead, a clear result and no alarm."""
        p, s = self.props, self.settings
        bucket = p.artifact_bucket.bucket_name
        hours = s.window_hours
        start = "$states.context.Execution.StartTime"
        # Every UTC day holding a moment of [end - hours, end): a point each hour from end - 1 ms back,
        # and the start itself. At most 8 days for 168 h.
        days = (
            f"{{% $distinct([0..{hours}].($fromMillis($max([$toMillis({start}) - 1 - $ * 3600000, "
            f"$toMillis({start}) - {hours * 3600000}]), '[Y0001]/[M01]/[D01]'))) %}}"
        )
        job_name = (
            f"{{% '{self.job_prefix}-' & $fromMillis($toMillis({start}), '[Y0001][M01][D01]-[H01][m01][s01]') %}}"
        )
        model_input = {
            "InputName": "model",
            "S3Input": {
                "S3Uri": "{% $states.input.model %}",
                "LocalPath": f"{PROCESSING}/model",
                "S3DataType": "S3Prefix",
                "S3InputMode": "File",
            },
        }
        # One input per day that holds captures, each day into its own folder.
        capture_inputs = (
            "$states.input.captured.{'InputName': 'captures-' & $replace($, '/', '-'), 'S3Input': "
            f"{{'S3Uri': 's3://{bucket}/{self.capture_prefix}/' & $ & '/', 'LocalPath': "
            f"'{PROCESSING}/captures/' & $replace($, '/', '-'), 'S3DataType': 'S3Prefix', 'S3InputMode': 'File'}}}}"
        )
        cluster = {
            "InstanceCount": 1,
            "InstanceType": s.instance_type,
            "VolumeSizeInGB": s.volume_size_gb,
            # SageMaker refuses a volume key on types with (hardware-encrypted) local storage
            **({} if has_instance_storage(s.instance_type) else {"VolumeKmsKeyId": p.key.key_arn}),
        }
        arguments = [
            "--model-dir",
            f"{PROCESSING}/model",
            "--captures",
            f"{PROCESSING}/captures",
            "--output",
            f"{PROCESSING}/output",
            "--min-window",
            str(s.min_window),
            "--window-hours",
            str(hours),
            "--window-end",
        ]
        processing_job = {
            "ProcessingJobName": "{% $states.input.job %}",
            "RoleArn": self.job_role.role_arn,
            "AppSpecification": {
                "ImageUri": p.image.image_uri,
                "ContainerEntrypoint": ["python", "-m", "monitor"],
                "ContainerArguments": "{% $append(" + _jsonata_list(arguments) + ", [$states.input.end]) %}",
            },
            "ProcessingInputs": "{% $append([" + _jsonata_object(model_input) + "], " + capture_inputs + ") %}",
            "ProcessingOutputConfig": {
                "KmsKeyId": p.key.key_arn,
                "Outputs": [
                    {
                        "OutputName": "report",
                        "S3Output": {
                            "S3Uri": f"{{% 's3://{bucket}/{self.report_prefix}/' & $states.input.job %}}",
                            "LocalPath": f"{PROCESSING}/output",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ],
            },
            "ProcessingResources": {"ClusterConfig": cluster},
            "NetworkConfig": {
                "EnableNetworkIsolation": True,
                "EnableInterContainerTrafficEncryption": True,
                "VpcConfig": {
                    "SecurityGroupIds": [self.security_group.security_group_id],
                    "Subnets": p.vpc.select_subnets(subnet_type=p.subnets.subnet_type).subnet_ids,
                },
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": s.max_runtime_s},
        }
        if p.version.model_package_arn:
            model_artifact = {
                "Type": "Task",
                "Comment": "The served package's model.tar.gz",
                "Resource": "arn:aws:states:::aws-sdk:sagemaker:describeModelPackage",
                "Arguments": {"ModelPackageName": p.version.model_package_arn},
                "Output": "{% $merge([$states.input, "
                "{'model': $states.result.InferenceSpecification.Containers[0].ModelDataUrl}]) %}",
                "Next": "FindCaptures",
            }
        else:
            model_artifact = {
                "Type": "Pass",
                "Comment": "The served model.tar.gz",
                "Output": "{% $merge([$states.input, {'model': '" + str(p.version.model_data_url) + "'}]) %}",
                "Next": "FindCaptures",
            }
        dimensions = [{"Name": names.MONITOR_DIMENSION, "Value": p.model}]
        return {
            "Comment": f"Drift monitor of {p.name}",
            "QueryLanguage": "JSONata",
            "StartAt": "Window",
            "States": {
                "Window": {
                    "Type": "Pass",
                    "Comment": f"The window: the {hours} h before the execution's start",
                    "Output": {"end": f"{{% {start} %}}", "days": days, "job": job_name},
                    "Next": "ModelArtifact",
                },
                "ModelArtifact": model_artifact,
                "FindCaptures": {
                    "Type": "Map",
                    "Comment": "The window's days that hold captures (an input of an empty prefix fails a job)",
                    "Items": "{% $states.input.days %}",
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "INLINE"},
                        "StartAt": "ListDay",
                        "States": {
                            "ListDay": {
                                "Type": "Task",
                                "Resource": "arn:aws:states:::aws-sdk:s3:listObjectsV2",
                                "Arguments": {
                                    "Bucket": bucket,
                                    "Prefix": f"{{% '{self.capture_prefix}/' & $states.input & '/' %}}",
                                    "MaxKeys": 1,
                                },
                                "Output": "{% {'day': $states.input, 'found': $states.result.KeyCount > 0} %}",
                                "End": True,
                            }
                        },
                    },
                    "Output": "{% $merge([$states.input, {'captured': $states.result[found].day[]}]) %}",
                    "Next": "AnyCaptures",
                },
                "AnyCaptures": {
                    "Type": "Choice",
                    "Choices": [{"Condition": "{% $count($states.input.captured) > 0 %}", "Next": "Monitor"}],
                    "Default": "PublishEmptyWindow",
                },
                "PublishEmptyWindow": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:cloudwatch:putMetricData",
                    "Arguments": {
                        "Namespace": names.MONITOR_NAMESPACE,
                        "MetricData": [
                            {"MetricName": "WindowSize", "Dimensions": dimensions, "Value": 0, "Unit": "Count"},
                            {"MetricName": "WindowUsable", "Dimensions": dimensions, "Value": 0, "Unit": "Count"},
                        ],
                    },
                    "Next": "NoCaptures",
                },
                "NoCaptures": {"Type": "Succeed", "Comment": "status empty_window: nothing captured in the window"},
                "Monitor": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sagemaker:createProcessingJob.sync",
                    "Arguments": processing_job,
                    "Output": "{% $merge([$states.input, {'report': '"
                    + self.report_prefix
                    + "/' & $states.input.job}]) %}",
                    # Throttling and account limits are worth waiting out; a failed job is not retried.
                    "Retry": [
                        {
                            "ErrorEquals": list(RETRIED_ERRORS),
                            "IntervalSeconds": 30,
                            "MaxAttempts": 6,
                            "BackoffRate": 2.0,
                            "MaxDelaySeconds": 900,
                            "JitterStrategy": "FULL",
                        }
                    ],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "MonitorFailed"}],
                    "Next": "ReadMetrics",
                },
                "MonitorFailed": {
                    "Type": "Fail",
                    "Error": "MonitorJobFailed",
                    "Cause": "{% $string($states.input.Cause) %}",
                },
                "ReadMetrics": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                    "Arguments": {"Bucket": bucket, "Key": "{% $states.input.report & '/metrics.json' %}"},
                    "Output": "{% $merge([$states.input, {'metric_data': $parse($states.result.Body)}]) %}",
                    "Next": "PublishMetrics",
                },
                "PublishMetrics": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:cloudwatch:putMetricData",
                    "Arguments": {
                        "Namespace": names.MONITOR_NAMESPACE,
                        "MetricData": "{% $states.input.metric_data %}",
                    },
                    "End": True,
                },
            },
        }

    def _state_machine_policy(self) -> None:
        p, stack, role = self.props, Stack.of(self), self.state_machine.role
        job_arn = stack.format_arn(service="sagemaker", resource="processing-job", resource_name=f"{self.job_prefix}-*")
        # Exactly the policy AWS publishes for `createProcessingJob.sync` (sagemaker-iam.html, as the
        # training pipeline's for createTrainingJob.sync): no sagemaker:AddTags, the state passes no Tags.
        statements = [
            iam.PolicyStatement(
                actions=[
                    "sagemaker:CreateProcessingJob",
                    "sagemaker:DescribeProcessingJob",
                    "sagemaker:StopProcessingJob",
                ],
                resources=[job_arn],
            ),
            iam.PolicyStatement(actions=["sagemaker:ListTags"], resources=["*"]),
            iam.PolicyStatement(
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[stack.format_arn(service="events", resource="rule", resource_name=SYNC_PROCESSING_RULE)],
            ),
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.job_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            ),
            # The window's days (ListObjectsV2 needs s3:ListBucket) and the report's metrics.json.
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[p.artifact_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{self.capture_prefix}/*"]}},
            ),
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[p.artifact_bucket.arn_for_objects(f"{self.report_prefix}/*")]
            ),
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": names.MONITOR_NAMESPACE}},
            ),
        ]
        if p.version.model_package_arn:
            statements.append(
                iam.PolicyStatement(actions=["sagemaker:DescribeModelPackage"], resources=[p.version.model_package_arn])
            )
        for statement in statements:
            self.state_machine.add_to_role_policy(statement)
        grant_key(role, p.key, encrypt=False)  # reads the KMS-encrypted report
        acknowledge_inline_policies(role)
        depend_on_policy_only(self.state_machine.node.default_child, role)
        allow_wildcards(
            self.state_machine,
            "Drift monitor state machine role: processing jobs named with this monitor's prefix, its reports; "
            "Resource * only for sagemaker:ListTags (published .sync policy), cloudwatch:PutMetricData "
            "(namespace condition) and the X-Ray and CloudWatch Logs delivery actions of tracing and "
            "logging, which allow no resource-level scoping.",
            rf"Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:processing-job/"
            rf"{re.escape(self.job_prefix)}-\*",
            rf"Resource::.*/{re.escape(self.report_prefix)}/\*",
            r"Resource::<[A-Za-z0-9]+\.Arn>:\*",
            r"Resource::\*",
        )

    def _job_role(self) -> iam.Role:
        """The processing job's role: read the endpoint's captures and this model's artifacts, write the
        reports, use the key, pull the image, write its logs, attach its ENIs. No CloudWatch metrics of
        the monitor's own: the state machine publishes them."""
        p = self.props
        role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"{self.job_prefix} processing jobs: read captures and the model, write drift reports",
        )
        grant_prefix(role, p.artifact_bucket, self.capture_prefix)
        grant_prefix(role, p.artifact_bucket, self.model_prefix)
        grant_prefix(role, p.artifact_bucket, self.report_prefix, write=True)
        grant_key(role, p.key, create_grant=True)  # CreateGrant: SageMaker encrypts the volume with it
        p.image.repository.grant_pull(role)
        log_pattern = sagemaker_logs_and_metrics(
            role, log_group="/aws/sagemaker/ProcessingJobs", metric_namespace="/aws/sagemaker/ProcessingJobs"
        )
        sagemaker_vpc_access(role)
        acknowledge_inline_policies(role)
        allow_wildcards(
            role,
            "Drift monitor job role: objects under the endpoint's capture prefix, the model's artifact prefix "
            "and the report prefix; the processing job log streams; Resource * only for "
            "ecr:GetAuthorizationToken, cloudwatch:PutMetricData (namespace condition) and the EC2 "
            "network-interface actions of VpcConfig, which allow no resource-level scoping.",
            rf"Resource::.*/({re.escape(self.capture_prefix)}|{re.escape(self.model_prefix)}|"
            rf"{re.escape(self.report_prefix)})/\*",
            log_pattern,
            VPC_ACCESS_WILDCARD,
            r"Resource::\*",
        )
        return role

    # --- alarms and retraining ---------------------------------------------------------------------

    def _starter_role(self, construct_id: str, service: str) -> iam.Role:
        """A role `service` assumes to start an execution (the target grants states:StartExecution).
        The state machines are encrypted with the project key, so starting one needs kms:GenerateDataKey
        and kms:Decrypt on it ("Data at rest encryption in Step Functions",
        https://docs.aws.amazon.com/step-functions/latest/dg/encryption-at-rest.html)."""
        role = iam.Role(
            self,
            construct_id,
            assumed_by=iam.ServicePrincipal(
                service, conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}}
            ),
            description=f"{self.job_prefix}: {service.split('.')[0]} starts a state machine execution",
        )
        self.props.key.grant(role, "kms:GenerateDataKey", "kms:Decrypt")
        acknowledge_inline_policies(role)
        return role

    def metric(self, name: str, statistic: str = "Maximum") -> cloudwatch.Metric:
        """One of the monitor's metrics (monitor/metrics.py), one datapoint per window."""
        return cloudwatch.Metric(
            namespace=names.MONITOR_NAMESPACE,
            metric_name=name,
            statistic=statistic,
            period=Duration.seconds(self.settings.window_s),
            dimensions_map={names.MONITOR_DIMENSION: self.props.model},
        )

    def _alarms(self) -> tuple[cloudwatch.Alarm, cloudwatch.Alarm]:
        s, topic = self.settings, self.props.alarm_topic
        n = s.consecutive_windows_to_retrain
        # Drift is published only for a usable window; a missing window breaks the run (NOT_BREACHING).
        drift = cloudwatch.Alarm(
            self,
            "DriftAlarm",
            metric=self.metric("Drift"),
            threshold=1,
            evaluation_periods=n,
            datapoints_to_alarm=n,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"{self.props.name}: drift in {n} consecutive windows of {s.window_hours} h "
            + ("(starts the training pipeline)" if s.retrain else "(retraining is off)"),
        )
        failed = cloudwatch.Alarm(
            self,
            "MonitorFailedAlarm",
            metric=self.state_machine.metric_failed(period=Duration.seconds(s.window_s), statistic="Sum"),
            threshold=1,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"{self.props.name}: a drift monitor run failed (see the execution's cause)",
        )
        for alarm in (drift, failed):
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))
            alarm.add_ok_action(cloudwatch_actions.SnsAction(topic))
        return drift, failed

    def _retrain(self) -> events.Rule:
        """Drift in N consecutive windows: the alarm goes to ALARM once, and this rule starts the
        training pipeline once per such change (the alarm must return to OK before it fires again)."""
        name = self.props.training_state_machine
        if not name:
            raise ValueError(f"{self.props.name}: retrain needs the model's training pipeline")
        pipeline = sfn.StateMachine.from_state_machine_name(self, "TrainingPipeline", name)
        rule = events.Rule(
            self,
            "RetrainOnDrift",
            description=f"{self.props.name}: drift alarm -> start the {self.props.model} training pipeline",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                resources=[self.drift_alarm.alarm_arn],
                detail={"state": {"value": ["ALARM"]}},
            ),
        )
        rule.add_target(
            events_targets.SfnStateMachine(pipeline, role=self._starter_role("RetrainRole", "events.amazonaws.com"))
        )
        return rule


def _jsonata_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "\\'") + "'" for v in values) + "]"


def _jsonata_object(value: dict) -> str:
    """A JSON object as a JSONata object constructor; `{% expr %}` values become the expression."""
    parts = []
    for k, v in value.items():
        if isinstance(v, dict):
            text = _jsonata_object(v)
        elif isinstance(v, str) and v.startswith("{%"):
            text = v[2:-2].strip()
        else:
            text = "'" + str(v) + "'"
        parts.append(f"'{k}': {text}")
    return "{" + ", ".join(parts) + "}"
