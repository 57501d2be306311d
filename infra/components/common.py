"""Small helpers shared by the constructs: log retention, removal policy, KMS-encrypted log groups,
least-privilege grants and the SageMaker model execution role."""

from __future__ import annotations

import re

from aws_cdk import ArnFormat, CfnResource, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct, IConstruct

from infra import nag
from infra.allowed_values import LOG_RETENTION_DAYS
from infra.nag import allow_wildcards

_RETENTION = dict(zip(LOG_RETENTION_DAYS, [m for m in logs.RetentionDays if m.name != "INFINITE"], strict=True))


def retention(days: int) -> logs.RetentionDays:
    return _RETENTION[days]


def removal_policy(retain: bool) -> RemovalPolicy:
    return RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY


def encrypted_log_group(
    scope: Construct, construct_id: str, *, key: kms.IKey, retention_days: int, retain: bool, name: str | None = None
) -> logs.LogGroup:
    """A log group encrypted with the project key, with a finite retention."""
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=name,
        encryption_key=key,
        retention=retention(retention_days),
        removal_policy=removal_policy(retain),
    )


# IAM5 finding text of the account's ENIs, subnets and security groups (see sagemaker_vpc_access).
VPC_ACCESS_WILDCARD = (
    r"Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:"
    r"(network-interface|subnet|security-group)/\*"
)


# The Describe actions "Give SageMaker hosted endpoints access to resources in your Amazon VPC" lists for
# a model's execution role (https://docs.aws.amazon.com/sagemaker/latest/dg/host-vpc.html, "Add
# Permissions for Endpoint Access for Containers Running in a VPC to Custom IAM Policies"), beside the
# four mutating ENI actions; training jobs' page lists no DescribeVpcEndpoints. Project-ModelVpcPermissions.
VPC_DESCRIBE_ACTIONS = (
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
)
HOSTING_DESCRIBE_ACTIONS = ("ec2:DescribeVpcEndpoints",)


def sagemaker_vpc_access(role: iam.IRole, *, hosting: bool = False) -> None:
    """What SageMaker needs to attach a job's or a model's ENIs to the VPC: the mutating actions on this
    account's ENIs, subnets and security groups; the Describe actions allow no resource scoping.
    `hosting`: a model's role, which also describes the VPC endpoints (host-vpc.html)."""
    stack = Stack.of(role)
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=[
                "ec2:CreateNetworkInterface",
                "ec2:CreateNetworkInterfacePermission",
                "ec2:DeleteNetworkInterface",
                "ec2:DeleteNetworkInterfacePermission",
            ],
            resources=[
                stack.format_arn(service="ec2", resource=kind, resource_name="*")
                for kind in ("network-interface", "subnet", "security-group")
            ],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=list(VPC_DESCRIBE_ACTIONS + (HOSTING_DESCRIBE_ACTIONS if hosting else ())), resources=["*"]
        )
    )


def acknowledge(scope: Construct, rule_id: str, reason: str) -> None:
    """Acknowledge a cdk-nag finding on `scope` (and its children) with the reason it is acceptable;
    synth fails if the rule does not fire there (see infra.nag.acknowledge)."""
    nag.acknowledge(scope, rule_id, reason)


