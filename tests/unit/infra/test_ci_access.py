"""The access stack of the release workflow: OIDC trust, what the deploy role may do, the approval rule;
the `ci` settings; and that cdk-nag visits every stack of the app."""

from __future__ import annotations

import copy
import json

import pytest
from aws_cdk import App, Stack, Stage
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from infra.ci_settings import load_ci_settings
from infra.nag import add_checks, census
from infra.settings import SettingsError, load_settings
from infra.stacks.ci_access_stack import CiAccessStack

from .conftest import as_list, base_context, policy_statements, resources

HOST = "token.actions.githubusercontent.com"
ACCOUNTS = {"dev": "111111111111", "prod": "222222222222"}


def access(synthesized, env: str) -> dict:
    return synthesized.json(f"elasticml-{env}-ci-access")


def role(template: dict) -> dict:
    """The deploy role (the only role with a fixed name; the events role for the API destination is the other)."""
    (found,) = [r for r in resources(template, "AWS::IAM::Role").values() if r["Properties"].get("RoleName")]
    return found


def deploy_statements(template: dict) -> list[dict]:
    return [s for logical_id, s in policy_statements(template) if logical_id.startswith("DeployPolicy")]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_role_trusts_only_this_repository_in_this_github_environment(synthesized, env):
    template = access(synthesized, env)
    trust = role(template)["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert len(trust) == 1
    (statement,) = trust
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            f"{HOST}:aud": "sts.amazonaws.com",
            f"{HOST}:sub": f"repo:example-org/elastic-ml:environment:{env}",
        }
    }
    (provider_id,) = resources(template, "AWS::IAM::OIDCProvider")
    assert statement["Principal"] == {"Federated": {"Fn::GetAtt": [provider_id, "Arn"]}}
    provider = resources(template, "AWS::IAM::OIDCProvider")[provider_id]["Properties"]
    assert provider["Url"] == f"https://{HOST}" and provider["ClientIdList"] == ["sts.amazonaws.com"]
    assert role(template)["Properties"]["RoleName"] == f"elasticml-{env}-github-deploy"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_role_may_only_assume_the_bootstrap_roles_run_training_and_use_the_registry(synthesized, env):
    statements = deploy_statements(access(synthesized, env))
    actions = {a for s in statements for a in as_list(s["Action"])}
    expected = {
        "sts:AssumeRole",
        "states:StartExecution",
        "states:DescribeStateMachine",
        "states:DescribeExecution",
        "states:StopExecution",
        "kms:GenerateDataKey",
        "kms:Decrypt",
        "sagemaker:DescribeModelPackage",
        "sagemaker:UpdateModelPackage",
        "sagemaker:DescribeModelPackageGroup",
        "sagemaker:ListModelPackages",
    }
    assert actions == expected | ({"sagemaker:CreateModelPackage"} if env == "prod" else set())
    assume = next(s for s in statements if s["Action"] == "sts:AssumeRole")
    names = [json.dumps(r) for r in as_list(assume["Resource"])]
    assert len(names) == 4
    for purpose in ("deploy", "file-publishing", "image-publishing", "lookup"):
        assert any(f"role/cdk-hnb659fds-{purpose}-role-" in n for n in names), purpose


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_no_star_resource_beyond_the_actions_aws_documents_without_one(synthesized, env):
    template = access(synthesized, env)
    for logical_id, statement in policy_statements(template):
        if "*" in as_list(statement["Resource"]):
            # ListModelPackages has no resource type: https://docs.aws.amazon.com/service-authorization/
            # latest/reference/list_amazonsagemaker.html
            assert as_list(statement["Action"]) == ["sagemaker:ListModelPackages"], (logical_id, statement)
    registry = [s for s in deploy_statements(template) if "sagemaker:UpdateModelPackage" in as_list(s["Action"])]
    for statement in registry:
        for resource in as_list(statement["Resource"]):
            text = json.dumps(resource)
            assert f"elasticml-{env}-cnn" in text or f"elasticml-{env}-mlp" in text, text


