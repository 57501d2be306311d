"""The checks: the project's own rules catch violations, and the adopted packs find nothing unacknowledged."""

from __future__ import annotations

import pytest
from aws_cdk import Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_stepfunctions as sfn
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks

from infra import rules
from infra.nag import acknowledge_allowed_wildcards, allow_wildcards
from infra.rules import SYNC_TRAINING_ACTIONS, ProjectChecks

from .conftest import bare_stack, endpoint_config, scale_variant

VPC = sagemaker.CfnModel.VpcConfigProperty(security_group_ids=["sg-1"], subnets=["subnet-1", "subnet-2"])


def violations(scope, pack=None) -> dict[str, list[str]]:
    report = (pack or ProjectChecks()).validate_scope(scope)
    return {v.rule_name: [r.construct_path for r in v.violating_resources] for v in report.violations}


def endpoint(stack, *, kms_key_id="arn:aws:kms:eu-west-1:123456789012:key/k", capture_key="k", scaled=True, name="ep"):
    config = endpoint_config(
        stack,
        kms_key_id=kms_key_id,
        data_capture_config=sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
            initial_sampling_percentage=10,
            destination_s3_uri="s3://b/c",
            kms_key_id=capture_key,
            capture_options=[sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input")],
        ),
    )
    sagemaker.CfnEndpoint(
        stack,
        "Endpoint",
        endpoint_name=name,
        endpoint_config_name=config.attr_endpoint_config_name,
        retain_all_variant_properties=True,
    )
    if scaled:
        scale_variant(stack, name)


def test_compliant_endpoint_and_model_pass():
    stack = bare_stack()
    endpoint(stack)
    sagemaker.CfnModel(
        stack,
        "Model",
        execution_role_arn="arn:aws:iam::123456789012:role/r",
        enable_network_isolation=True,
        vpc_config=VPC,
    )
    assert violations(stack) == {}


@pytest.mark.parametrize("kwargs", [{"kms_key_id": None}, {"capture_key": None}])
def test_endpoint_config_without_kms_is_caught(kwargs):
    stack = bare_stack()
    endpoint(stack, **kwargs)
    assert violations(stack) == {"Project-EndpointConfigKms": ["Bare/Config"]}


@pytest.mark.parametrize(
    "kwargs", [{"enable_network_isolation": False, "vpc_config": VPC}, {"enable_network_isolation": True}]
)
def test_model_without_isolation_or_vpc_is_caught(kwargs):
    stack = bare_stack()
    sagemaker.CfnModel(stack, "Model", execution_role_arn="arn:aws:iam::123456789012:role/r", **kwargs)
    assert violations(stack) == {"Project-ModelNetworkIsolation": ["Bare/Model"]}


def test_endpoint_without_autoscaling_is_caught():
    stack = bare_stack()
    endpoint(stack, scaled=False)
    assert violations(stack) == {"Project-EndpointAutoscaling": ["Bare/Endpoint"]}


def test_training_job_outside_the_vpc_is_caught():
    stack = bare_stack()
    parameters = {
        "TrainingJobName": "j",
        "EnableNetworkIsolation": True,
        "EnableInterContainerTrafficEncryption": True,
        "OutputDataConfig": {"S3OutputPath": "s3://b/o", "KmsKeyId": "k"},
        "ResourceConfig": {
            "InstanceType": "ml.m5.large",
            "InstanceCount": 1,
            "VolumeSizeInGB": 1,
            "VolumeKmsKeyId": "k",
        },
    }
    good = sfn.CustomState(
        stack,
        "Good",
        state_json={
            "Type": "Task",
            "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
            "Parameters": {**parameters, "VpcConfig": {"Subnets": ["s"], "SecurityGroupIds": ["g"]}},
        },
    )
    isolated = sfn.StateMachine(stack, "Isolated", definition_body=sfn.DefinitionBody.from_chainable(good))
    isolated.add_to_role_policy(iam.PolicyStatement(actions=list(SYNC_TRAINING_ACTIONS), resources=["*"]))
    assert violations(stack) == {}
    bad = sfn.CustomState(
        stack,
        "Bad",
        state_json={
            "Type": "Task",
            "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
            "Parameters": parameters,
        },
    )
    open_machine = sfn.StateMachine(stack, "Open", definition_body=sfn.DefinitionBody.from_chainable(bad))
    open_machine.add_to_role_policy(iam.PolicyStatement(actions=list(SYNC_TRAINING_ACTIONS), resources=["*"]))
    assert violations(stack) == {"Project-TrainingJobIsolated": ["Bare/Open/Resource"]}


