"""`launch`: the CreateTrainingJob request the SDK really sends carries every guardrail; --dry-run
prints that request and sends nothing; --wait ends with the evaluation figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments import api, cli
from experiments.errors import JobFailed
from tests.helpers.experiments_stubs import (
    ARTIFACT_BUCKET,
    DATA_BUCKET,
    ENV,
    EVALUATION,
    KEY_ARN,
    SUBNETS,
    output_tarball,
    outputs_for,
    streaming_body,
)

REPO_ROOT = Path(__file__).resolve().parents[3]

ROOT = Path(__file__).resolve().parents[3]
TRAIN = f"s3://{DATA_BUCKET}/cnn/train/"
VALIDATION = f"s3://{DATA_BUCKET}/cnn/validation/"


def queue_reads(aws, model="cnn"):
    aws.stacks(model)
    aws.prefix_exists(DATA_BUCKET, f"{model}/train/")
    aws.prefix_exists(DATA_BUCKET, f"{model}/validation/")


def launch(aws, *, out=lambda _: None, cdk_json=None, **kwargs):
    request = api.LaunchRequest(**{**dict(env=ENV, model="cnn", train=TRAIN, validation=VALIDATION), **kwargs})
    return api.launch(
        request, api.AwsAccess(boto_session=aws.session), out=out, **({"cdk_json": cdk_json} if cdk_json else {})
    )


def sent_create_training_job(aws, tmp_path, **kwargs):
    queue_reads(aws)
    aws["sagemaker"].add_response("create_training_job", {"TrainingJobArn": "arn:aws:sagemaker:::training-job/x"})
    aws["sagemaker"].add_response("describe_training_job", aws.training_job("elasticml-dev-cnn-exp-x-1"))
    hyperparameters = tmp_path / "hp.json"
    hyperparameters.write_text(json.dumps({"epochs": 3, "learning_rate": 0.01}))
    result = launch(aws, hyperparameters_file=hyperparameters, assignments=["epochs=5", "width=48"], **kwargs)
    aws.assert_all_used()
    [request] = aws.requests("sagemaker", "CreateTrainingJob")
    return request, result


def test_create_training_job_carries_every_guardrail(aws, tmp_path):
    request, result = sent_create_training_job(aws, tmp_path)
    training = outputs_for("cnn")["training"]

    assert request["VpcConfig"] == {"Subnets": SUBNETS, "SecurityGroupIds": [training["CnnTrainingSecurityGroupId"]]}
    assert request["EnableNetworkIsolation"] is True
    assert request["EnableInterContainerTrafficEncryption"] is True
    assert request["ResourceConfig"]["VolumeKmsKeyId"] == KEY_ARN
    assert request["OutputDataConfig"] == {
        "S3OutputPath": f"s3://{ARTIFACT_BUCKET}/training/cnn/",
        "KmsKeyId": KEY_ARN,
        "CompressionType": "GZIP",
    }
    assert request["EnableManagedSpotTraining"] is True
    stopping = request["StoppingCondition"]
    assert stopping["MaxWaitTimeInSeconds"] > stopping["MaxRuntimeInSeconds"] > 0
    base = request["TrainingJobName"].rsplit("-", 1)[0]
    assert request["CheckpointConfig"] == {
        "S3Uri": f"s3://{ARTIFACT_BUCKET}/checkpoints/cnn/{base}/",
        "LocalPath": "/opt/ml/checkpoints",
    }
    metric_file = json.loads((ROOT / "training" / "metric_definitions.json").read_text())
    assert request["AlgorithmSpecification"]["MetricDefinitions"] == metric_file
    assert request["AlgorithmSpecification"]["TrainingImage"] == training["CnnTrainingImageUri"]
    assert request["RoleArn"] == training["CnnTrainingRoleArn"]
    assert result.names == ["elasticml-dev-cnn-exp-x-1"]


def settings_file(tmp_path, **training):
    """The repository's cdk.json with dev's cnn training settings decided by the test (the repository's may
    change under it); experiments read it through infra's validation, so it must be a valid whole."""
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    context["environments"]["dev"]["training"]["cnn"] = {
        "instance_type": "ml.g5.xlarge",
        "instance_count": 1,
        "volume_size_gb": 30,
        "use_spot": True,
        "max_runtime_s": 3600,
        "max_wait_s": 7200,
        "quality_threshold": 0.7,
        "channels": ["train", "validation"],
        "hyperparameters": {"epochs": 10, "batch_size": 256, "learning_rate": 0.002, "seed": 0},
        **training,
    }
    path = tmp_path / "cdk.json"
    path.write_text(json.dumps({"context": context}))
    return path


