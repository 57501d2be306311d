"""`python -m review` over four kinds of change (see conftest.CHANGES), each against the same base."""

from __future__ import annotations

import re

from tests.helpers.review_repo import setting


def test_a_tag_is_harmless(reviewed):
    result = reviewed["add_tag"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert "No stateful resource is replaced or deleted." in result.text
    assert "None." in result.section("Destructive changes to stateful resources")
    assert "None." in result.section("Access widening")
    assert "No finding appears or disappears." in result.section("cdk-nag findings")
    assert "No change moves cost" in result.section("Cost")
    diff = result.section("Diff per stack")
    assert "ml-platform" in diff and "[~] Tags" in diff  # the change is there, as an in-place update
    assert not re.search(r"\| elasticml-dev-\S+ \| \d+ \| \d+ \| \d+ \| [1-9]", result.text)  # nothing replaced


def test_replacing_the_data_bucket_fails_the_review(reviewed, rerun):
    result = reviewed["rename_data_bucket"]
    assert result.returncode == 1, result.text[:3000]
    assert "BLOCKED" in result.text
    destructive = result.section("Destructive changes to stateful resources")
    # the bucket has a fixed name: the replacement is not only data loss, the deploy itself fails
    assert re.search(
        r"\*\*S3 bucket\*\* `elasticml-dev-storage/Data/Bucket` \(AWS::S3::Bucket \w+\) would be "
        r"\*\*replaced, which fails at deploy\*\*: forced by BucketName; it has the fixed name",
        destructive,
    ), destructive
    assert "Artifacts/Bucket" not in destructive and "AccessLogs" not in destructive
    assert "destructive change" in result.stderr

    allowed = rerun(result, env={"ALLOW_DESTRUCTIVE": "1"})
    assert allowed.returncode == 0, allowed.stderr[-3000:]
    assert "allowed by ALLOW_DESTRUCTIVE=1" in allowed.text
    assert "Data/Bucket" in allowed.section("Destructive changes to stateful resources")


def test_an_iam_widening_is_reported(reviewed):
    result = reviewed["widen_s3_access"]
    assert result.returncode == 0, result.stderr[-3000:]  # widening is for the reviewer; it does not block
    widening = result.section("Access widening")
    assert re.search(
        r"`elasticml-dev-training` IAM Statement Changes: Resource: arn:\$\{AWS::Partition\}"
        r":s3:::elasticml-dev-data-\S+/\* \| Effect: Allow \| Action: s3:GetObject",
        widening,
    ), widening
    assert "narrow access" in widening  # the per-prefix statements it replaces
    appeared = result.section("cdk-nag findings").split("Disappeared:")[0]
    assert re.search(
        r"- open `AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:s3:::elasticml-dev-data-"
        r"<AWS::AccountId>-<AWS::Region>/\*\]` on `elasticml-dev-training/",
        appeared,
    ), appeared
    assert "No stateful resource is replaced or deleted." in result.text


def test_instance_type_changes_move_cost_by_the_price_table(reviewed, prices):
    result = reviewed["change_instance_types"]
    hours, runs = prices["hours_per_month"], prices["training_runs_per_month"]
    minimum = setting(result.repo, "dev.serving.cnn.min_capacity")
    pattern = prices["traffic_pattern"]  # a mode that scales to zero is priced for it (review/cost.py)
    instance_hours = (
        minimum * hours
        if minimum
        else pattern["active_days_per_month"] * (pattern["active_hours_per_day"] + pattern["scale_in_tail_hours"])
    )
    training_hours = setting(result.repo, "dev.training.mlp.max_runtime_s") / 3600
    serving_delta = round((prices["hosting"]["ml.c5.2xlarge"] - prices["hosting"]["ml.c5.xlarge"]) * instance_hours, 2)
    training_delta = round(
        (prices["training"]["ml.c5.xlarge"] - prices["training"]["ml.c5.2xlarge"]) * training_hours * runs, 2
    )
    assert serving_delta > 0 > training_delta

    assert result.returncode == 0, result.stderr[-3000:]
    cost = result.section("Cost")
    endpoint = next(line for line in cost.splitlines() if "endpoint elasticml-dev-cnn" in line)
    assert f"ml.c5.xlarge x {minimum}-2" in endpoint and f"ml.c5.2xlarge x {minimum}-2" in endpoint
    assert f"| +${serving_delta:,.2f} |" in endpoint, endpoint
    job = next(line for line in cost.splitlines() if "training MlpPipeline" in line)
    assert f"| -${abs(training_delta):,.2f} |" in job, job
    assert f"**Estimated monthly delta: +${serving_delta + training_delta:,.2f}**" in cost
    assert "endpoint elasticml-dev-mlp" not in cost  # unchanged endpoints are not listed
    # The endpoint config is immutable and replaced; the endpoint itself is updated in place.
    assert "Endpoint/Config` (AWS::SageMaker::EndpointConfig): replaced, forced by ProductionVariants" in result.text
    assert "No stateful resource is replaced or deleted." in result.text
    # A security gate threshold (cdk.json) changes the CNN state machine's definition, in place.
    diff = result.section("Diff per stack")
    assert re.search(r"min_robust_accuracy\W+0\.35", diff), diff
