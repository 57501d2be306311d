"""The training-job task: what the CDK's own task leaves out (spot, checkpoints, isolation, encryption)."""

from __future__ import annotations

import json

import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Match, Template

from infra.components.training_job import TrainingJobProps, TrainingJobTask
from infra.images import image_asset
from infra.metric_definitions import METRIC_DEFINITIONS_FILE, load_metric_definitions
from infra.rules import SYNC_TRAINING_ACTIONS
from infra.settings import TrainingSettings

from .conftest import as_list, bare_stack, definition, isolated_vpc, policy_statements

HYPERPARAMETERS = {"model": "cnn", "epochs": "3"}


def make_job(stub_sources, **overrides):
    stack = bare_stack()
    vpc = isolated_vpc(stack)
    key = kms.Key(stack, "Key")
    settings = dict(
        model="cnn",
        framework="pytorch",
        instance_type="ml.g5.xlarge",
        instance_count=2,
        volume_size_gb=30,
        use_spot=True,
        max_runtime_s=3600,
        max_wait_s=7200,
        quality_threshold=0.7,
        channels=("train", "validation"),
        hyperparameters=tuple(sorted(HYPERPARAMETERS.items())),
    )
    settings.update(overrides)
    props = TrainingJobProps(
        job_name_prefix="proj-dev-cnn",
        image=image_asset(stack, "Image", stub_sources.training_dir, FRAMEWORK="pytorch"),
        metric_definitions=load_metric_definitions(),
        data_bucket=s3.Bucket(stack, "Data", encryption_key=key),
        artifact_bucket=s3.Bucket(stack, "Artifacts", encryption_key=key),
        key=key,
        vpc=vpc,
        subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        s3_prefix_list_id="pl-s3",
    )
    job = TrainingJobTask(stack, "Job", settings=TrainingSettings(**settings), props=props)
    machine = sfn.StateMachine(stack, "Machine", definition_body=sfn.DefinitionBody.from_chainable(job.task))
    for statement in job.policy_statements:
        machine.add_to_role_policy(statement)
    return stack, job


@pytest.fixture(scope="module")
def template(stub_sources) -> Template:
    stack, _ = make_job(stub_sources)
    return Template.from_stack(stack)


@pytest.fixture(scope="module")
def state(template):
    return definition(template.to_json())["States"]["Train"]


def test_runs_the_job_to_completion(state):
    assert state["Type"] == "Task"
    assert state["Resource"] == "arn:${Token}:states:::sagemaker:createTrainingJob.sync"
    assert state["ResultPath"] == "$.training"


def test_job_name_comes_from_the_execution_name(state):
    assert state["Parameters"]["TrainingJobName.$"] == "States.Format('proj-dev-cnn-{}', $$.Execution.Name)"
    assert "TrainingJobName" not in state["Parameters"]


def test_managed_spot_with_max_wait_and_per_execution_checkpoints(state):
    p = state["Parameters"]
    assert p["EnableManagedSpotTraining"] is True
    assert p["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert p["CheckpointConfig"] == {
        "S3Uri.$": "States.Format('s3://${Token}/checkpoints/cnn/{}/', $$.Execution.Name)",
        "LocalPath": "/opt/ml/checkpoints",
    }


def test_without_spot_there_is_no_max_wait(stub_sources):
    stack, _ = make_job(stub_sources, use_spot=False, max_wait_s=0)
    p = definition(Template.from_stack(stack).to_json())["States"]["Train"]["Parameters"]
    assert "EnableManagedSpotTraining" not in p
    assert p["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}


def test_isolated_in_the_vpc_with_encryption(state):
    p = state["Parameters"]
    assert p["EnableNetworkIsolation"] is True
    assert p["EnableInterContainerTrafficEncryption"] is True
    assert len(p["VpcConfig"]["Subnets"]) == 2 and len(p["VpcConfig"]["SecurityGroupIds"]) == 1
    assert p["OutputDataConfig"]["KmsKeyId"] == "${Token}"
    # ml.g5 has NVMe instance storage: SageMaker refuses a volume key for it
    assert p["ResourceConfig"] == {"InstanceType": "ml.g5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 30}


def test_volume_key_on_types_without_instance_storage(stub_sources):
    stack, _ = make_job(stub_sources, instance_type="ml.c5.2xlarge")
    p = definition(Template.from_stack(stack).to_json())["States"]["Train"]["Parameters"]
    assert p["ResourceConfig"]["VolumeKmsKeyId"] == "${Token}"


def test_throttling_and_resource_limits_are_retried_with_backoff(state):
    (retry,) = state["Retry"]
    assert set(retry["ErrorEquals"]) >= {
        "SageMaker.AmazonSageMakerException",
        "SageMaker.ResourceLimitExceededException",
    }
    assert "States.TaskFailed" not in retry["ErrorEquals"] and "States.ALL" not in retry["ErrorEquals"]
    assert retry["BackoffRate"] > 1 and retry["MaxAttempts"] >= 3


def test_channels_hyperparameters_and_metric_definitions(state):
    p = state["Parameters"]
    assert [(c["ChannelName"], c["DataSource"]["S3DataSource"]["S3Uri"]) for c in p["InputDataConfig"]] == [
        ("train", "s3://${Token}/cnn/train/"),
        ("validation", "s3://${Token}/cnn/validation/"),
    ]
    assert p["HyperParameters"] == HYPERPARAMETERS
    assert p["AlgorithmSpecification"]["MetricDefinitions"] == json.loads(METRIC_DEFINITIONS_FILE.read_text())
    assert p["AlgorithmSpecification"]["TrainingInputMode"] == "File"


def test_state_machine_may_run_only_this_prefix_of_jobs(template):
    statements = [s for _, s in policy_statements(template.to_json())]
    sagemaker = next(s for s in statements if "sagemaker:CreateTrainingJob" in as_list(s["Action"]))
    assert sagemaker["Resource"] == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":sagemaker:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":training-job/proj-dev-cnn-*",
            ],
        ]
    }
    pass_role = next(s for s in statements if s["Action"] == "iam:PassRole")
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


