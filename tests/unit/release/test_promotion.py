"""Promotion against a stubbed SageMaker (botocore's Stubber): every call and its parameters are those
the real API takes (the Stubber validates them against the service model), and every path is covered:
approved, rejected, another group, prod without dev, throttling, a failed deploy."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import ANY, Stubber

from release.promotion import Approval, DeployFailed, Target, promote, read_approval, register, source_record
from release.registry import PromotionError, Registry

DEV = Target(env="dev", project="elasticml", models=("cnn", "mlp"))
PROD = Target(env="prod", project="elasticml", models=("cnn", "mlp"), promote_from="dev")
NOW = "2026-12-07T01:00:00Z"
DEV_ACCOUNT, PROD_ACCOUNT = "111111111111", "222222222222"
ARTIFACT = f"s3://elasticml-dev-artifacts-{DEV_ACCOUNT}-eu-west-1/training/cnn/job-7/output/model.tar.gz"


def arn(env: str, version: int, model: str = "cnn") -> str:
    account = DEV_ACCOUNT if env == "dev" else PROD_ACCOUNT
    return f"arn:aws:sagemaker:eu-west-1:{account}:model-package/elasticml-{env}-{model}/{version}"


def description(package: str, status: str = "Approved", metadata: dict | None = None) -> dict:
    group = package.split("/")[1]
    out = {
        "ModelPackageName": group,
        "ModelPackageGroupName": group,
        "ModelPackageVersion": int(package.rsplit("/", 1)[1]),
        "ModelPackageArn": package,
        "CreationTime": "2026-12-01T00:00:00Z",
        "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
        "ModelApprovalStatus": status,
        "InferenceSpecification": {
            "Containers": [
                {"Image": f"{DEV_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/cdk-assets:abc", "ModelDataUrl": ARTIFACT}
            ],
            "SupportedContentTypes": ["image/png"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    }
    if metadata:
        out["CustomerMetadataProperties"] = metadata
    return out


def summary(package: str) -> dict:
    return {
        "ModelPackageArn": package,
        "ModelPackageGroupName": package.split("/")[1],
        "CreationTime": "2026-12-01T00:00:00Z",
        "ModelPackageStatus": "Completed",
        "ModelApprovalStatus": "Approved",
        "ModelPackageName": package.split("/")[1],
    }


class Deploys:
    """The deploy a promotion runs (cdk deploy of one serving stack): records, or fails."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail = fail

    def __call__(self, model: str, package: str) -> None:
        self.calls.append((model, package))
        if self.fail:
            raise DeployFailed("cdk deploy exited 1")


