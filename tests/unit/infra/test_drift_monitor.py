"""The scheduled drift monitor (infra/components/drift_monitor.py) in the synthesized serving stacks, and its
JSONata evaluated on a simulated run (jsonata-python: the same language Step Functions evaluates)."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonata
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

import shared_names as names
from infra.components.drift_monitor import DriftMonitor, DriftMonitorProps
from infra.drift_settings import DriftMonitorSettings
from infra.settings import ModelVersion

from .conftest import as_list, bare_stack, definition, image_assets, policy_statements, resources

STACK = "elasticml-{}-serving-{}"
PROCESSING_ACTIONS = {"sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob", "sagemaker:StopProcessingJob"}


@pytest.fixture(scope="module")
def prod_cnn(synthesized) -> dict[str, Any]:
    return synthesized.json(STACK.format("prod", "cnn"))


def monitor_machine(template: dict[str, Any]) -> dict[str, Any]:
    machines = resources(template, "AWS::StepFunctions::StateMachine")
    return definition(template, next(k for k in machines if k.startswith("DriftMonitor")))


def test_dev_serves_scale_to_zero_and_has_no_monitor(synthesized):
    for model in ("cnn", "mlp"):
        template = synthesized.json(STACK.format("dev", model))
        assert not resources(template, "AWS::Scheduler::Schedule")
        assert not resources(template, "AWS::StepFunctions::StateMachine")


@pytest.mark.parametrize("model", ["cnn", "mlp"])
def test_a_schedule_starts_the_monitor_every_window(synthesized, model):
    template = synthesized.template(STACK.format("prod", model))
    template.has_resource_properties(
        "AWS::Scheduler::Schedule",
        {
            "ScheduleExpression": "rate(6 hours)",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED",
            "Target": Match.object_like({"Arn": {"Ref": Match.string_like_regexp("^DriftMonitorStateMachine")}}),
        },
    )
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine", {"StateMachineName": f"elasticml-prod-{model}-drift"}
    )


def test_the_job_runs_isolated_in_the_vpc_under_the_project_key(prod_cnn):
    job = monitor_machine(prod_cnn)["States"]["Monitor"]
    assert job["Resource"].endswith(":states:::sagemaker:createProcessingJob.sync")
    arguments = job["Arguments"]
    network = arguments["NetworkConfig"]
    assert network["EnableNetworkIsolation"] is True and network["EnableInterContainerTrafficEncryption"] is True
    assert network["VpcConfig"]["SecurityGroupIds"] and len(network["VpcConfig"]["Subnets"]) == 2
    cluster = arguments["ProcessingResources"]["ClusterConfig"]
    assert cluster == {
        "InstanceCount": 1,
        "InstanceType": "ml.m5.xlarge",
        "VolumeSizeInGB": 30,
        "VolumeKmsKeyId": "${Token}",
    }
    assert arguments["ProcessingOutputConfig"]["KmsKeyId"] == "${Token}"
    assert arguments["AppSpecification"]["ContainerEntrypoint"] == ["python", "-m", "monitor"]
    assert arguments["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}


def test_the_job_runs_the_monitor_image_of_the_models_framework(synthesized):
    for model, framework in names.FRAMEWORK_BY_MODEL.items():
        stack = STACK.format("prod", model)
        manifest = json.loads((synthesized.outdir / f"{stack}.assets.json").read_text())
        monitors = [a["source"] for a in manifest["dockerImages"].values() if a["source"].get("dockerBuildTarget")]
        assert [(m["dockerBuildTarget"], m["dockerBuildArgs"]["FRAMEWORK"]) for m in monitors] == [
            ("monitor", framework)
        ]
        assert list(monitors[0]["dockerBuildContexts"]) == ["monitor_src"]
        assert ("inference", framework) in image_assets(synthesized, stack).values()


def test_the_state_machine_role_holds_the_published_sync_policy_and_one_namespace(prod_cnn):
    statements = [s for _, s in policy_statements(prod_cnn)]
    processing = [s for s in statements if PROCESSING_ACTIONS & set(as_list(s["Action"]))]
    assert len(processing) == 1 and set(as_list(processing[0]["Action"])) == PROCESSING_ACTIONS
    assert "processing-job/elasticml-prod-cnn-drift-*" in json.dumps(processing[0]["Resource"])
    rule = "rule/StepFunctionsGetEventsForSageMakerProcessingJobsRule"
    assert any(rule in json.dumps(s["Resource"]) for s in statements if "events:PutRule" in as_list(s["Action"]))
    assert any("sagemaker:ListTags" in as_list(s["Action"]) and s["Resource"] == "*" for s in statements)
    passes = [s for s in statements if s["Action"] == "iam:PassRole" and "DriftMonitorJobRole" in json.dumps(s)]
    assert passes and passes[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    metrics = [s for s in statements if "cloudwatch:PutMetricData" in as_list(s["Action"])]
    assert {json.dumps(s["Condition"]) for s in metrics} >= {
        json.dumps({"StringEquals": {"cloudwatch:namespace": names.MONITOR_NAMESPACE}})
    }


def test_the_job_role_reads_captures_and_the_model_and_writes_only_reports(prod_cnn):
    role_policies = [s for logical_id, s in policy_statements(prod_cnn) if logical_id.startswith("DriftMonitorJobRole")]
    writes = [s for s in role_policies if "s3:PutObject" in as_list(s["Action"])]
    assert len(writes) == 1 and "/monitor/cnn/*" in json.dumps(writes[0]["Resource"])
    reads = json.dumps([s["Resource"] for s in role_policies if "s3:GetObject" in as_list(s["Action"])])
    for prefix in ("/data-capture/cnn/elasticml-prod-cnn/AllTraffic/*", "/training/cnn/*", "/monitor/cnn/*"):
        assert prefix in reads
    namespaces = [s["Condition"] for s in role_policies if "cloudwatch:PutMetricData" in as_list(s["Action"])]
    assert namespaces == [{"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/ProcessingJobs"}}]


def test_drift_in_three_windows_alarms_the_serving_topic_and_retraining_is_off(synthesized, prod_cnn):
    template = synthesized.template(STACK.format("prod", "cnn"))
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": names.MONITOR_NAMESPACE,
            "MetricName": "Drift",
            "Dimensions": [{"Name": names.MONITOR_DIMENSION, "Value": "cnn"}],
            "Period": 21600,
            "EvaluationPeriods": 3,
            "DatapointsToAlarm": 3,
            "Threshold": 1,
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": Match.string_like_regexp("^EndpointAlarmTopic")}],
            "OKActions": [{"Ref": Match.string_like_regexp("^EndpointAlarmTopic")}],
        },
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "ExecutionsFailed", "Namespace": "AWS/States", "AlarmActions": Match.any_value()},
    )
    assert not resources(prod_cnn, "AWS::Events::Rule")


def test_the_report_location_is_an_output(prod_cnn):
    assert "DriftReportLocation" in prod_cnn["Outputs"]


# --- the JSONata, evaluated --------------------------------------------------------------------------

EXPRESSION = re.compile(r"^\{%(.*)%\}$", re.DOTALL)


def evaluate(value: Any, states: dict[str, Any]) -> Any:
    """A state field as Step Functions evaluates it: `{% expr %}` strings are JSONata over `$states`,
    objects and lists field by field; `$parse` is Step Functions' own function."""
    if isinstance(value, str) and EXPRESSION.match(value):
        expression = jsonata.Jsonata(EXPRESSION.match(value).group(1))
        expression.register_lambda("parse", lambda text: json.loads(text))
        return expression.evaluate(None, {"states": states})
    if isinstance(value, dict):
        return {k: evaluate(v, states) for k, v in value.items()}
    if isinstance(value, list):
        return [evaluate(v, states) for v in value]
    return value


