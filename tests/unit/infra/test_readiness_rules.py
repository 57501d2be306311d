"""The rules that came of the documentation audit (docs/deploy-readiness.md): each builds the faulty
construct in a bare stack and sees the project pack name it (synth fails), and the fixed one pass."""

from __future__ import annotations

import pytest
from aws_cdk import App, Duration, Environment, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn

from infra.components.alarms import allow_alarms_to_publish
from infra.components.common import sagemaker_vpc_access
from infra.components.evaluation import reserve_concurrency
from infra.components.serving_parts import suspend_autoscaling
from infra.components.storage import ProjectKey
from infra.rules import SYNC_PROCESSING_ACTIONS, SYNC_TRAINING_ACTIONS, ProjectChecks

from .conftest import bare_stack, base_context, endpoint_config, inline_function, project_network, scale_variant
from .test_deploy_rules import fails_on, findings, network, synth_fails_naming

# --- Project-RegionalLogsPrincipal ------------------------------------------------------------------------


def logs_statement(service: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        principals=[iam.ServicePrincipal(service)],
        actions=["kms:Encrypt*", "kms:Decrypt*", "kms:GenerateDataKey*"],
        resources=["*"],
    )


def test_a_key_policy_with_the_global_logs_principal_fails_synth():
    stack = bare_stack()
    kms.Key(stack, "Key").add_to_resource_policy(logs_statement("logs.amazonaws.com"))
    fails_on(stack, "Project-RegionalLogsPrincipal")


def test_a_key_policy_naming_another_regions_logs_principal_is_caught():
    flags = {k: v for k, v in base_context().items() if k.startswith("@")}
    stack = Stack(App(context=flags), "Ireland", env=Environment(account="111111111111", region="eu-west-1"))
    kms.Key(stack, "Key").add_to_resource_policy(logs_statement("logs.us-east-1.amazonaws.com"))
    assert findings(stack) == {"Project-RegionalLogsPrincipal"}
    fixed = Stack(App(context=flags), "Fixed", env=Environment(account="111111111111", region="eu-west-1"))
    kms.Key(fixed, "Key").add_to_resource_policy(logs_statement("logs.eu-west-1.amazonaws.com"))
    assert findings(fixed) == set()


