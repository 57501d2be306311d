"""A release of one environment (stubbed AWS, recorded commands) and the offline release plan."""

from __future__ import annotations

import re
import subprocess

import boto3
import pytest
from botocore.stub import Stubber

from infra.settings import SettingsError
from release import environment as environments
from release.deploy import release
from release.plan import render
from release.registry import PromotionError, Registry

HEAD = "b" * 40
DEPLOYED = "a" * 40


def client(service: str):
    return boto3.client(service, region_name="eu-west-1", aws_access_key_id="t", aws_secret_access_key="t")


def stacks_response(commit: str | None) -> dict:
    outputs = [{"OutputKey": "DeployedCommit", "OutputValue": commit}] if commit else []
    return {
        "Stacks": [
            {
                "StackName": "elasticml-dev-ci-access",
                "CreationTime": "2026-12-01T00:00:00Z",
                "StackStatus": "UPDATE_COMPLETE",
                "Outputs": outputs,
            }
        ]
    }


def test_the_environment_is_read_from_cdk_json():
    prod = environments.load("prod")
    assert prod.target.promote_from == "dev" and prod.target.models == ("cnn", "mlp")
    assert prod.deploy_role_arn == "arn:aws:iam::222222222222:role/elasticml-prod-github-deploy"
    assert prod.stacks()[-1] == "elasticml-prod-ci-access"
    with pytest.raises(SettingsError, match="unknown environment 'staging'"):
        environments.load("staging")


def test_a_release_deploys_what_the_registry_says_serves_then_records_the_commit():
    dev = environments.load("dev")
    sagemaker, cloudformation = client("sagemaker"), client("cloudformation")
    serving = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/elasticml-dev-cnn/3"
    with Stubber(sagemaker) as sm, Stubber(cloudformation) as cfn:
        cfn.add_response("describe_stacks", stacks_response(DEPLOYED), {"StackName": "elasticml-dev-ci-access"})
        for group, packages in (("elasticml-dev-cnn", [serving]), ("elasticml-dev-mlp", [])):
            sm.add_response(
                "list_model_packages",
                {
                    "ModelPackageSummaryList": [
                        {
                            "ModelPackageArn": p,
                            "CreationTime": "2026-12-01T00:00:00Z",
                            "ModelPackageStatus": "Completed",
                            "ModelPackageName": group,
                        }
                        for p in packages
                    ]
                },
            )
            for p in packages:
                sm.add_response(
                    "describe_model_package",
                    {
                        "ModelPackageName": group,
                        "ModelPackageArn": p,
                        "CreationTime": "2026-12-01T00:00:00Z",
                        "ModelPackageStatus": "Completed",
                        "ModelPackageStatusDetails": {"ValidationStatuses": []},
                        "CustomerMetadataProperties": {"serving_endpoint": "elasticml-dev-cnn"},
                    },
                )
        ran: list[list[str]] = []
        release(
            dev, registry=Registry(sagemaker), cloudformation=cloudformation, head=HEAD, tagged=DEPLOYED, run=ran.append
        )
    first, access, tag, push = ran
    assert first[:4] == ["npx", "--no-install", "cdk", "deploy"]
    deployed = first[4 : first.index("--exclusively")]
    # mlp has no package serving: its stack is left out, never deployed without a version
    assert deployed == [
        "elasticml-dev-storage",
        "elasticml-dev-network",
        "elasticml-dev-training",
        "elasticml-dev-serving-cnn",
    ]
    assert f"cnn_model_package_arn={serving}" in first and "env=dev" in first
    assert access[4] == "elasticml-dev-ci-access" and f"deployed_commit={HEAD}" in access
    assert tag == ["git", "tag", "-f", "deployed/dev", HEAD]
    assert push == ["git", "push", "-f", "origin", "refs/tags/deployed/dev"]


@pytest.mark.parametrize("recorded, tagged", [(DEPLOYED, HEAD), (None, DEPLOYED), (DEPLOYED, None)])
def test_a_release_refuses_when_the_recorded_commit_is_not_the_reviewed_one(recorded, tagged):
    dev = environments.load("dev")
    cloudformation = client("cloudformation")
    with Stubber(cloudformation) as cfn:
        cfn.add_response("describe_stacks", stacks_response(recorded), {"StackName": "elasticml-dev-ci-access"})
        ran: list = []
        with pytest.raises(PromotionError, match="the review was made against the tag"):
            release(
                dev,
                registry=Registry(client("sagemaker")),
                cloudformation=cloudformation,
                head=HEAD,
                tagged=tagged,
                run=ran.append,
            )
    assert ran == []


def test_the_first_release_finds_no_access_stack_and_no_tag():
    dev = environments.load("dev")
    cloudformation = client("cloudformation")
    with Stubber(cloudformation) as cfn:
        cfn.add_client_error(
            "describe_stacks", "ValidationError", "Stack with id elasticml-dev-ci-access does not exist"
        )
        from release.deploy import check_recorded

        check_recorded(cloudformation, dev, None)


def test_the_plan_lists_the_stacks_the_versions_and_the_review():
    prod = environments.load("prod")
    text = render(prod, head=HEAD, deployed=DEPLOYED, versions={}, review="# Infrastructure review\n\n1 change")
    stacks = [line for line in text.splitlines() if re.match(r"\d+\. `", line)]
    assert [s.split("`")[1] for s in stacks] == prod.stacks()
    assert "resolved at deploy" in stacks[3] and "DeployedCommit" in stacks[-1]
    assert "only a package that served in dev" in text
    assert text.rstrip().endswith("1 change")
    first = render(prod, head=HEAD, deployed=None, versions={"cnn": "arn:x"}, review=None)
    assert "a first release" in first and "serves `arn:x` (given)" in first and "every stack is new" in first


def test_release_plan_runs_offline_from_the_command_line():
    result = subprocess.run(
        [".venv/bin/python", "-m", "release", "plan", "--env", "prod", "--no-review"],
        cwd=environments.PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"},
    )
    assert result.returncode == 0, result.stderr
    assert "# Release plan: elasticml-prod" in result.stdout and "elasticml-prod-ci-access" in result.stdout
    bad = subprocess.run(
        [".venv/bin/python", "-m", "release", "plan", "--env", "nope"],
        cwd=environments.PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "env: unknown environment 'nope'" in bad.stderr
