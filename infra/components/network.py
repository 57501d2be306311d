"""An isolated VPC: no internet path; AWS APIs through VPC endpoints."""
from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.components.common import acknowledge, acknowledge_inline_policies, encrypted_log_group

# Interface endpoints SageMaker training/hosting and the pipeline need when nothing reaches the internet.
INTERFACE_ENDPOINTS = {
    "SageMakerApi": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_API,
    "SageMakerRuntime": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME,
    "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    "CloudWatchLogs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    "CloudWatchMonitoring": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
    "Kms": ec2.InterfaceVpcEndpointAwsService.KMS,
}


class IsolatedNetwork(Construct):
    """VPC with private isolated subnets in two AZs, flow logs, an S3 gateway endpoint and interface
    endpoints for SageMaker, ECR, CloudWatch, STS and KMS."""

    def __init__(self, scope: Construct, construct_id: str, *, cidr: str, flow_log_key: kms.IKey,
                 flow_log_retention_days: int, retain: bool) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self, "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(cidr),
            availability_zones=None, max_azs=2, nat_gateways=0,
            subnet_configuration=[ec2.SubnetConfiguration(
                name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=22)],
            restrict_default_security_group=False,
        )
        acknowledge(self.vpc, "NIST.800.53.R5-VPCDefaultSecurityGroupClosed",
            "The default security group is never attached: every ENI in this VPC (endpoints, "
                   "training jobs, endpoints, the evaluation Lambda) uses its own security group. "
                   "Closing it would need a custom-resource Lambda outside the VPC.")
        self.subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        flow_logs = encrypted_log_group(self, "FlowLogs", key=flow_log_key,
                                        retention_days=flow_log_retention_days, retain=retain)
        flow_log = self.vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                              traffic_type=ec2.FlowLogTrafficType.ALL)
        acknowledge_inline_policies(flow_log.iam_role)
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3,
                                      subnets=[self.subnets])
        self.endpoint_security_group = ec2.SecurityGroup(
            self, "EndpointSecurityGroup", vpc=self.vpc, allow_all_outbound=False,
            description="HTTPS from inside the VPC to the interface endpoints")
        self.endpoint_security_group.add_ingress_rule(
            ec2.Peer.ipv4(cidr), ec2.Port.tcp(443), "HTTPS from the VPC")
        for name, service in INTERFACE_ENDPOINTS.items():
            self.vpc.add_interface_endpoint(name, service=service, subnets=self.subnets, private_dns_enabled=True,
                                            open=False, security_groups=[self.endpoint_security_group])

