"""Each error a user meets says what is wrong and what to do, through the CLI (exit 2, no traceback)."""

from __future__ import annotations

import boto3
import pytest

from experiments import cli
from tests.helpers.experiments_stubs import DATA_BUCKET, ENV, REGION

TRAIN = f"s3://{DATA_BUCKET}/cnn/train/"


def run(aws_session, capsys, *extra):
    status = cli.main(["launch", "--env", ENV, "--model", "cnn", "--train", TRAIN, *extra], boto_session=aws_session)
    return status, capsys.readouterr().err


def test_stack_not_deployed_names_it_and_says_how_to_deploy(aws, capsys):
    aws.stacks(only=("storage",))
    aws.stack_missing("elasticml-dev-network", others=["elasticml-dev-storage"])
    status, err = run(aws.session, capsys)
    assert status == 2
    assert "Stack elasticml-dev-network is not deployed in eu-west-1" in err
    assert "npx cdk deploy elasticml-dev-network -c env=dev" in err
    assert "Traceback" not in err


def test_a_region_without_the_stacks_says_so(aws, capsys):
    aws.stack_missing("elasticml-dev-storage", others=["someone-elses-stack"])
    status, err = run(aws.session, capsys)
    assert status == 2
    assert f"no elasticml stack is: is {REGION} the region the platform was deployed in?" in err
    assert "--region" in err


def test_missing_output_asks_for_a_redeploy(aws, capsys):
    aws.stacks(drop=("training", "CnnTrainingRoleArn"))
    status, err = run(aws.session, capsys)
    assert status == 2
    assert "Stack elasticml-dev-training has no output CnnTrainingRoleArn" in err and "redeploy" in err


def test_no_credentials(capsys):
    session = boto3.Session(region_name=REGION)  # conftest: no profile, no keys, no metadata service
    status, err = run(session, capsys)
    assert status == 2
    assert "No AWS credentials found" in err and "aws configure" in err


def test_no_region(capsys):
    status, err = run(boto3.Session(aws_access_key_id="a", aws_secret_access_key="b"), capsys)
    assert status == 2
    assert "No AWS region configured" in err


def test_expired_credentials_read_as_credentials(aws, capsys):
    aws["cloudformation"].add_client_error(
        "describe_stacks", "ExpiredToken", "The security token included in the request is expired", 403
    )
    status, err = run(aws.session, capsys)
    assert status == 2
    assert "No AWS credentials found" in err and "expired" in err


@pytest.mark.parametrize(
    "uri, calls",
    [
        (f"s3://{DATA_BUCKET}/cnn/train/", ["list"]),
        (f"s3://{DATA_BUCKET}/cnn/train.npz", ["head", "list"]),
    ],
)
def test_an_s3_uri_that_does_not_exist(aws, capsys, uri, calls):
    aws.stacks()
    key = uri.split(DATA_BUCKET + "/", 1)[1]
    if "head" in calls:
        aws["s3"].add_client_error("head_object", "404", "Not Found", 404, {"Bucket": DATA_BUCKET, "Key": key})
    prefix = key if key.endswith("/") else key + "/"
    aws.prefix_exists(DATA_BUCKET, prefix, count=0)
    status = cli.main(["launch", "--env", ENV, "--model", "cnn", "--train", uri, "--dry-run"], boto_session=aws.session)
    err = capsys.readouterr().err
    assert status == 2
    assert f"{uri} does not exist" in err and "aws s3 sync" in err
    aws.assert_all_used()


def test_data_outside_the_roles_prefix_is_refused_before_anything_is_sent(aws, capsys):
    aws.stacks()
    status = cli.main(
        ["launch", "--env", ENV, "--model", "cnn", "--train", f"s3://{DATA_BUCKET}/mlp/train/"],
        boto_session=aws.session,
    )
    err = capsys.readouterr().err
    assert status == 2
    assert f"use s3://{DATA_BUCKET}/cnn/<prefix>/" in err
    assert aws.sent.get("s3") is None and aws.sent.get("sagemaker") is None


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("model=mlp", "contradicts --model cnn"),
        ("checkpoint_dir=/tmp/ckpt", "must stay /opt/ml/checkpoints"),
        ("epochs", "--set expects key=value"),
    ],
)
def test_hyperparameters_that_would_break_a_guardrail(aws, capsys, assignment, message):
    status, err = run(aws.session, capsys, "--set", assignment)
    assert status == 2 and message in err
    assert aws.sent == {}


def test_access_denied_is_reported_not_a_traceback(aws, capsys):
    aws["cloudformation"].add_client_error(
        "describe_stacks",
        "AccessDenied",
        "User: arn:aws:iam::1:user/ds is not authorized to perform: cloudformation:DescribeStacks",
        403,
    )
    status, err = run(aws.session, capsys)
    assert status == 2
    assert "Access denied by AWS" in err and "cloudformation:DescribeStacks" in err