def test_the_key_use_is_the_project_key_through_step_functions_for_the_state_machines(synthesized):
    (statement,) = [s for s in deploy_statements(access(synthesized, "dev")) if "kms:Decrypt" in as_list(s["Action"])]
    conditions = statement["Condition"]
    assert conditions["ForAnyValue:StringEquals"] == {"kms:ResourceAliases": "alias/elasticml-dev"}
    assert json.dumps(conditions["StringEquals"]["kms:ViaService"]).count("states.") == 1
    machines = json.dumps(conditions["StringLike"]["kms:EncryptionContext:aws:states:stateMachineArn"])
    assert "stateMachine:elasticml-dev-cnn" in machines and "stateMachine:elasticml-dev-mlp" in machines


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_an_approval_in_this_environments_groups_is_dispatched_to_github(synthesized, env):
    template = access(synthesized, env)
    (rule,) = resources(template, "AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.sagemaker"]
    assert pattern["detail-type"] == ["SageMaker Model Package State Change"]
    assert pattern["detail"] == {
        "ModelPackageGroupName": [f"elasticml-{env}-cnn", f"elasticml-{env}-mlp"],
        "ModelApprovalStatus": ["Approved"],
    }
    (destination,) = resources(template, "AWS::Events::ApiDestination").values()
    assert (
        destination["Properties"]["InvocationEndpoint"]
        == "https://api.github.com/repos/example-org/elastic-ml/dispatches"
    )
    (target,) = rule["Properties"]["Targets"]
    payload = target["InputTransformer"]["InputTemplate"]
    assert '"event_type":"model-approved"' in payload and f'"environment":"{env}"' in payload
    (connection,) = resources(template, "AWS::Events::Connection").values()
    secret = json.dumps(connection["Properties"]["AuthParameters"]["ApiKeyAuthParameters"]["ApiKeyValue"])
    assert f"resolve:secretsmanager:elasticml-{env}/github-dispatch-token" in secret


def test_no_deployed_commit_output_unless_given(synthesized):
    assert "DeployedCommit" not in access(synthesized, "dev").get("Outputs", {})


def _stack(tmp_path, **overrides) -> Template:
    context = base_context()
    for key, value in overrides.items():
        context["ci"]["environments"]["dev"][key] = value
    settings = load_settings(context, "dev")
    app = App(context={k: v for k, v in context.items() if k.startswith("@")}, outdir=str(tmp_path))
    stack = CiAccessStack(
        app,
        "Access",
        settings=settings,
        ci=load_ci_settings(context),
        deployed_commit="a" * 40,
        description="test",
    )
    return Template.from_stack(stack)


def test_an_existing_provider_is_taken_by_arn(tmp_path):
    arn = f"arn:aws:iam::{ACCOUNTS['dev']}:oidc-provider/{HOST}"
    template = _stack(tmp_path, oidc_provider_arn=arn, promotion_events=False).to_json()
    assert not resources(template, "AWS::IAM::OIDCProvider")
    assert not resources(template, "AWS::Events::Rule")
    trust = role(template)["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Federated": arn}
    assert template["Outputs"]["DeployedCommit"]["Value"] == "a" * 40


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda ci: ci.update(github_owner="-bad-"), "ci.github_owner"),
        (lambda ci: ci.update(github_repository="a b"), "ci.github_repository"),
        (
            lambda ci: ci["environments"]["dev"].update(github_environment="dev env"),
            "ci.environments.dev.github_environment",
        ),
        (
            lambda ci: ci["environments"]["dev"].update(
                oidc_provider_arn="arn:aws:iam::111111111111:oidc-provider/example.com"
            ),
            "ci.environments.dev.oidc_provider_arn",
        ),
        (
            lambda ci: ci["environments"]["dev"].update(
                oidc_provider_arn=f"arn:aws:iam::222222222222:oidc-provider/{HOST}"
            ),
            "ci.environments.dev.oidc_provider_arn",
        ),
        (lambda ci: ci["environments"]["prod"].update(promote_from="prod"), "ci.environments.prod.promote_from"),
        (lambda ci: ci["environments"]["prod"].update(github_environment="dev"), "ci.environments"),
        (lambda ci: ci["environments"].update(staging={"github_environment": "staging"}), "ci.environments"),
        (lambda ci: ci["environments"]["dev"].update(extra=1), "ci.environments.dev: unknown key(s) extra"),
        (lambda ci: ci.pop("github_owner"), "ci.github_owner: missing"),
    ],
)
def test_bad_ci_settings_are_refused_naming_the_key(change, key):
    context = copy.deepcopy(base_context())
    change(context["ci"])
    with pytest.raises(SettingsError, match=key.replace(".", r"\.").replace("(", r"\(").replace(")", r"\)")):
        load_ci_settings(context)


def test_promotion_needs_both_accounts_known():
    context = copy.deepcopy(base_context())
    context["environments"]["dev"]["account"] = None
    with pytest.raises(SettingsError, match=r"ci\.environments\.prod\.promote_from: .*environments\.dev\.account"):
        load_ci_settings(context)