def test_a_simulated_run_lists_the_windows_days_and_feeds_the_job_their_captures(prod_cnn):
    states_of = monitor_machine(prod_cnn)["States"]
    context = {"Execution": {"StartTime": "2026-12-07T04:30:00.123Z", "Name": "run-1"}}
    window = evaluate(states_of["Window"]["Output"], {"context": context, "input": {}})
    assert window == {
        "end": "2026-12-07T04:30:00.123Z",
        "days": ["2026/12/07", "2026/12/06"],
        "job": "elasticml-prod-cnn-drift-20261207-043000",
    }
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", window["job"])  # ProcessingJobName
    described = {
        "InferenceSpecification": {"Containers": [{"ModelDataUrl": "s3://b/training/cnn/j/output/model.tar.gz"}]}
    }
    assert states_of["ModelArtifact"]["Resource"].endswith("aws-sdk:sagemaker:describeModelPackage")
    with_model = evaluate(states_of["ModelArtifact"]["Output"], {"input": window, "result": described})
    assert with_model["model"].endswith("model.tar.gz")
    # Only the 7th holds captures: the job gets the model and that one day.
    listed = [{"day": "2026/12/07", "found": True}, {"day": "2026/12/06", "found": False}]
    item = states_of["FindCaptures"]["ItemProcessor"]["States"]["ListDay"]
    assert evaluate(item["Arguments"]["Prefix"], {"input": "2026/12/07"}) == (
        "data-capture/cnn/elasticml-prod-cnn/AllTraffic/2026/12/07/"
    )
    assert evaluate(item["Output"], {"input": "2026/12/06", "result": {"KeyCount": 0}}) == listed[1]
    found = evaluate(states_of["FindCaptures"]["Output"], {"input": with_model, "result": listed})
    assert found["captured"] == ["2026/12/07"]
    choice = states_of["AnyCaptures"]["Choices"][0]
    assert evaluate(choice["Condition"], {"input": found}) is True and choice["Next"] == "Monitor"
    arguments = evaluate(states_of["Monitor"]["Arguments"], {"input": found, "context": context})
    inputs = arguments["ProcessingInputs"]
    assert [i["InputName"] for i in inputs] == ["model", "captures-2026-12-07"]
    assert inputs[0]["S3Input"]["S3Uri"] == with_model["model"]
    assert inputs[1]["S3Input"]["LocalPath"] == "/opt/ml/processing/captures/2026-12-07"
    assert inputs[1]["S3Input"]["S3Uri"].endswith("/data-capture/cnn/elasticml-prod-cnn/AllTraffic/2026/12/07/")
    assert arguments["AppSpecification"]["ContainerArguments"][-4:] == [
        "--window-hours",
        "6",
        "--window-end",
        "2026-12-07T04:30:00.123Z",
    ]
    assert arguments["ProcessingJobName"] == window["job"]
    report = arguments["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert report.endswith("/monitor/cnn/elasticml-prod-cnn-drift-20261207-043000")
    done = evaluate(states_of["Monitor"]["Output"], {"input": found})
    read = evaluate(states_of["ReadMetrics"]["Arguments"], {"input": done})
    assert read["Key"] == "monitor/cnn/elasticml-prod-cnn-drift-20261207-043000/metrics.json"
    body = json.dumps([{"MetricName": "Drift", "Value": 1.0, "Unit": "Count", "Dimensions": []}])
    published = evaluate(states_of["ReadMetrics"]["Output"], {"input": done, "result": {"Body": body}})
    assert evaluate(states_of["PublishMetrics"]["Arguments"], {"input": published})["MetricData"][0]["Value"] == 1.0


def test_a_window_without_captures_publishes_an_empty_window_and_no_job(prod_cnn):
    states_of = monitor_machine(prod_cnn)["States"]
    found = evaluate(
        states_of["FindCaptures"]["Output"],
        {"input": {"days": ["2026/12/07"]}, "result": [{"day": "2026/12/07", "found": False}]},
    )
    assert evaluate(states_of["AnyCaptures"]["Choices"][0]["Condition"], {"input": found}) is False
    assert states_of["AnyCaptures"]["Default"] == "PublishEmptyWindow"
    data = states_of["PublishEmptyWindow"]["Arguments"]["MetricData"]
    assert {(d["MetricName"], d["Value"]) for d in data} == {("WindowSize", 0), ("WindowUsable", 0)}
    assert states_of["PublishEmptyWindow"]["Next"] == "NoCaptures"


# --- retraining, on only when asked --------------------------------------------------------------------


def drift_monitor_alone(tmp_path, *, retrain: bool) -> Template:
    stack = bare_stack()
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        nat_gateways=0,
        subnet_configuration=[ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)],
    )
    DriftMonitor(
        stack,
        "DriftMonitor",
        settings=DriftMonitorSettings(
            schedule="rate(1 day)", window_hours=24, min_window=50, consecutive_windows_to_retrain=2, retrain=retrain
        ),
        props=DriftMonitorProps(
            name="elasticml-dev-mlp",
            model="mlp",
            version=ModelVersion(model_data_url="s3://elasticml-dev-artifacts-1-r/training/mlp/j/output/model.tar.gz"),
            image=ecr_assets.DockerImageAsset(stack, "Image", directory=str(tmp_path)),
            artifact_bucket=s3.Bucket.from_bucket_name(stack, "Artifacts", "elasticml-dev-artifacts"),
            key=kms.Key(stack, "Key"),
            vpc=vpc,
            subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            s3_prefix_list_id="pl-123",
            alarm_topic=sns.Topic(stack, "Topic"),
            log_retention_days=30,
            retain=False,
            training_state_machine="elasticml-dev-mlp" if retrain else None,
        ),
    )
    return Template.from_stack(stack)


