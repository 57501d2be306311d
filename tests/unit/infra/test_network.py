"""The isolated VPC: no internet path, flow logs, the default security group closed, an S3 gateway
endpoint limited to the project's buckets, no interface endpoint without a caller, and the S3 prefix list
read at deploy time."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from infra.components.network import INTERFACE_ENDPOINTS

from .conftest import bare_stack, project_network

BUCKETS = ["proj-dev-data-1", "proj-dev-artifacts-1"]


@pytest.fixture(scope="module")
def template() -> Template:
    stack = bare_stack()
    project_network(stack, "10.9.0.0/16", BUCKETS)
    return Template.from_stack(stack)


def test_two_isolated_subnets_and_no_way_out(template):
    template.has_resource_properties("AWS::EC2::VPC", {"CidrBlock": "10.9.0.0/16"})
    template.resource_count_is("AWS::EC2::Subnet", 2)
    template.all_resources_properties("AWS::EC2::Subnet", {"MapPublicIpOnLaunch": False})
    for kind in ("AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::EIP"):
        template.resource_count_is(kind, 0)


def test_flow_logs_of_all_traffic_to_an_encrypted_log_group(template):
    template.has_resource_properties(
        "AWS::EC2::FlowLog", {"TrafficType": "ALL", "ResourceType": "VPC", "LogDestinationType": "cloud-watch-logs"}
    )
    template.has_resource_properties("AWS::Logs::LogGroup", {"KmsKeyId": Match.any_value(), "RetentionInDays": 30})


def test_default_security_group_is_closed(template):
    template.resource_count_is("Custom::VpcRestrictDefaultSG", 1)


def test_s3_gateway_limited_to_the_project_buckets_and_ecr_layers(template):
    gateways = template.find_resources("AWS::EC2::VPCEndpoint", {"Properties": {"VpcEndpointType": "Gateway"}})
    (gateway,) = gateways.values()
    statements = gateway["Properties"]["PolicyDocument"]["Statement"]
    text = json.dumps(statements)
    assert all(name in text for name in BUCKETS) and "starport-layer-bucket/*" in text
    assert not any(s.get("Resource") == "*" for s in statements)


def test_no_interface_endpoint_without_a_caller(template):
    interfaces = template.find_resources("AWS::EC2::VPCEndpoint", {"Properties": {"VpcEndpointType": "Interface"}})
    assert len(interfaces) == len(INTERFACE_ENDPOINTS) == 0


def test_s3_prefix_list_is_read_by_name_at_deploy_time(template):
    (lookup,) = template.find_resources("Custom::AWS").values()
    create = json.dumps(lookup["Properties"]["Create"])
    assert "describeManagedPrefixLists" in create and "prefix-list-name" in create and ".s3" in create
