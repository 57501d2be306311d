"""A Step Functions task that runs one SageMaker training job to completion (`.sync`).

The CDK's `SageMakerCreateTrainingJob` leaves out managed spot, checkpoints and inter-container
encryption, so this construct writes the state itself and returns the IAM statements the state
machine's role needs to run it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

import shared_names as names
from infra.components.channel_check import ChannelCheck
from infra.components.common import (
    VPC_ACCESS_WILDCARD,
    acknowledge_inline_policies,
    grant_key,
    grant_prefix,
    sagemaker_logs_and_metrics,
    sagemaker_vpc_access,
    workload_security_group,
)
from infra.instance_storage import has_instance_storage
from infra.nag import allow_wildcards
from infra.settings import TrainingSettings

CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
RETRIED_ERRORS = (
    "SageMaker.AmazonSageMakerException",
    "SageMaker.ResourceLimitExceededException",
    "ThrottlingException",
)


def allow_between_hosts(group: ec2.SecurityGroup) -> None:
    """What the hosts of one multi-instance job send each other, in and out among the group's members:
    TCP for the framework (DDP, MultiWorkerMirroredStrategy), and UDP 500 (IKE) and IP protocol 50
    (ESP) for the IPsec that inter-container traffic encryption sets up.
    https://docs.aws.amazon.com/sagemaker/latest/dg/train-encrypt.html (Project-InterHostEncryptedTraffic)"""
    for name, protocol, from_port, to_port, what in (
        ("Tcp", "tcp", 0, 65535, "framework traffic"),
        ("Ike", "udp", 500, 500, "IPsec key exchange"),
        ("Esp", "50", None, None, "IPsec ESP"),
    ):
        rule = {
            "group_id": group.security_group_id,
            "ip_protocol": protocol,
            "from_port": from_port,
            "to_port": to_port,
            "description": f"Between training hosts: {what}",
        }
        ec2.CfnSecurityGroupIngress(group, f"From{name}", source_security_group_id=group.security_group_id, **rule)
        ec2.CfnSecurityGroupEgress(group, f"To{name}", destination_security_group_id=group.security_group_id, **rule)


@dataclass(frozen=True)
class TrainingJobProps:
    """What a training job needs from the rest of the platform (the job's own values are its settings)."""

    job_name_prefix: str
    image: ecr_assets.DockerImageAsset
    metric_definitions: Sequence[Mapping[str, str]]
    data_bucket: s3.IBucket
    artifact_bucket: s3.IBucket
    key: kms.IKey
    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    s3_prefix_list_id: str