def test_retraining_starts_the_training_pipeline_when_the_drift_alarm_fires(tmp_path):
    template = drift_monitor_alone(tmp_path, retrain=True)
    rules = template.find_resources("AWS::Events::Rule")
    assert len(rules) == 1
    rule = next(iter(rules.values()))["Properties"]
    assert rule["EventPattern"]["source"] == ["aws.cloudwatch"]
    assert rule["EventPattern"]["detail-type"] == ["CloudWatch Alarm State Change"]
    assert rule["EventPattern"]["detail"] == {"state": {"value": ["ALARM"]}}
    assert "stateMachine:elasticml-dev-mlp" in json.dumps(rule["Targets"][0]["Arn"])
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "Drift", "Period": 86400, "EvaluationPeriods": 2, "DatapointsToAlarm": 2},
    )
    statements = [
        s
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    starts = [s for s in statements if s["Action"] == "states:StartExecution"]
    assert any(":stateMachine:elasticml-dev-mlp" in json.dumps(s["Resource"]) for s in starts)
    # Both starters (the schedule and the rule) may use the key the state machines are encrypted with.
    for starter in ("DriftMonitorSchedulerRole", "DriftMonitorRetrainRole"):
        actions = {
            action
            for policy in template.find_resources("AWS::IAM::Policy").values()
            if policy["Properties"]["Roles"][0]["Ref"].startswith(starter)
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
            for action in as_list(s["Action"])
        }
        assert {"states:StartExecution", "kms:GenerateDataKey", "kms:Decrypt"} <= actions, starter


def test_no_retraining_rule_by_default(tmp_path):
    template = drift_monitor_alone(tmp_path, retrain=False)
    assert not template.find_resources("AWS::Events::Rule")
    # A data-URL model needs no package lookup: the artifact is named in the definition.
    machine = next(iter(template.find_resources("AWS::StepFunctions::StateMachine").values()))
    assert "describeModelPackage" not in json.dumps(machine["Properties"]["DefinitionString"])