@pytest.fixture
def sagemaker():
    client = boto3.client("sagemaker", region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def registry(client, sleeps: list | None = None) -> Registry:
    return Registry(client, sleep=(sleeps.append if sleeps is not None else (lambda s: None)))


def approval(env: str, package: str, status: str = "Approved") -> Approval:
    return Approval(
        environment=env,
        model_package_arn=package,
        model_package_group=package.split("/")[1],
        model_approval_status=status,
    )


def expect_serving_lookup(stubber, group: str, serving: str | None, others: tuple[str, ...] = ()) -> None:
    packages = [*others, *([serving] if serving else [])]
    stubber.add_response(
        "list_model_packages",
        {"ModelPackageSummaryList": [summary(p) for p in packages]},
        {
            "ModelPackageGroupName": group,
            "ModelApprovalStatus": "Approved",
            "SortBy": "CreationTime",
            "SortOrder": "Descending",
            "MaxResults": 50,
        },
    )
    for p in packages:
        meta = {"serving_endpoint": group} if p == serving else {"served_in_dev": "2026-11-01T00:00:00Z"}
        stubber.add_response("describe_model_package", description(p, metadata=meta), {"ModelPackageName": p})


def test_an_approved_package_is_deployed_and_the_registry_says_it_serves(sagemaker):
    client, stubber = sagemaker
    new, old = arn("dev", 4), arn("dev", 3)
    stubber.add_response("describe_model_package", description(new), {"ModelPackageName": new})
    expect_serving_lookup(stubber, "elasticml-dev-cnn", serving=old, others=(new,))
    stubber.add_response("describe_model_package", description(new), {"ModelPackageName": new})
    stubber.add_response(
        "update_model_package",
        {"ModelPackageArn": new},
        {
            "ModelPackageArn": new,
            "CustomerMetadataProperties": {"serving_endpoint": "elasticml-dev-cnn", "served_in_dev": NOW},
        },
    )
    stubber.add_response(
        "update_model_package",
        {"ModelPackageArn": old},
        {"ModelPackageArn": old, "CustomerMetadataPropertiesToRemove": ["serving_endpoint"]},
    )
    deploys = Deploys()
    result = promote(approval("dev", new), DEV, registry(client), deploys, NOW)
    assert result.deployed and result.model == "cnn"
    assert deploys.calls == [("cnn", new)]


def refused(client, env: str, package: str, match: str, event_env: str | None = None) -> None:
    """The approval of `package` (an event of `event_env`, by default `env`) is refused with an error that
    says `match`, and nothing is deployed."""
    deploys = Deploys()
    with pytest.raises(PromotionError, match=match):
        promote(approval(event_env or env, package), PROD if env == "prod" else DEV, registry(client), deploys, NOW)
    assert deploys.calls == []


@pytest.mark.parametrize("event", ["Approved", "Rejected"])  # rejected since the approval; a rejection event
def test_a_rejected_package_is_not_deployed(sagemaker, event):
    client, stubber = sagemaker
    package = arn("dev", 5)
    stubber.add_response("describe_model_package", description(package, "Rejected"), {"ModelPackageName": package})
    deploys = Deploys()
    result = promote(approval("dev", package, event), DEV, registry(client), deploys, NOW)
    assert not result.deployed and "Rejected" in result.message
    assert deploys.calls == []


@pytest.mark.parametrize(
    "package",
    [
        "arn:aws:sagemaker:eu-west-1:111111111111:model-package/someone-elses-group/1",
        arn("prod", 1),  # prod's group, in dev's job
    ],
)
def test_a_package_of_another_group_is_ignored_without_calling_aws(sagemaker, package):
    client, _ = sagemaker  # no response stubbed: any call would fail
    deploys = Deploys()
    result = promote(approval("dev", package), DEV, registry(client), deploys, NOW)
    assert not result.deployed and "not a package of dev's groups" in result.message
    assert deploys.calls == []


def test_a_group_name_that_does_not_match_the_arn_is_ignored(sagemaker):
    client, _ = sagemaker
    forged = Approval("dev", arn("dev", 1, "mlp"), "elasticml-dev-cnn", "Approved")
    assert not promote(forged, DEV, registry(client), Deploys(), NOW).deployed


def test_an_approval_in_prod_of_a_package_that_never_served_in_dev_is_refused(sagemaker):
    client, stubber = sagemaker
    package = arn("prod", 2)  # e.g. trained in prod, or registered by hand
    stubber.add_response("describe_model_package", description(package), {"ModelPackageName": package})
    refused(client, "prod", package, "never served in dev")


def test_an_approval_in_prod_of_a_package_that_served_in_dev_is_deployed(sagemaker):
    client, stubber = sagemaker
    package = arn("prod", 3)
    meta = {"source_package_arn": arn("dev", 4), "served_in_dev": "2026-12-06T00:00:00Z"}
    stubber.add_response("describe_model_package", description(package, metadata=meta), {"ModelPackageName": package})
    expect_serving_lookup(stubber, "elasticml-prod-cnn", serving=None)
    stubber.add_response("describe_model_package", description(package, metadata=meta), {"ModelPackageName": package})
    stubber.add_response(
        "update_model_package",
        {"ModelPackageArn": package},
        {
            "ModelPackageArn": package,
            "CustomerMetadataProperties": {"serving_endpoint": "elasticml-prod-cnn", "served_in_prod": NOW},
        },
    )
    deploys = Deploys()
    assert promote(approval("prod", package), PROD, registry(client), deploys, NOW).deployed
    assert deploys.calls == [("cnn", package)]


def test_an_event_for_another_environment_is_refused(sagemaker):
    client, _ = sagemaker
    refused(client, "prod", arn("dev", 1), "this job deploys 'prod'", event_env="dev")


def test_throttling_is_retried_with_backoff(sagemaker):
    client, stubber = sagemaker
    package = arn("dev", 5)
    stubber.add_client_error("describe_model_package", "ThrottlingException", http_status_code=400)
    stubber.add_client_error("describe_model_package", "ThrottlingException", http_status_code=400)
    stubber.add_response("describe_model_package", description(package, "Rejected"), {"ModelPackageName": package})
    sleeps: list[float] = []
    result = promote(approval("dev", package), DEV, registry(client, sleeps), Deploys(), NOW)
    assert not result.deployed
    assert sleeps == [1.0, 2.0]


def test_throttling_past_the_retries_fails_before_anything_changes(sagemaker):
    client, stubber = sagemaker
    package = arn("dev", 5)
    for _ in range(5):
        stubber.add_client_error("describe_model_package", "ThrottlingException", http_status_code=400)
    refused(client, "dev", package, "throttled 5 times; nothing further was changed")


def test_another_error_is_not_retried(sagemaker):
    client, stubber = sagemaker
    stubber.add_client_error("describe_model_package", "ValidationException", http_status_code=400)
    with pytest.raises(Exception, match="ValidationException"):
        promote(approval("dev", arn("dev", 5)), DEV, registry(client, []), Deploys(), NOW)


def test_a_failed_deploy_leaves_the_registry_as_it_was(sagemaker):
    client, stubber = sagemaker
    new, old = arn("dev", 4), arn("dev", 3)
    stubber.add_response("describe_model_package", description(new), {"ModelPackageName": new})
    expect_serving_lookup(stubber, "elasticml-dev-cnn", serving=old)
    deploys = Deploys(fail=True)
    with pytest.raises(PromotionError, match=f"the registry still says {old} serves it"):
        promote(approval("dev", new), DEV, registry(client), deploys, NOW)
    assert deploys.calls == [("cnn", new)]  # no update_model_package was stubbed: none was made


def test_the_package_serving_already_is_not_deployed_again(sagemaker):
    client, stubber = sagemaker
    package = arn("dev", 4)
    stubber.add_response("describe_model_package", description(package), {"ModelPackageName": package})
    expect_serving_lookup(stubber, "elasticml-dev-cnn", serving=package)
    deploys = Deploys()
    assert not promote(approval("dev", package), DEV, registry(client), deploys, NOW).deployed
    assert deploys.calls == []


def test_the_served_package_is_registered_in_prod_as_the_same_artifact(sagemaker):
    client, stubber = sagemaker
    served = arn("dev", 4)
    stubber.add_response(
        "describe_model_package",
        description(served, metadata={"serving_endpoint": "elasticml-dev-cnn", "served_in_dev": NOW}),
        {"ModelPackageName": served},
    )
    record = source_record(registry(client), served, "dev")
    prod_image = f"{PROD_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/cdk-assets:abc"
    stubber.add_response(
        "list_model_packages",
        {"ModelPackageSummaryList": []},
        {"ModelPackageGroupName": "elasticml-prod-cnn", "SortBy": "CreationTime", "MaxResults": 100},
    )
    stubber.add_response(
        "create_model_package",
        {"ModelPackageArn": arn("prod", 1)},
        {
            "ModelPackageGroupName": "elasticml-prod-cnn",
            "ModelApprovalStatus": "PendingManualApproval",
            "ModelPackageDescription": ANY,
            "InferenceSpecification": {
                "Containers": [{"Image": prod_image, "ModelDataUrl": ARTIFACT}],
                "SupportedContentTypes": ["image/png"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            "CustomerMetadataProperties": {"source_package_arn": served, "served_in_dev": NOW},
        },
    )
    assert register(json.loads(json.dumps(record)), "cnn", PROD, registry(client), prod_image) == arn("prod", 1)


def test_a_package_that_never_served_in_dev_has_no_record_to_register(sagemaker):
    client, stubber = sagemaker
    package = arn("dev", 6)
    stubber.add_response("describe_model_package", description(package), {"ModelPackageName": package})
    with pytest.raises(PromotionError, match="has not served in dev"):
        source_record(registry(client), package, "dev")


def test_the_dispatch_event_is_read_and_bad_ones_name_the_key(tmp_path):
    event = tmp_path / "event.json"
    payload = {
        "environment": "dev",
        "model_package_arn": arn("dev", 4),
        "model_package_group": "elasticml-dev-cnn",
        "model_approval_status": "Approved",
    }
    event.write_text(json.dumps({"action": "model-approved", "client_payload": payload}))
    assert read_approval(event) == Approval(**payload)
    del payload["model_package_arn"]
    event.write_text(json.dumps({"action": "model-approved", "client_payload": payload}))
    with pytest.raises(PromotionError, match="client_payload.model_package_arn"):
        read_approval(event)
