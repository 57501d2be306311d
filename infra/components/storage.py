"""The project's customer-managed key and its S3 buckets."""

from __future__ import annotations

from collections.abc import Mapping

import jsii
from aws_cdk import Aspects, Duration, IAspect, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct, IConstruct

from infra.components.common import acknowledge, checkov_skip, removal_policy


class ProjectKey(Construct):
    """A customer-managed KMS key with yearly rotation, usable by CloudWatch Logs in this account."""

    def __init__(self, scope: Construct, construct_id: str, *, alias: str, retain: bool) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        log_groups = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:*"
        self.key = kms.Key(
            self,
            "Key",
            alias=alias,
            enable_key_rotation=True,
            description=f"Encrypts data, artifacts, logs and volumes of {alias}",
            pending_window=Duration.days(30),
            removal_policy=removal_policy(retain),
        )
        # CloudWatch Logs uses the key through its regional principal: "This service principal must be in
        # the same region as where the CMK is stored" ("Encrypt log data in CloudWatch Logs using AWS KMS",
        # https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html). The global
        # `logs.amazonaws.com` makes every log group encrypted with this key fail at create
        # (Project-RegionalLogsPrincipal).
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(logs_principal(stack))],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],  # in a key policy "*" means this key
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublishToEncryptedTopics",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        Aspects.of(self).add(LogDeliveryConditions())


def logs_principal(stack: Stack) -> str:
    """CloudWatch Logs' service principal in the stack's region, `logs.<region>.amazonaws.com`."""
    return f"logs.{stack.region}.amazonaws.com"


@jsii.implements(IAspect)
class LogDeliveryConditions:
    """Adds aws:SourceAccount and aws:SourceArn to the key-policy statements for CloudWatch Logs
    vended-log delivery (`delivery.logs.amazonaws.com`, which the CDK adds without conditions for the
    state machines' encrypted logs), so only this account's log deliveries may use the key.
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/AWS-logs-infrastructure-S3.html (the key
    policy for `delivery.logs.amazonaws.com`: aws:SourceAccount = the account, aws:SourceArn =
    arn:aws:logs:REGION:ACCOUNT:*) and .../AWS-logs-and-resource-policy.html. Not verified against an
    account: that the same conditions hold for delivery into an encrypted CloudWatch Logs group."""

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, kms.CfnKey):
            return
        stack = Stack.of(node)
        statements = stack.resolve(node.key_policy).get("Statement", [])
        for index, statement in enumerate(statements):
            if (statement.get("Principal") or {}).get("Service") == "delivery.logs.amazonaws.com":
                node.add_property_override(
                    f"KeyPolicy.Statement.{index}.Condition",
                    {
                        "StringEquals": {"aws:SourceAccount": stack.account},
                        "ArnLike": {"aws:SourceArn": f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:*"},
                    },
                )


class AccessLogBucket(Construct):
    """Target of S3 server access logs. S3 log delivery cannot write SSE-KMS objects, so this one
    bucket uses SSE-S3."""

    def __init__(self, scope: Construct, construct_id: str, *, expiration_days: int, retain: bool) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(expiration_days),
                    noncurrent_version_expiration=Duration.days(7),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=removal_policy(retain),
        )
        checkov_skip(
            self.bucket,
            {
                "CKV_AWS_18": "This is the access-log bucket of the data and artifact buckets; "
                "logging it into itself would loop."
            },
        )
        for rule, reason in {
            "NIST.800.53.R5-S3DefaultEncryptionKMS": "S3 server access log delivery supports only SSE-S3 "
            "on the target bucket.",
            "NIST.800.53.R5-S3BucketReplicationEnabled": "Access logs are kept in one region for their "
            "lifecycle period; versioning guards deletion.",
        }.items():
            acknowledge(self.bucket, rule, reason)


class SecureBucket(Construct):
    """A bucket encrypted with the project key: TLS-only, versioned, private, access-logged, with a
    lifecycle that moves old objects to Infrequent Access and expires old versions."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket_name: str,
        key: kms.IKey,
        access_logs: s3.IBucket,
        log_prefix: str,
        infrequent_access_after_days: int,
        noncurrent_version_expiration_days: int,
        retain: bool,
        expirations: Mapping[str, int] | None = None,
    ) -> None:
        """`expirations`: prefix -> days after which objects under it (and their old versions) expire."""
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=bucket_name,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=f"{log_prefix}/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=Duration.days(infrequent_access_after_days),
                        )
                    ],
                    noncurrent_version_expiration=Duration.days(noncurrent_version_expiration_days),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ]
            + [
                s3.LifecycleRule(
                    id=f"Expire-{prefix.strip('/')}",
                    prefix=prefix,
                    expiration=Duration.days(days),
                    noncurrent_version_expiration=Duration.days(1),
                )
                for prefix, days in sorted((expirations or {}).items())
            ],
            removal_policy=removal_policy(retain),
        )
        acknowledge(
            self.bucket,
            "NIST.800.53.R5-S3BucketReplicationEnabled",
            "Single-region project: versioning, KMS and the retain policy in prod protect the data; "
            "cross-region replication is a per-account decision outside this stack.",
        )