def test_data_hyperparameters_and_tags_reach_the_request(aws, tmp_path):
    request, _ = sent_create_training_job(aws, tmp_path, instance_type="ml.c5.xlarge", cdk_json=settings_file(tmp_path))
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in request["InputDataConfig"]}
    assert channels == {"train": TRAIN, "validation": VALIDATION}
    # settings (cdk.json dev) < file < --set; `model` is the launched one
    assert request["HyperParameters"] == {
        "model": "cnn",
        "epochs": "5",
        "batch_size": "256",
        "learning_rate": "0.01",
        "seed": "0",
        "width": "48",
    }
    assert request["ResourceConfig"]["InstanceType"] == "ml.c5.xlarge"
    assert request["TrainingJobName"].startswith("elasticml-dev-cnn-exp-")
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    tags = {t["Key"]: t["Value"] for t in request["Tags"]}
    assert tags["elasticml:experiment"] == request["TrainingJobName"].rsplit("-", 1)[0]
    assert tags["environment"] == ENV


def test_spot_wait_gets_head_room_even_where_the_settings_have_none(aws, tmp_path):
    request, _ = sent_create_training_job(
        aws, tmp_path, cdk_json=settings_file(tmp_path, use_spot=False, max_runtime_s=1800, max_wait_s=0)
    )
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 1800, "MaxWaitTimeInSeconds": 3600}


def test_dry_run_prints_the_request_and_sends_nothing(aws, capsys):
    queue_reads(aws)  # reads only: the stacks' outputs and the data; no SageMaker response is queued
    status = cli.main(
        [
            "launch",
            "--env",
            ENV,
            "--model",
            "cnn",
            "--train",
            TRAIN,
            "--validation",
            VALIDATION,
            "--set",
            "epochs=2",
            "--dry-run",
        ],
        boto_session=aws.session,
    )
    assert status == 0
    aws.assert_all_used()
    assert aws.sent.get("sagemaker") is None and aws.sent.get("iam") is None and aws.sent.get("sts") is None
    printed = capsys.readouterr().out
    assert "nothing sent" in printed and "sagemaker.CreateTrainingJob" in printed
    body = json.loads(printed[printed.index("{") :])
    assert body["EnableNetworkIsolation"] is True and body["VpcConfig"]["Subnets"] == SUBNETS
    assert body["HyperParameters"]["epochs"] == "2"


def test_dry_run_shows_exactly_what_a_real_launch_sends(aws, monkeypatch):
    monkeypatch.setattr("experiments.spec.secrets.token_hex", lambda n: "feedf00d")
    queue_reads(aws)
    dry = launch(aws, dry_run=True)
    queue_reads(aws)
    aws["sagemaker"].add_response("create_training_job", {"TrainingJobArn": "arn:aws:sagemaker:::training-job/x"})
    aws["sagemaker"].add_response("describe_training_job", aws.training_job("elasticml-dev-cnn-exp-feedf00d-1"))
    launch(aws)
    [sent] = aws.requests("sagemaker", "CreateTrainingJob")
    [shown] = [r.body for r in dry.requests]
    strip = lambda r: {k: v for k, v in r.items() if k != "TrainingJobName"}  # noqa: E731 (timestamped by the SDK)
    assert strip(shown) == strip(sent)


def test_wait_follows_the_job_and_prints_the_evaluation(aws):
    queue_reads(aws)
    name = "elasticml-dev-cnn-exp-x-1"
    sm = aws["sagemaker"]
    sm.add_response("create_training_job", {"TrainingJobArn": "arn:aws:sagemaker:::training-job/x"})
    sm.add_response("describe_training_job", aws.training_job(name))
    sm.add_response("describe_training_job", aws.training_job(name, "Completed"))
    aws["s3"].add_response(
        "get_object",
        {"Body": streaming_body(output_tarball(EVALUATION))},
        {"Bucket": ARTIFACT_BUCKET, "Key": f"training/cnn/{name}/output/output.tar.gz"},
    )
    printed = []
    result = launch(aws, wait=True, logs=False, out=printed.append)
    aws.assert_all_used()
    assert result.evaluation == EVALUATION
    report = printed[-1]
    assert "completed" in report and "accuracy        0.9123" in report and "macro_f1        0.8951" in report
    assert "dog" in report and "250" in report


def test_wait_reports_why_a_job_failed(aws):
    queue_reads(aws)
    name = "elasticml-dev-cnn-exp-x-1"
    aws["sagemaker"].add_response("create_training_job", {"TrainingJobArn": "arn:aws:sagemaker:::training-job/x"})
    aws["sagemaker"].add_response("describe_training_job", aws.training_job(name))
    aws["sagemaker"].add_response(
        "describe_training_job",
        aws.training_job(
            name, "Failed", failure="AlgorithmError: class 'cat' has no images under /opt/ml/input/data/train"
        ),
    )
    with pytest.raises(JobFailed, match="Failed: AlgorithmError: class 'cat' has no images"):
        launch(aws, wait=True, logs=False)


def test_log_follower_reads_through_the_experiment_session(aws):
    from sagemaker.core.utils.logs import CloudWatchLogsClient

    from experiments.trainer import follow_logs_with

    follow_logs_with(aws.session)
    assert CloudWatchLogsClient().client is aws.clients["logs"]
