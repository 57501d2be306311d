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
    checkov_skip,
    depend_on_policy_only,
    encrypted_log_group,
    grant_key,
    grant_prefix,
    workload_security_group,
)
from infra.nag import allow_wildcards
from infra.rules import RESERVED_CONCURRENCY_OPT_IN

SOURCE = Path(__file__).parent / "lambda_src" / "read_evaluation.py"
# The one evaluation.json reader (stdlib only), prepended to the handler: inline code is a single file.
READER_SOURCE = Path(__file__).resolve().parents[2] / "evaluation_tarball.py"


def lambda_source() -> str:
    """The Lambda's inline code (ZipFile; the former 4096-character limit is gone, see
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-lambda-function-code.html):
    the shared reader, then the handler."""
    return READER_SOURCE.read_text() + "\n\n" + SOURCE.read_text()


class EvaluationReader(Construct):
    """Inline Python (boto3 + tarfile) in the VPC, allowed to read only the training output prefix."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        artifact_bucket: s3.IBucket,
        output_prefix: str,
        key: kms.IKey,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        s3_prefix_list_id: str,
        log_retention_days: int,
        retain: bool,
        reserved_concurrency: int | None = None,
    ) -> None:
        """`reserved_concurrency`: None (the default) reserves nothing; a number opts in to reserving it,
        which Lambda refuses unless the account's unreserved concurrency stays >= 100 after it."""
        super().__init__(scope, construct_id)
        log_group = encrypted_log_group(self, "Logs", key=key, retention_days=log_retention_days, retain=retain)
        # A role passed to a VPC function gets no ENI permissions from the CDK (it adds them only to roles
        # it creates), and Lambda refuses to create the function without them:
        # https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html (Project-LambdaVpcEniPermissions)
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Reads evaluation.json from training output",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWSLambdaVPCAccessExecutionRole")
            ],
        )
        security_group = workload_security_group(
            self,
            "SecurityGroup",
            vpc=vpc,
            s3_prefix_list_id=s3_prefix_list_id,
            description="Evaluation reader: HTTPS to S3",
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="index.handler",
            code=lambda_.Code.from_inline(lambda_source()),
            timeout=Duration.minutes(2),
            memory_size=1024,
            role=role,
            log_group=log_group,
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[security_group],
            tracing=lambda_.Tracing.ACTIVE,
            environment={"ARTIFACT_BUCKET": artifact_bucket.bucket_name},
            environment_encryption=key,
            description="Extracts evaluation.json from a SageMaker training output.tar.gz",
        )
        grant_prefix(role, artifact_bucket, output_prefix)
        grant_key(role, key, encrypt=False)
        log_group.grant_write(role)
        no_dlq = (
            "Invoked synchronously by Step Functions, which retries and routes failures to a Fail "
            "state; a dead-letter queue applies only to asynchronous invocations."
        )
        acknowledge(self.function, "NIST.800.53.R5-LambdaDLQ", no_dlq)
        skips = {"CKV_AWS_116": no_dlq}
        if reserved_concurrency is None:
            no_reservation = (
                "No reserved concurrency by default: Lambda refuses a reservation that leaves the account "
                "less than 100 unreserved, and new accounts often have a quota of 10 or 50; one Step "
                "Functions execution calls the reader once (opt in: evaluation_reserved_concurrency)."
            )
            acknowledge(self.function, "NIST.800.53.R5-LambdaConcurrency", no_reservation)
            skips["CKV_AWS_115"] = no_reservation
        else:
            reserve_concurrency(self.function, reserved_concurrency)
        checkov_skip(self.function, skips)
        acknowledge(
            role,
            "AwsSolutions-IAM4",
            "AWSLambdaVPCAccessExecutionRole is the AWS-maintained minimum for a Lambda in a VPC "
            "(ENI create/describe/delete), which Lambda requires of the role.",
        )
        acknowledge_inline_policies(role)
        depend_on_policy_only(self.function.node.default_child, role)
        allow_wildcards(
            role,
            "Evaluation reader: objects under the training output prefix only; X-Ray trace segments "
            "(Resource * is the only form X-Ray accepts).",
            rf"Resource::.*/{re.escape(output_prefix)}/\*",
            r"Resource::\*",
        )


def reserve_concurrency(function: lambda_.Function, count: int) -> None:
    """Opt in to reserving `count` concurrent executions for `function`. Lambda refuses the function when
    the reservation would leave the account's unreserved concurrency below 100 ("You can reserve up to
    the Unreserved account concurrency value minus 100", "Configuring reserved concurrency for a
    function", https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html), so the
    account's concurrency quota must be at least 100 + every reservation in it; Project-LambdaReservedConcurrency
    refuses a reservation without this opt-in."""
    cfn = function.node.default_child
    cfn.reserved_concurrent_executions = count
    cfn.node.add_metadata(RESERVED_CONCURRENCY_OPT_IN, {"count": count})
