"""The training stacks: one train -> evaluate -> gate -> register state machine per model."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Capture, Match

from infra.application import REPO_ROOT as ROOT

from .conftest import as_list, definition, image_assets, policy_statements, resources

STACK = "elasticml-{}-training"


@pytest.fixture(scope="module")
def dev(synthesized):
    return synthesized.json(STACK.format("dev"))


def machine_of(template, model):
    machines = resources(template, "AWS::StepFunctions::StateMachine")
    return definition(template, next(k for k in machines if k.startswith(model.capitalize())))


def test_a_state_machine_and_a_model_package_group_per_model(synthesized):
    template = synthesized.template(STACK.format("dev"))
    template.resource_count_is("AWS::StepFunctions::StateMachine", 2)
    for model in ("cnn", "mlp"):
        template.has_resource_properties(
            "AWS::SageMaker::ModelPackageGroup", {"ModelPackageGroupName": f"elasticml-dev-{model}"}
        )


def test_logging_all_with_execution_data_and_tracing(synthesized):
    log_group = Capture()
    synthesized.template(STACK.format("prod")).all_resources_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "LoggingConfiguration": {
                "Level": "ALL",
                "IncludeExecutionData": True,
                "Destinations": [{"CloudWatchLogsLogGroup": {"LogGroupArn": log_group}}],
            },
            "TracingConfiguration": {"Enabled": True},
            "EncryptionConfiguration": Match.object_like({"Type": "CUSTOMER_MANAGED_KMS_KEY"}),
        },
    )
    synthesized.template(STACK.format("prod")).has_resource_properties(
        "AWS::Logs::LogGroup",
        {
            "LogGroupName": "/aws/vendedlogs/states/elasticml-prod-cnn",
            "RetentionInDays": 365,
            "KmsKeyId": Match.any_value(),
        },
    )


def test_train_then_evaluate_then_gate(dev):
    states = machine_of(dev, "cnn")
    assert states["StartAt"] == "ListTrainChannel"
    s = states["States"]
    assert s["TestChannelHasData"]["Default"] == "Train"
    assert s["Train"]["Next"] == "ReadEvaluation"
    assert s["ReadEvaluation"]["Next"] == "QualityGate"
    parameters = s["ReadEvaluation"]["Parameters"]
    assert parameters["model_artifacts.$"] == "$.training.ModelArtifacts.S3ModelArtifacts"
    assert set(parameters) == {"model_artifacts.$", "security_gate"}  # the thresholds: see the security gate test
    assert s["ReadEvaluation"]["ResultPath"] == "$.evaluation"


@pytest.mark.parametrize(
    "model, channels",
    [("cnn", ["train", "validation", "test"]), ("mlp", ["train", "validation", "test", "synthetic"])],
)
def test_every_channel_is_checked_for_data_before_the_job(dev, model, channels):
    states = machine_of(dev, model)
    s = states["States"]
    state, seen = states["StartAt"], []
    while state != "Train":  # list -> has data? -> next channel's list ... -> Train
        listing = s[state]
        assert listing["Resource"] == "arn:${Token}:states:::aws-sdk:s3:listObjectsV2"
        channel = listing["Parameters"]["Prefix"].split("/")[1]
        assert listing["Parameters"] == {
            "Bucket": "elasticml-dev-data-${Token}-${Token}",
            "Prefix": f"{model}/{channel}/",
            "MaxKeys": 1,
        }
        assert s[listing["Catch"][0]["Next"]]["Type"] == "Fail"
        choice = s[listing["Next"]]
        (empty,) = choice["Choices"]
        assert empty["Variable"] == "$.channel_check.KeyCount" and empty["NumericEquals"] == 0
        assert listing["ResultPath"] == "$.channel_check" and listing["ResultSelector"] == {"KeyCount.$": "$.KeyCount"}
        fail = s[empty["Next"]]
        assert fail["Type"] == "Fail" and fail["Error"] == "ChannelEmpty"
        assert f"no object under {model}/{channel}/ in the data bucket" in fail["Cause"]
        seen.append(channel)
        state = choice["Default"]
    assert seen == channels
    if model == "mlp":
        assert "make synthetic-audio" in s["SyntheticChannelEmpty"]["Cause"]


@pytest.mark.parametrize(
    "env,model,threshold", [("dev", "cnn", 0.7), ("dev", "mlp", 0.8), ("prod", "cnn", 0.85), ("prod", "mlp", 0.9)]
)
def test_quality_gate_threshold_from_settings(synthesized, env, model, threshold):
    gate = machine_of(synthesized.json(STACK.format(env)), model)["States"]["QualityGate"]
    assert gate["Choices"] == [
        {"Variable": "$.evaluation.accuracy", "NumericGreaterThanEquals": threshold, "Next": "SecurityGate"}
    ]
    assert gate["Default"] == "BelowQualityThreshold"


@pytest.mark.parametrize("env,model", [("dev", "cnn"), ("dev", "mlp"), ("prod", "cnn"), ("prod", "mlp")])
def test_security_gate_thresholds_from_cdk_json_travel_to_the_reader(synthesized, env, model):
    """The reader judges evaluation.json["security"] against cdk.json's thresholds; a model below them
    ends in a Fail state whose cause is the reader's reason (naming the figure and the threshold)."""
    cdk = json.loads((ROOT / "cdk.json").read_text())["context"]["environments"][env]["training"][model]["security"]
    s = machine_of(synthesized.json(STACK.format(env)), model)["States"]
    assert s["ReadEvaluation"]["Parameters"]["security_gate"] == {"model": model, **cdk}
    gate = s["SecurityGate"]
    assert gate["Choices"] == [
        {"Variable": "$.evaluation.security.passed", "BooleanEquals": True, "Next": "RegisterModelPackage"}
    ]
    assert gate["Default"] == "BelowSecurityThreshold"
    assert s["BelowSecurityThreshold"] == {
        "Type": "Fail",
        "Error": "SecurityGateFailed",
        "CausePath": "$.evaluation.security.reason",
    }