def test_the_project_key_names_the_regional_logs_principal():
    stack = bare_stack()
    ProjectKey(stack, "ProjectKey", alias="alias/x", retain=False)
    assert findings(stack) == set()
    statements = stack.resolve(stack.node.find_child("ProjectKey").node.find_child("Key").node.default_child.key_policy)
    services = [s["Principal"].get("Service") for s in statements["Statement"] if "Service" in s.get("Principal", {})]
    assert {"Fn::Join": ["", ["logs.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]} in services
    assert "logs.amazonaws.com" not in services


# --- Project-AlarmTopicPublish ----------------------------------------------------------------------------


def alarm_on(stack, topic: sns.Topic) -> cloudwatch.Alarm:
    alarm = cloudwatch.Alarm(
        stack,
        "Alarm",
        metric=cloudwatch.Metric(
            namespace="AWS/SageMaker", metric_name="Invocation5XXErrors", period=Duration.minutes(1)
        ),
        threshold=1,
        evaluation_periods=1,
    )
    alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))
    return alarm


def test_an_alarm_topic_whose_policy_only_denies_plain_http_fails_synth():
    stack = bare_stack()
    topic = sns.Topic(stack, "Topic", enforce_ssl=True)  # a topic policy holding only the TLS Deny
    alarm_on(stack, topic)
    fails_on(stack, "Project-AlarmTopicPublish")


def test_an_alarm_topic_that_lets_this_accounts_alarms_publish_passes():
    stack = bare_stack()
    topic = sns.Topic(stack, "Topic", enforce_ssl=True)
    allow_alarms_to_publish(topic)
    alarm_on(stack, topic)
    assert findings(stack) == set()
    policy = next(c for c in stack.node.find_all() if isinstance(c, sns.CfnTopicPolicy))
    (allow,) = [s for s in stack.resolve(policy.policy_document)["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and allow["Action"] == "sns:Publish"
    assert set(allow["Condition"]["StringEquals"]) == {"aws:SourceAccount"}
    assert set(allow["Condition"]["ArnLike"]) == {"aws:SourceArn"}


def test_an_allow_without_the_source_conditions_is_caught_and_a_topic_no_alarm_notifies_is_not():
    stack = bare_stack()
    topic = sns.Topic(stack, "Topic", enforce_ssl=True)
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
        )
    )
    alarm_on(stack, topic)
    sns.Topic(stack, "Quiet", enforce_ssl=True)
    assert findings(stack) == {"Project-AlarmTopicPublish"}
    (violation,) = ProjectChecks().validate_scope(stack).violations
    assert [r.construct_path for r in violation.violating_resources] == ["Bare/Topic/Policy/Resource"]


# --- Project-RetainScaledCapacity -------------------------------------------------------------------------


def scaled_endpoint(stack, *, retain: bool | None, registered: bool = True) -> sagemaker.CfnEndpoint:
    config = endpoint_config(stack)
    endpoint = sagemaker.CfnEndpoint(
        stack,
        "Endpoint",
        endpoint_name="ep",
        endpoint_config_name=config.attr_endpoint_config_name,
        retain_all_variant_properties=retain,
    )
    if registered:
        scale_variant(stack, "ep")
    return endpoint


@pytest.mark.parametrize("retain", [None, False])
def test_an_autoscaled_endpoint_that_resets_its_capacity_on_update_fails_synth(retain):
    stack = bare_stack()
    scaled_endpoint(stack, retain=retain)
    fails_on(stack, "Project-RetainScaledCapacity")


def test_a_suspended_endpoint_must_keep_its_capacity_too_and_needs_no_scalable_target():
    stack = bare_stack()
    suspend_autoscaling(scaled_endpoint(stack, retain=None, registered=False), "ep")
    assert findings(stack) == {"Project-RetainScaledCapacity"}
    fixed = bare_stack("Fixed")
    suspend_autoscaling(scaled_endpoint(fixed, retain=True, registered=False), "ep")
    assert findings(fixed) == set()  # Project-EndpointAutoscaling accepts the deregistered variant


def test_an_endpoint_that_keeps_its_scaled_capacity_passes():
    stack = bare_stack()
    scaled_endpoint(stack, retain=True)
    assert findings(stack) == set()


# --- Project-LambdaReservedConcurrency --------------------------------------------------------------------


def test_a_lambda_reserving_concurrency_without_opting_in_fails_synth():
    stack = bare_stack()
    inline_function(stack, reserved_concurrent_executions=5)
    fails_on(stack, "Project-LambdaReservedConcurrency")


def test_a_lambda_without_a_reservation_or_opted_in_passes():
    stack = bare_stack()
    inline_function(stack)
    opted = bare_stack("OptedIn")
    reserve_concurrency(inline_function(opted), 5)
    assert findings(stack) == set() and findings(opted) == set()
    assert opted.resolve(opted.node.find_child("Function").node.default_child.reserved_concurrent_executions) == 5


# --- Project-SyncTrainingPermissions ----------------------------------------------------------------------


def sync_training_machine(stack, actions: list[str]) -> sfn.StateMachine:
    state = sfn.CustomState(
        stack,
        "Train",
        state_json={
            "Type": "Task",
            "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
            "Parameters": {"TrainingJobName": "j"},
        },
    )
    machine = sfn.StateMachine(stack, "Machine", definition_body=sfn.DefinitionBody.from_chainable(state))
    machine.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=["*"]))
    return machine


def test_a_sync_training_state_machine_without_list_tags_fails_synth():
    stack = bare_stack()
    sync_training_machine(stack, [a for a in SYNC_TRAINING_ACTIONS if a != "sagemaker:ListTags"])
    assert "Project-SyncTrainingPermissions" in findings(stack)
    assert "Project-SyncTrainingPermissions" in synth_fails_naming(stack)


