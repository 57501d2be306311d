"""The project's rules for what would fail at deploy or at the first job: each builds the faulty
construct in a bare stack and sees synth fail naming the rule, and the fixed construct pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_stepfunctions as sfn

from infra.components.common import acknowledge, workload_security_group
from infra.components.training_job import allow_between_hosts
from infra.instance_storage import has_instance_storage
from infra.nag import StaleAcknowledgement, add_checks
from infra.rules import SYNC_TRAINING_ACTIONS, ProjectChecks

from .conftest import bare_stack, endpoint_config, inline_function, isolated_vpc


def synth_fails_naming(stack) -> set[str]:
    """Synthesize the stack's app with the project pack; return the rules the failed synth names."""
    app = stack.node.scope
    Validations.of(app).add_plugins(ProjectChecks(app))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((Path(app.outdir) / "validation-report.json").read_text())
    return {v["ruleName"] for r in report["pluginReports"] for v in r["violations"]}


def findings(stack) -> set[str]:
    return {v.rule_name for v in ProjectChecks().validate_scope(stack).violations}


def fails_on(stack, rule: str) -> None:
    """The project pack finds `rule` alone in the stack, and synth fails naming it."""
    assert findings(stack) == {rule}
    assert rule in synth_fails_naming(stack)


def network(stack):
    vpc = isolated_vpc(stack)
    return vpc, vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED).subnet_ids


def vpc_only_group(stack, vpc, name="VpcOnly"):
    """HTTPS to the VPC CIDR only: what the training and model security groups used to allow."""
    group = ec2.SecurityGroup(stack, name, vpc=vpc, allow_all_outbound=False)
    group.add_egress_rule(ec2.Peer.ipv4(vpc.vpc_cidr_block), ec2.Port.tcp(443))
    return group


def workload_group(stack, vpc, name="Workload"):
    return workload_security_group(stack, name, vpc=vpc, s3_prefix_list_id="pl-1234", description="d")


def workload_stack():
    """A bare stack with a network and the project's workload security group in it."""
    stack = bare_stack()
    vpc, _ = network(stack)
    return stack, vpc, workload_group(stack, vpc)


def vpc_function(stack, vpc, role):
    return inline_function(
        stack,
        role=role,
        vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
    )


def isolated_model(stack, group, subnets):
    return sagemaker.CfnModel(
        stack,
        "Model",
        execution_role_arn="arn:aws:iam::111111111111:role/r",
        enable_network_isolation=True,
        vpc_config=sagemaker.CfnModel.VpcConfigProperty(security_group_ids=[group.security_group_id], subnets=subnets),
    )


def training_state(stack, group, *, instance_type="ml.c5.xlarge", count=1, volume_key=True, name="Train"):
    resources = {
        "InstanceType": instance_type,
        "InstanceCount": count,
        "VolumeSizeInGB": 30,
        **({"VolumeKmsKeyId": "arn:aws:kms:eu-west-1:111111111111:key/k"} if volume_key else {}),
    }
    state = sfn.CustomState(
        stack,
        name,
        state_json={
            "Type": "Task",
            "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
            "Parameters": {
                "TrainingJobName": "j",
                "EnableNetworkIsolation": True,
                "EnableInterContainerTrafficEncryption": True,
                "OutputDataConfig": {"S3OutputPath": "s3://b/o", "KmsKeyId": "k"},
                "ResourceConfig": resources,
                "VpcConfig": {"Subnets": ["subnet-1"], "SecurityGroupIds": [group.security_group_id]},
            },
        },
    )
    machine = sfn.StateMachine(stack, f"{name}Machine", definition_body=sfn.DefinitionBody.from_chainable(state))
    machine.add_to_role_policy(iam.PolicyStatement(actions=list(SYNC_TRAINING_ACTIONS), resources=["*"]))
    return machine