def grant_prefix(role: iam.IRole, bucket: s3.IBucket, prefix: str, *, write: bool = False) -> None:
    """Explicit least-privilege S3 access to the objects under `prefix/` of `bucket` (and its key)."""
    actions = ["s3:GetObject"] + (["s3:PutObject", "s3:AbortMultipartUpload"] if write else [])
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=actions, resources=[bucket.arn_for_objects(f"{prefix}/*")])
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}/*"]}},
        )
    )
    if bucket.encryption_key is not None:
        grant_key(role, bucket.encryption_key, encrypt=write)


def grant_key(role: iam.IRole, key: kms.IKey, *, encrypt: bool = True, create_grant: bool = False) -> None:
    """Use of the project key without wildcard actions."""
    actions = ["kms:Decrypt", "kms:DescribeKey"]
    if encrypt:
        actions += ["kms:Encrypt", "kms:GenerateDataKey"]
    if create_grant:
        actions += ["kms:CreateGrant"]
    key.grant(role, *actions)


def acknowledge_inline_policies(role: iam.Role) -> None:
    acknowledge(
        role,
        "NIST.800.53.R5-IAMNoInlinePolicy",
        f"{role.node.path}: the inline policy belongs to this one role and is generated from its "
        "grants, scoped to the project's buckets, key and log groups; a managed policy would only "
        "make it attachable elsewhere.",
    )


def depend_on_policy_only(resource: CfnResource, role: iam.Role) -> None:
    """The CDK makes a resource that uses `role` depend on the role and its default policy; the role
    part repeats what the GetAtt on it already enforces (cfn-lint W3005). Keep only the policy."""
    policy = role.node.find_child("DefaultPolicy").node.default_child
    resource.add_override("DependsOn", [Stack.of(role).get_logical_id(policy)])


def sagemaker_logs_and_metrics(role: iam.IRole, *, log_group: str, metric_namespace: str) -> str:
    """Let a SageMaker job or model write its own log streams and metrics; returns the IAM5 finding
    pattern of the log-group wildcard, for `allow_wildcards`."""
    stack = Stack.of(role)
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            resources=[
                stack.format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=f"{log_group}:*",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringLike": {"cloudwatch:namespace": metric_namespace}},
        )
    )
    return (
        r"Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
        rf"{re.escape(log_group)}:\*"
    )


def workload_security_group(
    scope: Construct, construct_id: str, *, vpc: ec2.IVpc, s3_prefix_list_id: str, description: str
) -> ec2.SecurityGroup:
    """A security group for a VPC-attached SageMaker job or model, or a Lambda: no ingress, and only
    HTTPS out to S3's addresses (the managed prefix list), which is what the gateway endpoint routes.
    https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-s3.html ("Security groups")"""
    group = ec2.SecurityGroup(scope, construct_id, vpc=vpc, allow_all_outbound=False, description=description)
    # Inline, not `add_egress_rule(Peer.prefix_list(...))`: the CDK makes that a separate
    # AWS::EC2::SecurityGroupEgress and leaves the group without inline egress, and CloudFormation then
    # keeps the default allow-all egress rule.
    # https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ec2-securitygroup.html
    group.node.default_child.security_group_egress = [
        ec2.CfnSecurityGroup.EgressProperty(
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            destination_prefix_list_id=s3_prefix_list_id,
            description="HTTPS to S3 through the gateway endpoint",
        )
    ]
    return group


def checkov_skip(resource: IConstruct, reasons: dict[str, str]) -> None:
    """Skip checkov checks on this one resource, each with its reason (checkov reads
    `Metadata.checkov.skip` of a CloudFormation resource; a global skip would hide other resources).
    https://www.checkov.io/2.Basics/Suppressing%20and%20Skipping%20Policies.html"""
    cfn = resource if isinstance(resource, CfnResource) else resource.node.default_child
    cfn.add_metadata("checkov", {"skip": [{"id": check, "comment": why} for check, why in sorted(reasons.items())]})


def sagemaker_model_role(
    scope: Construct,
    construct_id: str,
    *,
    description: str,
    image: ecr_assets.DockerImageAsset,
    model_data_bucket: s3.IBucket,
    model_data_prefix: str,
    key: kms.IKey,
    log_group: str,
) -> iam.Role:
    """The execution role of a SageMaker model (real-time endpoint): trusted by SageMaker; reads the
    objects under `model_data_prefix/` of `model_data_bucket`; uses the project key (CreateGrant:
    SageMaker encrypts the instance storage with it); pulls `image`; writes the log streams of
    `log_group` (a name, or a name pattern ending in `*`) and the endpoint metrics; attaches its ENIs to
    the VPC. The IAM5 wildcards this implies are accepted on the role, and nothing else."""
    role = iam.Role(
        scope, construct_id, assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"), description=description
    )
    grant_prefix(role, model_data_bucket, model_data_prefix)
    grant_key(role, key, create_grant=True)  # CreateGrant: SageMaker encrypts instance storage with it
    image.repository.grant_pull(role)
    log_pattern = sagemaker_logs_and_metrics(role, log_group=log_group, metric_namespace="/aws/sagemaker/Endpoints*")
    sagemaker_vpc_access(role, hosting=True)
    acknowledge_inline_policies(role)
    allow_wildcards(
        role,
        f"Model execution role: objects under the model's artifact prefix {model_data_prefix}/; the log "
        f"streams of {log_group}; Resource * only for ecr:GetAuthorizationToken, cloudwatch:PutMetricData "
        "(namespace condition) and the EC2 network-interface actions of VpcConfig, which allow no "
        "resource-level scoping.",
        rf"Resource::.*/{re.escape(model_data_prefix)}/\*",
        log_pattern,
        VPC_ACCESS_WILDCARD,
        r"Resource::\*",
    )
    return role