def role_with_wildcard(stack):
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::bucket/models/*"]))
    return role


def iam5(scope) -> list[str]:
    return [rule for rule in violations(scope, AwsSolutionsChecks()) if rule.startswith("AwsSolutions-IAM5")]


def test_declared_wildcards_are_acknowledged_and_others_are_not():
    stack = bare_stack()
    role = role_with_wildcard(stack)
    assert iam5(stack) == ["AwsSolutions-IAM5[Resource::arn:aws:s3:::bucket/models/*]"]
    allow_wildcards(role, "reads only the models prefix", r"Resource::arn:aws:s3:::bucket/other/\*")
    assert acknowledge_allowed_wildcards(stack.node.scope) == 0
    assert iam5(stack) == ["AwsSolutions-IAM5[Resource::arn:aws:s3:::bucket/models/*]"]
    allow_wildcards(role, "reads only the models prefix", r"Resource::arn:aws:s3:::bucket/models/\*")
    assert acknowledge_allowed_wildcards(stack.node.scope) == 1
    assert iam5(stack) == []


@pytest.mark.parametrize("pack", [AwsSolutionsChecks, NIST80053R5Checks, ProjectChecks])
def test_the_synthesized_app_has_no_unacknowledged_findings(synthesized, pack):
    app = next(iter(synthesized.stacks.values())).node.scope
    assert violations(app, pack()) == {}


def test_every_acknowledgment_gives_a_specific_reason(synthesized):
    app = next(iter(synthesized.stacks.values())).node.scope
    acknowledged = {}
    for construct in app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for rule, reason in entry.data.items():
                    if rule.removeprefix("Annotation::").startswith(("AwsSolutions-", "NIST.", "Project-")):
                        acknowledged[(construct.node.path, rule)] = reason
    assert len(acknowledged) > 20
    for (path, rule), reason in acknowledged.items():
        text = reason if isinstance(reason, str) else str(reason)
        assert len(text) >= 40, (path, rule, text)
    rules = {rule.removeprefix("Annotation::").split("[")[0] for _, rule in acknowledged}
    assert rules <= {
        "AwsSolutions-IAM4",
        "AwsSolutions-IAM5",
        "NIST.800.53.R5-IAMNoInlinePolicy",
        "NIST.800.53.R5-LambdaDLQ",
        "NIST.800.53.R5-LambdaInsideVPC",
        "NIST.800.53.R5-LambdaConcurrency",
        "NIST.800.53.R5-S3DefaultEncryptionKMS",
        "NIST.800.53.R5-S3BucketReplicationEnabled",
    }, rules


def test_only_findings_reach_cdk_nag_and_a_rule_that_raises_is_one(monkeypatch):
    """`ProjectChecks` hands cdk-nag only the rules that find something; a rule that raises is still
    reported as cdk-nag reports it, and a rule that passes or does not apply leaves no trace."""

    def raises(node):
        if isinstance(node, sagemaker.CfnEndpointConfig):
            raise ValueError("unreadable property")
        return rules.NOT_APPLICABLE

    monkeypatch.setattr(
        rules,
        "RULES",
        {
            "Raises": (raises, "info", "explanation"),
            "Passes": (lambda node: rules.COMPLIANT, "info", "explanation"),
            "Finds": (lambda node: ["one", "two"], "info", "explanation"),
        },
    )
    stack = bare_stack()
    endpoint_config(stack)
    report = ProjectChecks().validate_scope(stack)
    by_rule = {v.rule_name: v for v in report.violations}
    assert set(by_rule) == {"Project-Raises", "Project-Finds[one]", "Project-Finds[two]"}
    assert "Rule threw an error" in by_rule["Project-Raises"].description
    assert [r.construct_path for r in by_rule["Project-Raises"].violating_resources] == ["Bare/Config"]
