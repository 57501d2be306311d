"""Across every synthesized stack: no `*` resource where a scope exists, no wildcard actions."""

from __future__ import annotations

import pytest

from .conftest import STACKS, as_list, policy_statements, resources

# Actions that accept no resource-level scoping (IAM service authorization reference).
UNSCOPABLE = {
    "ecr:GetAuthorizationToken",
    "cloudwatch:PutMetricData",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcEndpoints",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "ec2:DescribeManagedPrefixLists",
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html
    # (ListModelPackages: no resource type); the CI deploy role finds what an endpoint serves with it.
    "sagemaker:ListModelPackages",
}


# Actions AWS's own published policy grants on `*`, which the project copies as published:
# sagemaker:ListTags in "IAM policies for Amazon SageMaker" (Step Functions guide, Run a Job (.sync)),
# https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html (Project-SyncTrainingPermissions).
PUBLISHED_ON_STAR = {"sagemaker:ListTags"}


@pytest.mark.parametrize("stack", STACKS)
def test_star_resources_only_for_unscopable_actions(synthesized, stack):
    for logical_id, statement in policy_statements(synthesized.json(stack)):
        if "*" in as_list(statement["Resource"]):
            assert set(as_list(statement["Action"])) <= UNSCOPABLE | PUBLISHED_ON_STAR, (logical_id, statement)


@pytest.mark.parametrize("stack", STACKS)
def test_no_wildcard_actions(synthesized, stack):
    for logical_id, statement in policy_statements(synthesized.json(stack)):
        for action in as_list(statement["Action"]):
            assert "*" not in action, (logical_id, action)


@pytest.mark.parametrize("stack", [s for s in STACKS if "training" in s or "serving" in s])
def test_s3_access_is_to_the_projects_buckets_only(synthesized, stack):
    env = stack.split("-")[1]
    for logical_id, statement in policy_statements(synthesized.json(stack)):
        if statement.get("Sid") == "PromotedModelArtifact":  # prod reads dev's artifact: test_ci_access.py
            continue
        if any(a.startswith("s3:") for a in as_list(statement["Action"])):
            for resource in as_list(statement["Resource"]):
                parts = resource["Fn::Join"][1]
                assert parts[0] == "arn:" and f":s3:::elasticml-{env}-" in parts[2], (logical_id, resource)


@pytest.mark.parametrize("stack", [s for s in STACKS if "storage" not in s])
def test_every_log_group_is_encrypted_with_a_finite_retention(synthesized, stack):
    for logical_id, group in resources(synthesized.json(stack), "AWS::Logs::LogGroup").items():
        assert "KmsKeyId" in group["Properties"] and group["Properties"]["RetentionInDays"] > 0, logical_id