def test_vpc_lambda_with_a_role_of_its_own_without_eni_permissions_fails_synth():
    stack = bare_stack()
    vpc, _ = network(stack)
    vpc_function(stack, vpc, iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com")))
    assert "Project-LambdaVpcEniPermissions" in synth_fails_naming(stack)


@pytest.mark.parametrize("grant", ["managed", "inline"])
def test_vpc_lambda_with_eni_permissions_passes(grant):
    stack = bare_stack()
    vpc, _ = network(stack)
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    if grant == "managed":
        role.add_managed_policy(
            iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWSLambdaVPCAccessExecutionRole")
        )
    else:
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface"],
                resources=["*"],
            )
        )
    vpc_function(stack, vpc, role)
    assert findings(stack) == set()


def test_model_and_training_job_without_https_to_s3_fail_synth():
    stack = bare_stack()
    vpc, subnets = network(stack)
    group = vpc_only_group(stack, vpc)
    isolated_model(stack, group, subnets)
    training_state(stack, vpc_only_group(stack, vpc, "TrainingVpcOnly"))
    assert findings(stack) == {"Project-S3EgressFromVpc"}
    assert len(ProjectChecks().validate_scope(stack).violations[0].violating_resources) == 2
    assert "Project-S3EgressFromVpc" in synth_fails_naming(stack)


def test_https_to_the_s3_prefix_list_passes():
    stack = bare_stack()
    vpc, subnets = network(stack)
    group = workload_group(stack, vpc)
    isolated_model(stack, group, subnets)
    training_state(stack, group)
    assert findings(stack) == set()


def test_volume_key_on_instance_storage_fails_synth():
    stack, vpc, group = workload_stack()
    training_state(stack, group, instance_type="ml.g5.xlarge")
    endpoint_config(stack, instance_type="ml.g4dn.xlarge")
    fails_on(stack, "Project-VolumeKmsOnInstanceStorage")


def test_no_volume_key_on_instance_storage_and_a_key_elsewhere_pass():
    stack, vpc, group = workload_stack()
    training_state(stack, group, instance_type="ml.g5.xlarge", volume_key=False)
    training_state(stack, group, instance_type="ml.m5.xlarge", name="Cpu")
    assert findings(stack) == set()
    assert has_instance_storage("ml.p4d.24xlarge") and has_instance_storage("ml.c5d.xlarge")
    assert not has_instance_storage("ml.c5.xlarge") and not has_instance_storage("ml.p3.2xlarge")


def test_encrypted_multi_host_training_without_ipsec_rules_fails_synth():
    stack, vpc, group = workload_stack()
    group.add_ingress_rule(group, ec2.Port.all_tcp())  # TCP only: IKE and ESP are dropped
    group.add_egress_rule(group, ec2.Port.all_tcp())
    training_state(stack, group, count=2)
    fails_on(stack, "Project-InterHostEncryptedTraffic")


def test_ipsec_between_hosts_passes_and_one_host_needs_none():
    stack, vpc, group = workload_stack()
    allow_between_hosts(group)
    training_state(stack, group, count=2)
    single = workload_group(stack, vpc, "Single")
    training_state(stack, single, count=1, name="One")
    assert findings(stack) == set()


def test_an_acknowledgement_that_covers_nothing_fails_synth():
    stack = bare_stack()
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    acknowledge(role, "AwsSolutions-IAM4", "The role has no managed policy, so this finding never fires.")
    with pytest.raises(StaleAcknowledgement, match="Bare/Role: AwsSolutions-IAM4"):
        add_checks(stack.node.scope)


def test_an_acknowledgement_that_covers_a_finding_is_applied():
    stack = bare_stack()
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_managed_policy(iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWSLambdaBasicExecutionRole"))
    acknowledge(role, "AwsSolutions-IAM4", "The AWS-maintained minimum for a function's own log streams.")
    add_checks(stack.node.scope)
    stack.node.scope.synth()  # would raise on an unacknowledged AwsSolutions-IAM4 finding
