"""The CloudFormation outputs `experiments/` reads (experiments/outputs.py), and the experiment endpoints'
model role and security group behind two of them."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Capture

from shared_names import MODEL_KINDS as MODELS
from shared_names import output_keys

from .conftest import as_list, image_assets, policy_statements, resources
from .test_iam import UNSCOPABLE

ENVS = ("dev", "prod")
IMAGE_URI = (
    r"^\$\{AWS::AccountId\}\.dkr\.ecr\.\$\{AWS::Region\}\.\$\{AWS::URLSuffix\}/"
    r"cdk-hnb659fds-container-assets-\$\{AWS::AccountId\}-\$\{AWS::Region\}:[0-9a-f]{64}$"
)


def training(synthesized, env):
    return synthesized.json(f"elasticml-{env}-training")


def network(synthesized, env):
    return synthesized.json(f"elasticml-{env}-network")


def get_att(template, output, suffix):
    """The logical id of the resource whose `suffix` attribute the output's value is."""
    value = template["Outputs"][output]["Value"]
    assert set(value) == {"Fn::GetAtt"} and value["Fn::GetAtt"][1] == suffix, (output, value)
    return value["Fn::GetAtt"][0]


def exported_value(synthesized, env, imported):
    """What the network stack exports under the name an `Fn::ImportValue` of the training stack reads."""
    name = imported["Fn::ImportValue"]
    exports = {o["Export"]["Name"]: o["Value"] for o in network(synthesized, env)["Outputs"].values() if "Export" in o}
    return exports[name]


def experiment_role_statements(synthesized, env, model):
    template = training(synthesized, env)
    role = get_att(template, f"{model.capitalize()}ExperimentModelRoleArn", "Arn")
    policies = [
        k for k, p in resources(template, "AWS::IAM::Policy").items() if {"Ref": role} in p["Properties"]["Roles"]
    ]
    assert len(policies) == 1, policies
    return [s for logical_id, s in policy_statements(template) if logical_id == policies[0]]


@pytest.mark.parametrize("env", ENVS)
def test_isolated_subnet_ids_are_the_subnets_training_jobs_use(synthesized, env):
    template = network(synthesized, env)
    subnets = Capture()
    synthesized.template(f"elasticml-{env}-network").has_output(
        "IsolatedSubnetIds", {"Value": {"Fn::Join": [",", subnets]}}
    )
    ids = [ref["Ref"] for ref in subnets.as_array()]
    assert sorted(ids) == sorted(resources(template, "AWS::EC2::Subnet")) and len(ids) == 2
    assert all("isolated" in i for i in ids)
    machine = next(iter(resources(training(synthesized, env), "AWS::StepFunctions::StateMachine").values()))
    imported = {
        json.dumps(exported_value(synthesized, env, {"Fn::ImportValue": name}))
        for name in _imports(machine["Properties"]["DefinitionString"])
        if "Subnet" in name
    }
    assert imported == {json.dumps({"Ref": i}) for i in ids}


def _imports(value):
    if isinstance(value, dict):
        if set(value) == {"Fn::ImportValue"}:
            yield value["Fn::ImportValue"]
        for v in value.values():
            yield from _imports(v)
    elif isinstance(value, list):
        for v in value:
            yield from _imports(v)


