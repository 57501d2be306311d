"""`deploy`, `deploy --register` and `teardown`: the requests the SDK resources send, the tags that let
teardown find exactly what deploy made, and the refusal to touch anything else."""

from __future__ import annotations

import pytest

from experiments import api, cli
from experiments.errors import GuardrailViolation
from tests.helpers.experiments_stubs import (
    ACCOUNT,
    ARTIFACT_BUCKET,
    ENV,
    EVALUATION,
    KEY_ARN,
    NOW,
    REGION,
    SUBNETS,
    output_tarball,
    outputs_for,
    streaming_body,
)

JOB = "elasticml-dev-cnn-exp-feedf00d-20261128110000"
ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
TAG = "elasticml:experiment"


def deploy(aws, **kwargs):
    return api.deploy(**{"env": ENV, "job": JOB, "boto_session": aws.session, "out": lambda _: None, **kwargs})


def queue_job_and_stacks(aws, status="Completed"):
    aws["sagemaker"].add_response("describe_training_job", aws.training_job(JOB, status), {"TrainingJobName": JOB})
    aws.stacks("cnn")


def test_deploy_creates_an_isolated_encrypted_tagged_endpoint(aws):
    queue_job_and_stacks(aws)
    sm = aws["sagemaker"]
    sm.add_response("create_model", {"ModelArn": f"{ARN}:model/{JOB}"})
    sm.add_response("describe_model", {"ModelName": JOB, "ModelArn": f"{ARN}:model/{JOB}", "CreationTime": NOW})
    sm.add_response("create_endpoint_config", {"EndpointConfigArn": f"{ARN}:endpoint-config/{JOB}"})
    sm.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": JOB,
            "EndpointConfigArn": f"{ARN}:endpoint-config/{JOB}",
            "CreationTime": NOW,
            "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": JOB}],
        },
    )
    sm.add_response("create_endpoint", {"EndpointArn": f"{ARN}:endpoint/{JOB}"})
    sm.add_response(
        "describe_endpoint",
        {
            "EndpointName": JOB,
            "EndpointArn": f"{ARN}:endpoint/{JOB}",
            "EndpointConfigName": JOB,
            "EndpointStatus": "Creating",
            "CreationTime": NOW,
            "LastModifiedTime": NOW,
        },
    )
    assert deploy(aws).names == [JOB]
    aws.assert_all_used()
    training = outputs_for("cnn")["training"]
    [model] = aws.requests("sagemaker", "CreateModel")
    assert model["EnableNetworkIsolation"] is True
    assert model["VpcConfig"] == {"SecurityGroupIds": [training["CnnExperimentSecurityGroupId"]], "Subnets": SUBNETS}
    assert model["ExecutionRoleArn"] == training["CnnExperimentModelRoleArn"]
    assert model["PrimaryContainer"] == {
        "Image": training["CnnInferenceImageUri"],
        "ModelDataUrl": f"s3://{ARTIFACT_BUCKET}/training/cnn/{JOB}/output/model.tar.gz",
    }
    [config] = aws.requests("sagemaker", "CreateEndpointConfig")
    assert config["KmsKeyId"] == KEY_ARN
    assert config["ProductionVariants"][0]["ModelName"] == JOB
    assert config["ProductionVariants"][0]["InstanceType"].startswith("ml.")
    [endpoint] = aws.requests("sagemaker", "CreateEndpoint")
    assert endpoint["EndpointConfigName"] == JOB
    for request in (model, config, endpoint):
        assert {"Key": TAG, "Value": JOB} in request["Tags"]


def test_deploy_refuses_a_job_that_did_not_complete(aws):
    queue_job_and_stacks(aws, status="Failed")
    with pytest.raises(GuardrailViolation, match="only a Completed job can be deployed"):
        deploy(aws)
    assert aws.requests("sagemaker", "CreateModel") == []


def test_deploy_dry_run_renders_three_requests_and_creates_nothing(aws, capsys):
    queue_job_and_stacks(aws)  # reads only; no Create* response is queued, so a real one would fail
    assert cli.main(["deploy", "--env", ENV, "--job", JOB, "--dry-run"], boto_session=aws.session) == 0
    aws.assert_all_used()
    printed = capsys.readouterr().out
    for operation in ("CreateModel", "CreateEndpointConfig", "CreateEndpoint"):
        assert f"sagemaker.{operation}\n" in printed
    assert [name for name, _ in aws.sent["sagemaker"]] == ["DescribeTrainingJob"]


