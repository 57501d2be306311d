"""A small Lambda that extracts evaluation.json from a training job's output.tar.gz."""
from __future__ import annotations

import re
from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.components.common import (
    acknowledge,
    acknowledge_inline_policies,
    depend_on_policy_only,
    encrypted_log_group,
    grant_key,
    grant_prefix,
)
from infra.nag import allow_wildcards

SOURCE = Path(__file__).parent / "lambda_src" / "read_evaluation.py"


class EvaluationReader(Construct):
    """Inline Python (boto3 + tarfile) in the VPC, allowed to read only the training output prefix."""

    def __init__(self, scope: Construct, construct_id: str, *, artifact_bucket: s3.IBucket, output_prefix: str,
                 key: kms.IKey, vpc: ec2.IVpc, subnets: ec2.SubnetSelection, log_retention_days: int,
                 retain: bool) -> None:
        super().__init__(scope, construct_id)
        log_group = encrypted_log_group(self, "Logs", key=key, retention_days=log_retention_days, retain=retain)
        role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description="Reads evaluation.json from training output")
        security_group = ec2.SecurityGroup(self, "SecurityGroup", vpc=vpc, allow_all_outbound=False,
                                           description="Evaluation reader: HTTPS to S3 and KMS endpoints")
        # Isolated subnets have no route out: HTTPS reaches only the interface endpoints and, through
        # the gateway endpoint's route, S3 (whose addresses are not known at synth without a lookup).
        security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to S3 and the endpoints")
        self.function = lambda_.Function(
            self, "Function", runtime=lambda_.Runtime.PYTHON_3_14, handler="index.handler",
            code=lambda_.Code.from_inline(SOURCE.read_text()), timeout=Duration.minutes(2), memory_size=1024,
            role=role, log_group=log_group, vpc=vpc, vpc_subnets=subnets, security_groups=[security_group],
            reserved_concurrent_executions=5, tracing=lambda_.Tracing.ACTIVE,
            environment={"ARTIFACT_BUCKET": artifact_bucket.bucket_name},
            environment_encryption=key,
            description="Extracts evaluation.json from a SageMaker training output.tar.gz")
        grant_prefix(role, artifact_bucket, output_prefix)
        grant_key(role, key, encrypt=False)
        log_group.grant_write(role)
        acknowledge(self.function, "NIST.800.53.R5-LambdaDLQ",
            "Invoked synchronously by Step Functions, which retries and routes failures to a Fail "
                   "state; a dead-letter queue applies only to asynchronous invocations.")
        acknowledge(role, "AwsSolutions-IAM4",
            "AWSLambdaVPCAccessExecutionRole is the AWS-maintained minimum for a Lambda in a VPC "
                   "(ENI create/describe/delete).")
        acknowledge_inline_policies(role)
        depend_on_policy_only(self.function.node.default_child, role)
        allow_wildcards(
            role, "Evaluation reader: objects under the training output prefix only; X-Ray trace segments "
                  "(Resource * is the only form X-Ray accepts).",
            rf"Resource::.*/{re.escape(output_prefix)}/\*", r"Resource::\*")