@pytest.mark.parametrize("env", ENVS)
def test_image_uris_name_the_training_and_inference_assets(synthesized, env):
    template = synthesized.template(f"elasticml-{env}-training")
    tags = image_assets(synthesized, f"elasticml-{env}-training")
    images = {}
    for output in [f"{m.capitalize()}{kind}ImageUri" for m in MODELS for kind in ("Training", "Inference")]:
        uri = Capture()
        template.has_output(output, {"Value": {"Fn::Sub": uri}})
        assert re.fullmatch(IMAGE_URI, uri.as_string()) and uri.as_string().split(":")[-1] in tags, output
        images[output] = tags[uri.as_string().split(":")[-1]]
    assert images == {
        "CnnTrainingImageUri": ("training", "pytorch"),
        "CnnInferenceImageUri": ("inference", "pytorch"),
        "MlpTrainingImageUri": ("training", "tensorflow"),
        "MlpInferenceImageUri": ("inference", "tensorflow"),
    }


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("model", MODELS)
def test_training_role_and_security_group_are_the_jobs(synthesized, env, model):
    template = training(synthesized, env)
    m = model.capitalize()
    role = get_att(template, f"{m}TrainingRoleArn", "Arn")
    group = get_att(template, f"{m}TrainingSecurityGroupId", "GroupId")
    assert role.startswith(f"{m}TrainingJobExecutionRole") and role in resources(template, "AWS::IAM::Role")
    assert group.startswith(f"{m}TrainingJobSecurityGroup") and group in resources(template, "AWS::EC2::SecurityGroup")
    machine = next(
        v for k, v in resources(template, "AWS::StepFunctions::StateMachine").items() if k.startswith(f"{m}Pipeline")
    )
    definition = json.dumps(machine["Properties"]["DefinitionString"])
    assert json.dumps({"Fn::GetAtt": [role, "Arn"]}) in definition
    assert json.dumps({"Fn::GetAtt": [group, "GroupId"]}) in definition


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("model", MODELS)
def test_experiment_security_group_allows_only_https_to_s3(synthesized, env, model):
    template = training(synthesized, env)
    group = get_att(template, f"{model.capitalize()}ExperimentSecurityGroupId", "GroupId")
    properties = resources(template, "AWS::EC2::SecurityGroup")[group]["Properties"]
    egress = properties["SecurityGroupEgress"]
    assert len(egress) == 1 and "SecurityGroupIngress" not in properties
    assert {k: v for k, v in egress[0].items() if k != "DestinationPrefixListId"} == {
        "IpProtocol": "tcp",
        "FromPort": 443,
        "ToPort": 443,
        "Description": "HTTPS to S3 through the gateway endpoint",
    }
    prefix_list = exported_value(synthesized, env, egress[0]["DestinationPrefixListId"])
    lookup = next(iter(resources(network(synthesized, env), "Custom::AWS")))
    assert prefix_list == {"Fn::GetAtt": [lookup, "PrefixLists.0.PrefixListId"]}
    for kind in ("AWS::EC2::SecurityGroupEgress", "AWS::EC2::SecurityGroupIngress"):
        assert not [
            r
            for r in resources(template, kind).values()
            if {"Fn::GetAtt": [group, "GroupId"]} in r["Properties"].values()
        ], kind


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("model", MODELS)
def test_experiment_model_role_is_trusted_by_sagemaker_only(synthesized, env, model):
    template = training(synthesized, env)
    role = get_att(template, f"{model.capitalize()}ExperimentModelRoleArn", "Arn")
    trust = resources(template, "AWS::IAM::Role")[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}}
    ]


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("model", MODELS)
def test_experiment_model_role_is_scoped(synthesized, env, model):
    statements = experiment_role_statements(synthesized, env, model)
    by_action = {}
    for s in statements:
        assert s["Effect"] == "Allow"
        for action in as_list(s["Action"]):
            assert "*" not in action, action
            by_action.setdefault(action, []).append(s)
        if "*" in as_list(s["Resource"]):
            assert set(as_list(s["Action"])) <= UNSCOPABLE, s
    # S3: read only, only the model's artifact prefix of this environment's artifact bucket.
    s3_actions = {a for a in by_action if a.startswith("s3:")}
    assert s3_actions == {"s3:GetObject", "s3:ListBucket"}
    get = [json.dumps(r) for s in by_action["s3:GetObject"] for r in as_list(s["Resource"])]
    assert len(get) == 1 and f":s3:::elasticml-{env}-artifacts-" in get[0] and f'/training/{model}/*"' in get[0]
    listing = by_action["s3:ListBucket"]
    assert [s["Condition"] for s in listing] == [{"StringLike": {"s3:prefix": [f"training/{model}/*"]}}]
    # KMS: the project key, no encryption actions beyond what SageMaker needs for instance storage.
    kms = [s for s in statements if any(a.startswith("kms:") for a in as_list(s["Action"]))]
    assert {a for s in kms for a in as_list(s["Action"])} == {
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:CreateGrant",
    }
    assert all(
        [json.dumps(r) for r in as_list(s["Resource"])]
        == [
            json.dumps(
                {"Fn::ImportValue": f"elasticml-{env}-storage:ExportsOutputFnGetAttProjectKey99EBDA78Arn2D6A48DF"}
            )
        ]
        for s in kms
    ), kms
    # ECR: pull from the asset repository; only the token is account-wide.
    pulls = [
        json.dumps(s["Resource"]) for a in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer") for s in by_action[a]
    ]
    assert all("cdk-hnb659fds-container-assets" in r for r in pulls)
    # Logs: the experiment endpoints' log groups only.
    log_resources = [json.dumps(r) for s in by_action["logs:PutLogEvents"] for r in as_list(s["Resource"])]
    assert len(log_resources) == 1
    assert log_resources[0].endswith(f':log-group:/aws/sagemaker/Endpoints/elasticml-{env}-{model}-exp-*:*"]]}}')
    # Metrics: SageMaker's endpoint namespaces only.
    assert [s.get("Condition") for s in by_action["cloudwatch:PutMetricData"]] == [
        {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/Endpoints*"}}
    ]
    # VPC: the mutating ENI actions on this account's resources; only the Describe actions on `*`.
    for action in ("ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface"):
        for s in by_action[action]:
            assert "*" not in as_list(s["Resource"])
            assert all(":ec2:" in json.dumps(r) for r in as_list(s["Resource"]))


@pytest.mark.parametrize("env", ENVS)
def test_experiment_model_role_differs_per_model(synthesized, env):
    template = training(synthesized, env)
    roles = {get_att(template, f"{m.capitalize()}ExperimentModelRoleArn", "Arn") for m in MODELS}
    groups = {get_att(template, f"{m.capitalize()}ExperimentSecurityGroupId", "GroupId") for m in MODELS}
    assert len(roles) == len(groups) == len(MODELS)


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("model", MODELS)
def test_every_output_experiments_reads_exists(synthesized, env, model):
    keys = output_keys(model)  # what experiments/outputs.py reads
    assert len(keys) == 11 and keys["model_role_arn"] == ("training", f"{model.capitalize()}ExperimentModelRoleArn")
    for field, (part, key) in keys.items():
        assert key in synthesized.json(f"elasticml-{env}-{part}")["Outputs"], (field, part, key)