def test_nag_visits_every_stack_of_the_app(synthesized):
    app = next(iter(synthesized.stacks.values())).node.root
    stacks = {c.stack_name for c in app.node.find_all() if isinstance(c, Stack)}
    assert census(app).stacks == stacks
    assert {f"elasticml-{env}-ci-access" for env in ("dev", "prod")} <= stacks


def test_the_census_would_see_a_stack_inside_a_stage(tmp_path):
    """The checks are registered as validation plugins, not as an aspect on the App: they reach a
    stack inside a Stage too. The census is what the test above compares, so it must be able to tell."""
    app = App(outdir=str(tmp_path))
    plain = Stack(app, "Plain")
    staged = Stack(Stage(app, "Staged"), "Inner")
    for stack in (plain, staged):
        sns.Topic(stack, "Topic", enforce_ssl=True)
    add_checks(app)
    try:
        app.synth()
    except Exception:  # the packs' findings on the bare topics fail synth; the census ran already
        pass
    assert census(app).stacks == {plain.stack_name, staged.stack_name}


def test_dev_lets_only_prods_tagged_model_roles_read_its_model_artifacts(synthesized):
    storage = synthesized.json("elasticml-dev-storage")
    (policy,) = [
        p for p in resources(storage, "AWS::S3::BucketPolicy").values() if "PromotedModelReads" in json.dumps(p)
    ]
    (statement,) = [
        s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s.get("Sid", "").startswith("Promoted")
    ]
    assert statement["Sid"] == "PromotedModelReads222222222222"
    assert statement["Action"] == "s3:GetObject"
    assert "222222222222" in json.dumps(statement["Principal"])
    objects = json.dumps(statement["Resource"])
    assert "/training/cnn/*/output/model.tar.gz" in objects and "/training/mlp/*/output/model.tar.gz" in objects
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalTag/elasticml:reads-models-of": "dev"}}
    (key,) = resources(storage, "AWS::KMS::Key").values()
    (grant,) = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid", "").startswith("Promoted")]
    assert grant["Action"] == "kms:Decrypt"
    conditions = grant["Condition"]["StringEquals"]
    assert conditions["aws:PrincipalTag/elasticml:reads-models-of"] == "dev"
    assert "s3." in json.dumps(conditions["kms:ViaService"]) and "kms:EncryptionContext:aws:s3:arn" in conditions
    # prod takes from nobody's: its buckets grant no other account
    assert "PromotedModelReads" not in json.dumps(synthesized.json("elasticml-prod-storage"))


def test_prods_model_role_reads_the_dev_artifact_and_nothing_else_of_dev(synthesized):
    template = synthesized.json("elasticml-prod-serving-cnn")
    statements = [s for _, s in policy_statements(template) if s.get("Sid", "").startswith("PromotedModel")]
    by_sid = {s["Sid"]: s for s in statements}
    assert by_sid["PromotedModelArtifact"]["Resource"] == (
        "arn:aws:s3:::elasticml-dev-artifacts-111111111111-eu-west-1/training/cnn/*/output/model.tar.gz"
    )
    key = by_sid["PromotedModelKey"]
    assert key["Resource"] == "arn:aws:kms:eu-west-1:111111111111:key/*"
    assert key["Condition"]["StringEquals"] == {
        "kms:ViaService": "s3.eu-west-1.amazonaws.com",
        "kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::elasticml-dev-artifacts-111111111111-eu-west-1",
    }
    tagged = [
        logical_id
        for logical_id, r in resources(template, "AWS::IAM::Role").items()
        if {"Key": "elasticml:reads-models-of", "Value": "dev"} in r["Properties"].get("Tags", [])
    ]
    # The endpoint's model role, and the drift monitor's job role, which reads the served artifact too.
    assert sorted(t.rstrip("0123456789ABCDEF") for t in tagged) == ["DriftMonitorJobRole", "EndpointModelRole"]
    assert "PromotedModel" not in json.dumps(synthesized.json("elasticml-dev-serving-cnn"))


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"env": "dev", "deployed_commit": "abc"}, "deployed_commit: 'abc' is not a full 40-character"),
        ({"deployed_commit": "a" * 40}, "deployed_commit: give -c env=NAME with it"),
    ],
)
def test_a_bad_deployed_commit_is_refused_naming_the_key(extra, message):
    from infra.application import select_ci

    with pytest.raises(SettingsError, match=message):
        select_ci(App(context={**base_context(), **extra}))


def test_a_deployed_commit_is_accepted_with_its_environment():
    from infra.application import select_ci

    ci, commit = select_ci(App(context={**base_context(), "env": "prod", "deployed_commit": "c" * 40}))
    assert commit == "c" * 40 and ci.subject("prod") == "repo:example-org/elastic-ml:environment:prod"