def test_register_a_model_package_pending_approval_with_the_inference_image(dev):
    register = machine_of(dev, "mlp")["States"]["RegisterModelPackage"]
    assert register["Resource"] == "arn:${Token}:states:::aws-sdk:sagemaker:createModelPackage"
    p = register["Parameters"]
    assert p["ModelPackageGroupName"] == "elasticml-dev-mlp"
    assert p["ModelApprovalStatus"] == "PendingManualApproval"
    container = p["InferenceSpecification"]["Containers"][0]
    assert container["ModelDataUrl.$"] == "$.training.ModelArtifacts.S3ModelArtifacts"
    assert container["Image"] == "${Token}"  # the inference image asset's URI, resolved at deploy
    assert "audio/wav" in p["InferenceSpecification"]["SupportedContentTypes"]
    assert p["InferenceSpecification"]["SupportedRealtimeInferenceInstanceTypes"] == ["ml.c5.large"]
    assert register["Next"] == "Registered"


def test_failures_end_in_fail_states_with_the_reason(dev):
    s = machine_of(dev, "cnn")["States"]
    catches = {tuple(c["ErrorEquals"]): c["Next"] for c in s["Train"]["Catch"]}
    assert catches == {("States.TaskFailed",): "IsJobDescription", ("States.ALL",): "TrainingCouldNotStart"}
    # Only a JSON Cause is parsed, and only a parsed job with a FailureReason is reported by it
    (json_cause,) = s["IsJobDescription"]["Choices"]
    assert json_cause == {"Variable": "$.error.Cause", "StringMatches": "{*", "Next": "ReadFailureReason"}
    assert s["IsJobDescription"]["Default"] == "TrainingFailedWithoutReason"
    assert s["ReadFailureReason"]["Parameters"] == {"job.$": "States.StringToJson($.error.Cause)"}
    assert s["ReadFailureReason"]["Next"] == "HasFailureReason"
    (has_reason,) = s["HasFailureReason"]["Choices"]
    assert has_reason == {"Variable": "$.job.FailureReason", "IsPresent": True, "Next": "TrainingFailed"}
    assert s["HasFailureReason"]["Default"] == "TrainingFailedWithoutReason"
    assert s["TrainingFailed"] == {"Type": "Fail", "Error": "TrainingJobFailed", "CausePath": "$.job.FailureReason"}
    assert s["TrainingFailedWithoutReason"] == {
        "Type": "Fail",
        "Error": "TrainingJobFailed",
        "CausePath": "$.error.Cause",
    }
    assert s["BelowQualityThreshold"]["Type"] == "Fail"
    for state in ("ReadEvaluation", "RegisterModelPackage"):
        assert s[state]["Catch"][0]["ErrorEquals"] == ["States.ALL"]
        assert s[s[state]["Catch"][0]["Next"]]["Type"] == "Fail"


def test_training_and_serving_images_are_built_per_framework(synthesized):
    assert sorted(image_assets(synthesized, STACK.format("dev")).values()) == [
        ("inference", "pytorch"),
        ("inference", "tensorflow"),
        ("training", "pytorch"),
        ("training", "tensorflow"),
    ]


def test_prod_trains_data_parallel_on_two_hosts(synthesized):
    train = machine_of(synthesized.json(STACK.format("prod")), "cnn")["States"]["Train"]["Parameters"]
    assert train["ResourceConfig"]["InstanceCount"] == 2
    assert train["ResourceConfig"]["InstanceType"] == "ml.g5.2xlarge"


def test_evaluation_reader_is_a_small_isolated_lambda(synthesized):
    template = synthesized.template(STACK.format("dev"))
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.14",
            "Handler": "index.handler",
            "ReservedConcurrentExecutions": Match.absent(),  # opt-in only (Project-LambdaReservedConcurrency)
            "VpcConfig": Match.object_like({"SubnetIds": Match.any_value()}),
            "KmsKeyArn": Match.any_value(),
            "TracingConfig": {"Mode": "Active"},
            "Environment": {"Variables": {"ARTIFACT_BUCKET": Match.any_value()}},
            "Code": {"ZipFile": Match.string_like_regexp("evaluation.json")},
        },
    )


def test_evaluation_reader_may_read_only_training_output(dev):
    reader = [s for logical_id, s in policy_statements(dev) if logical_id.startswith("EvaluationReaderRole")]
    s3 = [s for s in reader if any(a.startswith("s3:") for a in as_list(s["Action"]))]
    assert {json.dumps(s["Action"]) for s in s3} == {'"s3:GetObject"', '"s3:ListBucket"'}
    get = next(s for s in s3 if s["Action"] == "s3:GetObject")
    assert json.dumps(get["Resource"]).endswith('/training/*"]]}')


def test_state_machine_key_grant_names_the_state_machine(dev):
    """The KMS grant of an encrypted state machine is conditioned on its ARN, so it must be fully known."""
    statements = [s for logical_id, s in policy_statements(dev) if logical_id.startswith("CnnPipeline")]
    grant = next(
        s
        for s in statements
        if "kms:EncryptionContext:aws:states:stateMachineArn" in s.get("Condition", {}).get("StringEquals", {})
    )
    arn = grant["Condition"]["StringEquals"]["kms:EncryptionContext:aws:states:stateMachineArn"]
    assert arn["Fn::Join"][1][-1] == ":stateMachine:elasticml-dev-cnn"