def test_register_adds_a_package_pending_manual_approval(aws):
    queue_job_and_stacks(aws)
    aws["s3"].add_response("get_object", {"Body": streaming_body(output_tarball(EVALUATION))})
    sm = aws["sagemaker"]
    package = f"{ARN}:model-package/elasticml-dev-cnn/3"
    sm.add_response("create_model_package", {"ModelPackageArn": package})
    assert deploy(aws, register=True).names == [package]
    [request] = aws.requests("sagemaker", "CreateModelPackage")
    assert request["ModelPackageGroupName"] == "elasticml-dev-cnn"
    assert request["ModelApprovalStatus"] == "PendingManualApproval"
    specification = request["InferenceSpecification"]
    assert specification["Containers"] == [
        {
            "Image": outputs_for("cnn")["training"]["CnnInferenceImageUri"],
            "ModelDataUrl": f"s3://{ARTIFACT_BUCKET}/training/cnn/{JOB}/output/model.tar.gz",
        }
    ]
    assert "image/png" in specification["SupportedContentTypes"]
    assert request["CustomerMetadataProperties"]["accuracy"] == "0.9123"
    assert aws.requests("sagemaker", "CreateEndpoint") == []


def queue_owned(aws, name, *, tagged=True):
    sm = aws["sagemaker"]
    kinds = [
        (
            "describe_endpoint",
            {
                "EndpointName": name,
                "EndpointArn": f"{ARN}:endpoint/{name}",
                "EndpointConfigName": name,
                "EndpointStatus": "InService",
                "CreationTime": NOW,
                "LastModifiedTime": NOW,
            },
            f"{ARN}:endpoint/{name}",
        ),
        (
            "describe_endpoint_config",
            {
                "EndpointConfigName": name,
                "CreationTime": NOW,
                "EndpointConfigArn": f"{ARN}:endpoint-config/{name}",
                "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": name}],
            },
            f"{ARN}:endpoint-config/{name}",
        ),
        (
            "describe_model",
            {"ModelName": name, "ModelArn": f"{ARN}:model/{name}", "CreationTime": NOW},
            f"{ARN}:model/{name}",
        ),
    ]
    for operation, response, arn in kinds:
        sm.add_response(operation, response)
        sm.add_response(
            "list_tags",
            {"Tags": [{"Key": TAG, "Value": name}] if tagged else [{"Key": "project", "Value": "elasticml"}]},
            {"ResourceArn": arn},
        )
        if not tagged:
            return


def test_teardown_deletes_what_deploy_made(aws):
    queue_owned(aws, JOB)
    sm = aws["sagemaker"]
    sm.add_response("delete_endpoint", {}, {"EndpointName": JOB})
    sm.add_response("delete_endpoint_config", {}, {"EndpointConfigName": JOB})
    sm.add_response("delete_model", {}, {"ModelName": JOB})
    api.teardown(env=ENV, name=JOB, boto_session=aws.session, out=lambda _: None)
    aws.assert_all_used()


def test_teardown_leaves_a_resource_without_the_tag_alone(aws, capsys):
    queue_owned(aws, "elasticml-dev-cnn", tagged=False)  # the pipeline's endpoint
    status = cli.main(["teardown", "--env", ENV, "--name", "elasticml-dev-cnn"], boto_session=aws.session)
    assert status == 2
    assert "was not made by `experiments deploy`" in capsys.readouterr().err
    assert not [op for op, _ in aws.sent["sagemaker"] if op.startswith("Delete")]


def test_teardown_all_finds_tagged_deployments_and_dry_run_deletes_nothing(aws, capsys):
    sm = aws["sagemaker"]
    other = "elasticml-dev-cnn-model"
    sm.add_response(
        "list_models",
        {
            "Models": [
                {"ModelName": JOB, "ModelArn": f"{ARN}:model/{JOB}", "CreationTime": NOW},
                {"ModelName": other, "ModelArn": f"{ARN}:model/{other}", "CreationTime": NOW},
            ]
        },
        {"NameContains": "elasticml-dev-"},
    )
    sm.add_response("list_tags", {"Tags": [{"Key": TAG, "Value": JOB}]}, {"ResourceArn": f"{ARN}:model/{JOB}"})
    sm.add_response("list_tags", {"Tags": []}, {"ResourceArn": f"{ARN}:model/{other}"})
    queue_owned(aws, JOB)
    assert cli.main(["teardown", "--env", ENV, "--all", "--dry-run"], boto_session=aws.session) == 0
    aws.assert_all_used()
    printed = capsys.readouterr().out
    assert printed.count(JOB) >= 3 and other not in printed
    for operation in ("DeleteEndpoint", "DeleteEndpointConfig", "DeleteModel"):
        assert f"sagemaker.{operation}\n" in printed
