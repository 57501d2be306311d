"""The isolated VPC: no internet path, flow logs, endpoints for every AWS API the workloads call."""
from __future__ import annotations

import pytest
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Match, Template

from infra.components.network import INTERFACE_ENDPOINTS, IsolatedNetwork

from .conftest import bare_stack


@pytest.fixture(scope="module")
def template() -> Template:
    stack = bare_stack()
    IsolatedNetwork(stack, "Network", cidr="10.9.0.0/16", flow_log_key=kms.Key(stack, "Key"),
                    flow_log_retention_days=30, retain=False)
    return Template.from_stack(stack)


def test_two_isolated_subnets_and_no_way_out(template):
    template.has_resource_properties("AWS::EC2::VPC", {"CidrBlock": "10.9.0.0/16"})
    template.resource_count_is("AWS::EC2::Subnet", 2)
    template.all_resources_properties("AWS::EC2::Subnet", {"MapPublicIpOnLaunch": False})
    for kind in ("AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::EIP"):
        template.resource_count_is(kind, 0)


def test_flow_logs_of_all_traffic_to_an_encrypted_log_group(template):
    template.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "ALL", "ResourceType": "VPC",
                                                            "LogDestinationType": "cloud-watch-logs"})
    template.has_resource_properties("AWS::Logs::LogGroup", {"KmsKeyId": Match.any_value(), "RetentionInDays": 30})


def test_s3_gateway_and_interface_endpoints(template):
    template.has_resource_properties("AWS::EC2::VPCEndpoint", {
        "VpcEndpointType": "Gateway",
        "ServiceName": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".s3"]]}})
    interfaces = template.find_resources("AWS::EC2::VPCEndpoint", {"Properties": {"VpcEndpointType": "Interface"}})
    assert len(interfaces) == len(INTERFACE_ENDPOINTS) == 8
    names = {str(r["Properties"]["ServiceName"]) for r in interfaces.values()}
    for service in ("sagemaker.api", "sagemaker.runtime", "ecr.api", "ecr.dkr", ".logs", ".monitoring", ".sts",
                    ".kms"):
        assert any(service in name for name in names), service
    assert all(r["Properties"]["PrivateDnsEnabled"] for r in interfaces.values())


def test_endpoints_accept_only_https_from_the_vpc(template):
    template.has_resource_properties("AWS::EC2::SecurityGroup", {
        "GroupDescription": "HTTPS from inside the VPC to the interface endpoints",
        "SecurityGroupIngress": [{"CidrIp": "10.9.0.0/16", "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                                  "Description": "HTTPS from the VPC"}]})