def test_a_sync_training_state_machine_with_the_published_policy_passes_the_rule():
    stack = bare_stack()
    sync_training_machine(stack, list(SYNC_TRAINING_ACTIONS))
    assert "Project-SyncTrainingPermissions" not in findings(stack)


# --- Project-ModelVpcPermissions --------------------------------------------------------------------------


def vpc_model(stack, *, hosting: bool) -> None:
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    sagemaker_vpc_access(role, hosting=hosting)
    sagemaker.CfnModel(
        stack,
        "Model",
        execution_role_arn=role.role_arn,
        enable_network_isolation=True,
        vpc_config=sagemaker.CfnModel.VpcConfigProperty(security_group_ids=["sg-1"], subnets=["subnet-1"]),
    )


def test_a_vpc_model_role_without_describe_vpc_endpoints_fails_synth():
    stack = bare_stack()
    vpc_model(stack, hosting=False)  # what a training role holds
    fails_on(stack, "Project-ModelVpcPermissions")


def test_a_vpc_model_role_with_the_hosting_permissions_passes():
    stack = bare_stack()
    vpc_model(stack, hosting=True)
    assert findings(stack) == set()


# --- Project-FlowLogRolePermissions -----------------------------------------------------------------------


def test_a_flow_log_role_with_only_the_cdks_three_actions_fails_synth():
    stack = bare_stack()
    vpc, _ = network(stack)
    vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(logs.LogGroup(stack, "Logs")))
    fails_on(stack, "Project-FlowLogRolePermissions")


def test_the_projects_network_grants_what_the_flow_log_page_lists():
    stack = bare_stack()
    project_network(stack, "10.40.0.0/16", ["b"])
    assert "Project-FlowLogRolePermissions" not in findings(stack)


# --- Project-SyncProcessingPermissions, Project-ProcessingJobIsolated (the drift monitor) -----------------


def processing_machine(stack, actions: list[str], arguments: dict) -> sfn.StateMachine:
    state = sfn.CustomState(
        stack,
        "Monitor",
        state_json={
            "Type": "Task",
            "QueryLanguage": "JSONata",
            "Resource": "arn:aws:states:::sagemaker:createProcessingJob.sync",
            "Arguments": arguments,
        },
    )
    machine = sfn.StateMachine(stack, "Machine", definition_body=sfn.DefinitionBody.from_chainable(state))
    machine.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=["*"]))
    return machine


ISOLATED_JOB = {
    "ProcessingJobName": "j",
    "NetworkConfig": {
        "EnableNetworkIsolation": True,
        "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]},
    },
    "ProcessingOutputConfig": {"KmsKeyId": "arn:aws:kms:eu-west-1:111111111111:key/k", "Outputs": []},
    "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.xlarge", "VolumeKmsKeyId": "k"}},
}


def test_a_sync_processing_state_machine_without_the_events_rule_actions_fails_synth():
    stack = bare_stack()
    processing_machine(stack, [a for a in SYNC_PROCESSING_ACTIONS if not a.startswith("events:")], ISOLATED_JOB)
    fails_on(stack, "Project-SyncProcessingPermissions")
    fixed = bare_stack("Fixed")
    processing_machine(fixed, list(SYNC_PROCESSING_ACTIONS), ISOLATED_JOB)
    assert findings(fixed) == set()


@pytest.mark.parametrize(
    "broken",
    [
        {"NetworkConfig": {"VpcConfig": ISOLATED_JOB["NetworkConfig"]["VpcConfig"]}},
        {"NetworkConfig": {"EnableNetworkIsolation": True}},
        {"ProcessingOutputConfig": {"Outputs": []}},
        {"ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.xlarge"}}},
    ],
)
def test_a_processing_job_outside_the_vpc_or_without_keys_fails_synth(broken):
    stack = bare_stack()
    processing_machine(stack, list(SYNC_PROCESSING_ACTIONS), {**ISOLATED_JOB, **broken})
    fails_on(stack, "Project-ProcessingJobIsolated")