class TrainingJobTask(Construct):
    """`createTrainingJob.sync` with managed spot, checkpoints, VPC, network isolation, inter-container
    encryption and KMS on volumes and output. The job name comes from the execution name, so a re-run
    of the same execution never collides and nothing time-based is baked in at synth.

    `settings` are validated already (infra/settings.py: a train channel, max_wait_s >= max_runtime_s
    with spot); the S3 prefixes follow the layout of shared_names."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: TrainingSettings,
        props: TrainingJobProps,
        result_path: str = "$.training",
    ) -> None:
        super().__init__(scope, construct_id)
        t = settings
        job_name_prefix, image, key, vpc = props.job_name_prefix, props.image, props.key, props.vpc
        data_bucket, artifact_bucket = props.data_bucket, props.artifact_bucket
        data_prefix = names.data_prefix(t.model)
        output_prefix = names.training_output_prefix(t.model)
        checkpoint_prefix = names.checkpoint_prefix(t.model)
        stack = Stack.of(self)
        self.security_group = workload_security_group(
            self,
            "SecurityGroup",
            vpc=vpc,
            s3_prefix_list_id=props.s3_prefix_list_id,
            description=f"{job_name_prefix} training hosts: traffic between hosts and HTTPS to S3",
        )
        allow_between_hosts(self.security_group)
        self.role = self._execution_role(
            stack, image, data_bucket, data_prefix, artifact_bucket, output_prefix, checkpoint_prefix, key
        )
        stopping = {"MaxRuntimeInSeconds": t.max_runtime_s}
        spot = {}
        if t.use_spot:
            stopping["MaxWaitTimeInSeconds"] = t.max_wait_s
            spot = {"EnableManagedSpotTraining": True}
        parameters = {
            "TrainingJobName.$": f"States.Format('{job_name_prefix}-{{}}', $$.Execution.Name)",
            "RoleArn": self.role.role_arn,
            "AlgorithmSpecification": {
                "TrainingImage": image.image_uri,
                "TrainingInputMode": "File",
                "MetricDefinitions": [dict(d) for d in props.metric_definitions],
            },
            "HyperParameters": t.hyperparameter_map,
            "InputDataConfig": [
                {
                    "ChannelName": channel,
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3DataDistributionType": "FullyReplicated",
                            "S3Uri": f"s3://{data_bucket.bucket_name}/{data_prefix}/{channel}/",
                        }
                    },
                }
                for channel in t.channels
            ],
            "OutputDataConfig": {
                "S3OutputPath": f"s3://{artifact_bucket.bucket_name}/{output_prefix}/",
                "KmsKeyId": key.key_arn,
            },
            "ResourceConfig": {
                "InstanceType": t.instance_type,
                "InstanceCount": t.instance_count,
                "VolumeSizeInGB": t.volume_size_gb,
                # SageMaker refuses a volume key on types with (hardware-encrypted) local storage
                **({} if has_instance_storage(t.instance_type) else {"VolumeKmsKeyId": key.key_arn}),
            },
            "StoppingCondition": stopping,
            **spot,
            "CheckpointConfig": {
                "S3Uri.$": f"States.Format('s3://{artifact_bucket.bucket_name}/{checkpoint_prefix}/{{}}/', "
                "$$.Execution.Name)",
                "LocalPath": CHECKPOINT_LOCAL_PATH,
            },
            "VpcConfig": {
                "SecurityGroupIds": [self.security_group.security_group_id],
                "Subnets": vpc.select_subnets(subnet_type=props.subnets.subnet_type).subnet_ids,
            },
            "EnableNetworkIsolation": True,
            "EnableInterContainerTrafficEncryption": True,
        }
        self.task = sfn.CustomState(
            self,
            "Train",
            state_json={
                "Type": "Task",
                "Resource": f"arn:{stack.partition}:states:::sagemaker:createTrainingJob.sync",
                "Parameters": parameters,
                "ResultPath": result_path,
            },
        )
        # Throttling and account limits (e.g. instances in use by other jobs) are worth waiting out.
        # Step Functions names a SageMaker API error after the SDK's exception class: ThrottlingException
        # has no class of its own and arrives as SageMaker.AmazonSageMakerException; a failed job is
        # States.TaskFailed and is not retried here.
        # https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
        self.task.add_retry(
            errors=list(RETRIED_ERRORS),
            interval=Duration.seconds(30),
            max_attempts=6,
            backoff_rate=2.0,
            max_delay=Duration.minutes(15),
            jitter_strategy=sfn.JitterType.FULL,
        )
        job_arn = stack.format_arn(service="sagemaker", resource="training-job", resource_name=f"{job_name_prefix}-*")
        # Exactly the policy AWS publishes for `createTrainingJob.sync` ("IAM policies for Amazon
        # SageMaker" in the Step Functions guide, https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html,
        # "Run a Job (.sync)"): Create/Describe/StopTrainingJob on the jobs, sagemaker:ListTags on "*",
        # iam:PassRole to SageMaker, and the events rule Step Functions manages. No sagemaker:AddTags:
        # the state passes no Tags. Project-SyncTrainingPermissions checks the role holds them all.
        self.policy_statements = [
            iam.PolicyStatement(
                actions=[
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                ],
                resources=[job_arn],
            ),
            iam.PolicyStatement(actions=["sagemaker:ListTags"], resources=["*"]),
            iam.PolicyStatement(
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[
                    stack.format_arn(
                        service="events",
                        resource="rule",
                        resource_name="StepFunctionsGetEventsForSageMakerTrainingJobsRule",
                    )
                ],
            ),
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            ),
        ]
        # Runs before the job (the pipeline chains it): an empty channel fails the execution at once.
        self.channel_check = ChannelCheck(
            self, "Channels", model=t.model, channels=t.channels, bucket=data_bucket, data_prefix=data_prefix
        )
        self.policy_statements += self.channel_check.policy_statements

    def _execution_role(
        self,
        stack: Stack,
        image: ecr_assets.DockerImageAsset,
        data_bucket: s3.IBucket,
        data_prefix: str,
        artifact_bucket: s3.IBucket,
        output_prefix: str,
        checkpoint_prefix: str,
        key: kms.IKey,
    ) -> iam.Role:
        role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="SageMaker training jobs: read data, write artifacts and checkpoints",
        )
        grant_prefix(role, data_bucket, data_prefix)
        grant_prefix(role, artifact_bucket, output_prefix, write=True)
        grant_prefix(role, artifact_bucket, checkpoint_prefix, write=True)
        grant_key(role, key, create_grant=True)  # CreateGrant: SageMaker encrypts the volumes with it
        image.repository.grant_pull(role)
        log_pattern = sagemaker_logs_and_metrics(
            role, log_group="/aws/sagemaker/TrainingJobs", metric_namespace="/aws/sagemaker/TrainingJobs"
        )
        sagemaker_vpc_access(role)
        acknowledge_inline_policies(role)
        allow_wildcards(
            role,
            "Training execution role: objects under this model's data, output and checkpoint prefixes; "
            "the SageMaker training log streams; Resource * only for ecr:GetAuthorizationToken, "
            "cloudwatch:PutMetricData (namespace condition) and the EC2 network-interface actions "
            "of VpcConfig, which allow no resource-level scoping.",
            rf"Resource::.*/({re.escape(data_prefix)}|{re.escape(output_prefix)}|{re.escape(checkpoint_prefix)})/\*",
            log_pattern,
            VPC_ACCESS_WILDCARD,
            r"Resource::\*",
        )
        return role