def test_state_machine_holds_the_published_sync_policy_and_nothing_more_for_the_job(template):
    """ "IAM policies for Amazon SageMaker" (Step Functions guide), Run a Job (.sync)."""
    statements = [s for _, s in policy_statements(template.to_json())]
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert set(SYNC_TRAINING_ACTIONS) <= actions
    assert "sagemaker:AddTags" not in actions
    (list_tags,) = [s for s in statements if s["Action"] == "sagemaker:ListTags"]
    assert list_tags["Resource"] == "*"


def test_execution_role_reads_only_its_prefixes(template):
    statements = [s for _, s in policy_statements(template.to_json())]
    get_object = [s for s in statements if "s3:GetObject" in as_list(s["Action"])]
    resources = json.dumps([s["Resource"] for s in get_object])
    for prefix in ("/cnn/*", "/training/cnn/*", "/checkpoints/cnn/*"):
        assert prefix in resources
    assert all(s["Resource"] != "*" for s in get_object)
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Action": "s3:ListBucket", "Condition": {"StringLike": {"s3:prefix": ["cnn/*"]}}}
                        )
                    ]
                )
            }
        },
    )


def test_training_hosts_talk_to_each_other_and_https_to_s3_only(template):
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "SecurityGroupEgress": [
                Match.object_like(
                    {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "DestinationPrefixListId": "pl-s3"}
                )
            ]
        },
    )
    for kind in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"):
        for rule in (
            {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535},
            {"IpProtocol": "udp", "FromPort": 500, "ToPort": 500},
            {"IpProtocol": "50"},
        ):
            template.has_resource_properties(kind, rule)


def test_metric_definitions_file_is_checked(tmp_path):
    bad = tmp_path / "metrics.json"
    bad.write_text(json.dumps([{"Name": "a", "Regex": "x"}, {"Name": "a", "Regex": "y"}]))
    with pytest.raises(ValueError, match="duplicate metric names"):
        load_metric_definitions(bad)
    bad.write_text(json.dumps([{"Name": "a"}]))
    with pytest.raises(ValueError, match="exactly Name and Regex"):
        load_metric_definitions(bad)
    bad.write_text(json.dumps([{"Name": f"m{i}", "Regex": "x"} for i in range(41)]))
    with pytest.raises(ValueError, match="1 to 40 metric definitions"):
        load_metric_definitions(bad)


def test_the_mlp_gets_its_synthetic_channel_under_its_own_prefix(stub_sources):
    stack, job = make_job(
        stub_sources,
        model="mlp",
        framework="tensorflow",
        channels=("train", "test", "synthetic"),
        hyperparameters=(("model", "mlp"),),
    )
    p = definition(Template.from_stack(stack).to_json())["States"]["Train"]["Parameters"]
    assert [(c["ChannelName"], c["DataSource"]["S3DataSource"]["S3Uri"]) for c in p["InputDataConfig"]] == [
        ("train", "s3://${Token}/mlp/train/"),
        ("test", "s3://${Token}/mlp/test/"),
        ("synthetic", "s3://${Token}/mlp/synthetic/"),
    ]
    # the state machine may list this model's data prefix (the channel check), and nothing wider
    statements = [s for i, s in policy_statements(Template.from_stack(stack).to_json()) if i.startswith("Machine")]
    (listing,) = [s for s in statements if "s3:ListBucket" in as_list(s["Action"])]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["mlp/*"]}}
    assert isinstance(listing["Resource"], dict)  # the data bucket's ARN, not "*"
