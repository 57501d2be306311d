"""An isolated VPC: no internet path; S3 through a gateway endpoint whose policy names the project's
buckets; the S3 managed prefix list for security groups, read at deploy time."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import CfnResource, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra.components.common import (
    acknowledge,
    acknowledge_inline_policies,
    checkov_skip,
    encrypted_log_group,
)
from infra.nag import allow_wildcards

# Interface endpoints, each with what in the VPC calls it. None is needed today: training jobs and
# models (and the drift monitor's processing jobs, whose metrics the state machine publishes) run with
# network isolation (their containers call nothing; SageMaker itself fetches the image,
# in the default "Platform" repository access mode, and ships logs and metrics), and the evaluation
# Lambda calls only S3 (gateway endpoint) while Lambda itself delivers its logs and traces. Add an entry
# here, naming its caller, when something in the VPC starts calling an AWS API.
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TrainingImageConfig.html (Platform mode)
INTERFACE_ENDPOINTS: dict[str, tuple[ec2.InterfaceVpcEndpointAwsService, str]] = {}


class IsolatedNetwork(Construct):
    """VPC with private isolated subnets in two AZs, flow logs, the default security group closed and
    an S3 gateway endpoint limited to `bucket_names` and ECR's layer bucket."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cidr: str,
        flow_log_key: kms.IKey,
        flow_log_retention_days: int,
        retain: bool,
        bucket_names: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(cidr),
            availability_zones=None,
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=22)
            ],
            # Removes every rule of the default security group (a CDK custom resource, run at deploy).
            restrict_default_security_group=True,
        )
        self._acknowledge_restrict_default_sg(stack)
        self.subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        flow_logs = encrypted_log_group(
            self, "FlowLogs", key=flow_log_key, retention_days=flow_log_retention_days, retain=retain
        )
        flow_log = self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )
        # "IAM role for publishing flow logs to CloudWatch Logs" (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html)
        # lists at least logs:CreateLogGroup, CreateLogStream, PutLogEvents, DescribeLogGroups and
        # DescribeLogStreams; the CDK grants three of them. The other two, on this one log group
        # (Project-FlowLogRolePermissions).
        flow_log.iam_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:DescribeLogGroups"], resources=[flow_logs.log_group_arn]
            )
        )
        acknowledge_inline_policies(flow_log.iam_role)
        self.s3_endpoint = self.vpc.add_gateway_endpoint(
            "S3", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[self.subnets]
        )
        self._limit_s3_endpoint(stack, bucket_names)
        for name, (service, _caller) in INTERFACE_ENDPOINTS.items():
            self.vpc.add_interface_endpoint(name, service=service, subnets=self.subnets, private_dns_enabled=True)
        self.s3_prefix_list_id = self._s3_prefix_list(stack, flow_log_key, flow_log_retention_days, retain)

    def _limit_s3_endpoint(self, stack: Stack, bucket_names: Sequence[str]) -> None:
        """Only the project's buckets, and the bucket ECR serves image layers from, through this VPC.
        https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-s3.html (endpoint policies),
        https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html ("Minimum Amazon S3
        bucket permissions for Amazon ECR": arn:aws:s3:::prod-REGION-starport-layer-bucket/*)."""
        arns = [f"arn:{stack.partition}:s3:::{name}" for name in bucket_names]
        self.s3_endpoint.add_to_policy(
            iam.PolicyStatement(
                sid="ProjectBuckets",
                principals=[iam.AnyPrincipal()],
                actions=[
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListBucket",
                    "s3:GetBucketLocation",
                ],
                resources=arns + [f"{arn}/*" for arn in arns],
            )
        )
        self.s3_endpoint.add_to_policy(
            iam.PolicyStatement(
                sid="EcrImageLayers",
                principals=[iam.AnyPrincipal()],
                actions=["s3:GetObject"],
                resources=[f"arn:{stack.partition}:s3:::prod-{stack.region}-starport-layer-bucket/*"],
            )
        )

    def _s3_prefix_list(self, stack: Stack, key: kms.IKey, retention_days: int, retain: bool) -> str:
        """The ID of the AWS-managed prefix list `com.amazonaws.<region>.s3`, which security groups need
        to allow HTTPS to S3 through the gateway endpoint.

        Read at deploy time by a custom resource (ec2:DescribeManagedPrefixLists by name): synth stays
        free of credentials and lookups, and the ID is right in every region and partition. The
        alternatives fail: `Fn::GetAtt` of AWS::EC2::VPCEndpoint returns CreationTimestamp, DnsEntries,
        Id and NetworkInterfaceIds, never the prefix list
        (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ec2-vpcendpoint.html);
        `ec2.PrefixList.from_lookup` is a synth-time lookup; and AWS publishes no table of the IDs, which
        differ per region (https://docs.aws.amazon.com/vpc/latest/userguide/working-with-aws-managed-prefix-lists.html).
        """
        call = cr.AwsSdkCall(
            service="EC2",
            action="describeManagedPrefixLists",
            parameters={"Filters": [{"Name": "prefix-list-name", "Values": [f"com.amazonaws.{stack.region}.s3"]}]},
            physical_resource_id=cr.PhysicalResourceId.of("s3-managed-prefix-list"),
            output_paths=["PrefixLists.0.PrefixListId"],
        )
        logs = encrypted_log_group(self, "PrefixListLookupLogs", key=key, retention_days=retention_days, retain=retain)
        lookup = cr.AwsCustomResource(
            self,
            "S3PrefixList",
            on_create=call,
            on_update=call,
            install_latest_aws_sdk=False,
            log_group=logs,
            timeout=Duration.minutes(2),
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["ec2:DescribeManagedPrefixLists"], resources=["*"])]
            ),
        )
        allow_wildcards(lookup, "ec2:DescribeManagedPrefixLists allows no resource-level scoping.", r"Resource::\*")
        acknowledge(
            lookup,
            "NIST.800.53.R5-IAMNoInlinePolicy",
            "The CDK attaches this one read-only statement (ec2:DescribeManagedPrefixLists) to the "
            "custom resource's handler role; a managed policy would only make it attachable elsewhere.",
        )
        self._acknowledge_provider(
            stack,
            "AWS679f53fac002430cb0da5b7982bd2287",
            "Reads the S3 managed prefix list ID once per deploy",
            (
                "NIST.800.53.R5-LambdaInsideVPC",
                "NIST.800.53.R5-LambdaDLQ",
                "NIST.800.53.R5-LambdaConcurrency",
                "AwsSolutions-IAM4",
            ),
        )
        return lookup.get_response_field("PrefixLists.0.PrefixListId")

    def _acknowledge_restrict_default_sg(self, stack: Stack) -> None:
        # A CfnResource-based provider: the packs do not inspect it, checkov does.
        self._acknowledge_provider(
            stack,
            "Custom::VpcRestrictDefaultSGCustomResourceProvider",
            "Removes the rules of the VPC's default security group once per deploy",
            (),
        )

    def _acknowledge_provider(self, stack: Stack, child_id: str, purpose: str, rules: tuple[str, ...]) -> None:
        """The CDK's own custom-resource Lambdas: outside the VPC (they call EC2 APIs, and this VPC has
        no path to them), invoked synchronously by CloudFormation, once per deploy."""
        provider = stack.node.try_find_child(child_id)
        if provider is None:
            return
        reason = f"{purpose}: a CDK-provided custom-resource handler invoked by CloudFormation"
        for rule, why in {
            "NIST.800.53.R5-LambdaInsideVPC": "it calls EC2 APIs the isolated VPC has no endpoint for.",
            "NIST.800.53.R5-LambdaDLQ": "CloudFormation invokes it synchronously and reports a failure itself.",
            "NIST.800.53.R5-LambdaConcurrency": "it runs once per deploy.",
            "AwsSolutions-IAM4": "AWSLambdaBasicExecutionRole lets the handler write its own logs.",
        }.items():
            if rule in rules:
                acknowledge(provider, rule, f"{reason}; {why}")
        functions = [
            c
            for c in provider.node.find_all()
            if isinstance(c, CfnResource) and c.cfn_resource_type == "AWS::Lambda::Function"
        ]
        for function in functions:
            # DependsOn its role repeats what the GetAtt on the role enforces (cfn-lint W3005)
            function.add_deletion_override("DependsOn")
            checkov_skip(
                function,
                {
                    "CKV_AWS_115": "A CDK custom-resource handler run once per deploy; no concurrency to reserve.",
                    "CKV_AWS_116": "Invoked synchronously by CloudFormation; a DLQ applies to asynchronous calls only.",
                    "CKV_AWS_117": "Calls EC2 APIs that the isolated VPC has no endpoint for.",
                    "CKV_AWS_173": "The CDK handler has no secrets in its environment.",
                },
            )
