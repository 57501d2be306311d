"""Settings: cdk.json context validated into frozen dataclasses; invalid values name key and allowed values."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import subprocess
import sys

import pytest

from infra.application import REPO_ROOT
from infra.settings import DEFAULT_MAX_RPS_PER_INSTANCE, SettingsError, load_settings, read_capacity_file

from .conftest import base_context

CNN_PACKAGE = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/elasticml-dev-cnn/3"
MLP_DATA = "s3://elasticml-dev-artifacts-111111111111-eu-west-1/training/mlp/job-1/output/model.tar.gz"


@pytest.fixture
def context():
    return copy.deepcopy(base_context())


def test_every_environment_in_cdk_json_is_valid(context):
    for env in ("dev", "prod"):
        settings = load_settings(context, env)
        assert settings.env == env
        assert [t.model for t in settings.training] == ["cnn", "mlp"]
        assert [s.model for s in settings.serving] == ["cnn", "mlp"]


def test_settings_are_frozen_and_hyperparameters_are_strings(context):
    settings = load_settings(context, "dev")
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.env = "prod"
    cnn = settings.training[0]
    assert cnn.hyperparameter_map["model"] == "cnn"
    assert cnn.hyperparameter_map["time_budget_s"] == "3300"
    assert all(isinstance(v, str) for v in cnn.hyperparameter_map.values())


def test_prod_retains_and_dev_destroys(context):
    assert load_settings(context, "prod").retain
    assert not load_settings(context, "dev").retain


def test_unknown_env_names_the_allowed_ones(context):
    with pytest.raises(SettingsError, match=r"env: unknown environment 'staging'; allowed: dev, prod"):
        load_settings(context, "staging")


def test_unknown_instance_family_names_key_and_families(context):
    context["environments"]["dev"]["training"]["cnn"]["instance_type"] = "ml.x9.xlarge"
    with pytest.raises(SettingsError) as err:
        load_settings(context, "dev")
    message = str(err.value)
    assert message.startswith("environments.dev.training.cnn.instance_type: unknown instance family 'x9'")
    assert "allowed families: m5, m6i" in message and "g5" in message


@pytest.mark.parametrize(
    "env,section,model,change,message",
    [
        ("prod", "serving", "mlp", {"instance_type": "c5.large"}, r"serving\.mlp\.instance_type: 'c5.large' is not"),
        (
            "prod",
            "serving",
            "cnn",
            {"min_capacity": 3, "max_capacity": 2},
            r"serving\.cnn\.min_capacity: 3 is greater than max_capacity 2; allowed: min_capacity <= max_capacity",
        ),
        (
            "dev",
            "training",
            "mlp",
            {"max_runtime_s": 3600, "max_wait_s": 1800},
            r"training\.mlp\.max_wait_s: 1800 is less than max_runtime_s 3600",
        ),
    ],
    ids=["malformed_instance_type", "min_capacity_above_max", "spot_max_wait_below_max_runtime"],
)
def test_an_invalid_value_is_named_with_its_key(context, env, section, model, change, message):
    context["environments"][env][section][model].update(change)
    with pytest.raises(SettingsError, match=rf"^environments\.{env}\.{message}"):
        load_settings(context, env)


def test_without_spot_max_wait_is_not_needed(context):
    training = load_settings(context, "prod").training[1]
    assert not training.use_spot and training.max_wait_s == 0


def test_the_synthetic_channel_is_the_mlps(context):
    mlp = load_settings(context, "dev").training[1]
    assert mlp.channels == ("train", "validation", "test", "synthetic")
    context["environments"]["dev"]["training"]["mlp"]["channels"] = ["synthetic", "train"]
    assert load_settings(context, "dev").training[1].channels == ("train", "synthetic")  # contract order
    context["environments"]["dev"]["training"]["cnn"]["channels"] = ["train", "synthetic"]
    with pytest.raises(
        SettingsError,
        match=r"environments\.dev\.training\.cnn\.channels: \['synthetic'\] is not a channel of the cnn model "
        r"\(only of mlp\); allowed: train, validation, test",
    ):
        load_settings(context, "dev")


@pytest.mark.parametrize(
    "channels, message",
    [
        (
            ["train", "holdout"],
            r"\['holdout'\] is not a channel of the mlp model; allowed: train, validation, test, synthetic",
        ),
        (["synthetic"], r"\['synthetic'\] must be a list holding 'train'"),
        ("train", r"'train' must be a list holding 'train'"),
    ],
)
def test_bad_channels_name_the_key(context, channels, message):
    context["environments"]["prod"]["training"]["mlp"]["channels"] = channels
    with pytest.raises(SettingsError, match=r"environments\.prod\.training\.mlp\.channels: " + message):
        load_settings(context, "prod")


def test_misspelt_key_is_rejected(context):
    context["environments"]["dev"]["serving"]["cnn"]["max_capcity"] = 4
    with pytest.raises(SettingsError, match=r"environments\.dev\.serving\.cnn: unknown key\(s\) max_capcity"):
        load_settings(context, "dev")


@pytest.mark.parametrize(
    "key,value,message",
    [
        (
            "removal_policy",
            "snapshot",
            r"environments\.dev\.removal_policy: 'snapshot' is not allowed; allowed: destroy, retain",
        ),
        ("log_retention_days", 10, r"environments\.dev\.log_retention_days: 10 is not allowed; allowed: 1, 3, 5"),
    ],
)
def test_enumerated_values(context, key, value, message):
    context["environments"]["dev"][key] = value
    with pytest.raises(SettingsError, match=message):
        load_settings(context, "dev")


def test_quality_threshold_is_a_fraction(context):
    context["environments"]["dev"]["training"]["cnn"]["quality_threshold"] = 85
    with pytest.raises(SettingsError, match=r"training\.cnn\.quality_threshold: 85 is outside the allowed range"):
        load_settings(context, "dev")


def test_security_gate_settings(context):
    cnn, mlp = load_settings(context, "dev").training
    assert (cnn.security.attack, cnn.security.budget) == ("pgd", "1/255")
    assert mlp.security.budget.endswith("dB")
    del context["environments"]["dev"]["training"]["cnn"]["security"]
    assert load_settings(context, "dev").training[0].security is None  # the gate checks accuracy only


@pytest.mark.parametrize(
    "model, change, message",
    [
        ("cnn", {"budget": "3/255"}, r"training\.cnn\.security\.budget: '3/255' is not a budget the cnn job measures"),
        ("mlp", {"budget": "30"}, r"training\.mlp\.security\.budget: '30' is not a budget the mlp job measures; "),
        ("cnn", {"attack": "noise"}, r"training\.cnn\.security\.attack: 'noise' is not allowed; allowed: fgsm, pgd"),
        ("cnn", {"max_membership_auc": 0.4}, r"security\.max_membership_auc: 0\.4 is outside the allowed range"),
        ("mlp", {"min_robust_accuracy": 2}, r"security\.min_robust_accuracy: 2 is outside the allowed range"),
        ("cnn", {"max_auc": 0.6}, r"training\.cnn\.security: unknown key\(s\) max_auc"),
    ],
)
def test_security_gate_keys_are_validated(context, model, change, message):
    context["environments"]["dev"]["training"][model]["security"].update(change)
    with pytest.raises(SettingsError, match=message):
        load_settings(context, "dev")


def test_security_gate_follows_the_jobs_budgets_and_needs_the_evaluation_on(context):
    cnn = context["environments"]["dev"]["training"]["cnn"]
    cnn["hyperparameters"]["security_eps"] = "0.5/255,3/255"
    cnn["security"]["budget"] = "3/255"
    assert load_settings(context, "dev").training[0].security.budget == "3/255"
    cnn["hyperparameters"]["security"] = False
    with pytest.raises(SettingsError, match=r"training\.cnn\.security: the gate needs the job's security figures"):
        load_settings(context, "dev")


def test_model_version_from_context(context):
    context.update({"env": "dev", "cnn_model_package_arn": CNN_PACKAGE})
    cnn, mlp = load_settings(context, "dev").serving
    assert cnn.version.model_package_arn == CNN_PACKAGE and cnn.version.given
    assert not mlp.version.given


def test_a_model_version_stays_in_the_environment_it_names(context):
    context["dev:mlp_model_data_url"] = MLP_DATA
    assert load_settings(context, "dev").serving[1].version.model_data_url == MLP_DATA
    assert not load_settings(context, "prod").serving[1].version.given
    context["cnn_model_package_arn"] = CNN_PACKAGE  # no -c env: it would reach every environment
    with pytest.raises(SettingsError, match=r"cnn_model_package_arn: .* give -c env=NAME .* -c dev:cnn_model_pack"):
        load_settings(context, "dev")


@pytest.mark.parametrize(
    "extra,message",
    [
        (
            {"cnn_model_package_arn": "arn:aws:sagemaker:eu-west-1:123456789012:model-package-group/x"},
            "cnn_model_package_arn: .* is not a versioned model package ARN",
        ),
        ({"mlp_model_data_url": "https://example.com/model.tar.gz"}, "mlp_model_data_url: .* is not an s3://"),
        (
            {"cnn_model_package_arn": CNN_PACKAGE, "cnn_model_data_url": "s3://bucket/a/model.tar.gz"},
            "give one, not both",
        ),
        # where the environment's endpoint cannot read it: another account, region or group
        (
            {"cnn_model_package_arn": CNN_PACKAGE.replace("111111111111", "222222222222")},
            "cnn_model_package_arn: .* is not a package of environment dev: expected region eu-west-1, account "
            "111111111111, group elasticml-dev-cnn",
        ),
        ({"cnn_model_package_arn": CNN_PACKAGE.replace("eu-west-1", "us-east-1")}, "expected region eu-west-1"),
        ({"cnn_model_package_arn": CNN_PACKAGE.replace("-dev-cnn", "-prod-cnn")}, "group elasticml-dev-cnn"),
        # another bucket, or the right bucket outside the model's training prefix
        (
            {"mlp_model_data_url": "s3://somewhere-else/training/mlp/model.tar.gz"},
            "mlp_model_data_url: .* is not in environment dev's artifact bucket elasticml-dev-artifacts-111111111111-"
            "eu-west-1 under training/mlp/",
        ),
        ({"mlp_model_data_url": MLP_DATA.replace("/training/mlp/", "/training/cnn/")}, "under training/mlp/"),
    ],
)
def test_invalid_model_versions(context, extra, message):
    context.update({"env": "dev", **extra})
    with pytest.raises(SettingsError, match=message):
        load_settings(context, "dev")


def test_account_and_region_come_from_cdk_json_or_the_cli(context):
    dev = load_settings(context, "dev")
    assert (dev.account, dev.region) == ("111111111111", "eu-west-1")
    context["environments"]["dev"].update(account=None, region=None)
    assert (load_settings(context, "dev").account, load_settings(context, "dev").region) == (None, None)
    cli = load_settings(context, "dev", default_account="333333333333", default_region="us-east-2")
    assert (cli.account, cli.region) == ("333333333333", "us-east-2")
    # unknown account: the model version is checked against the bucket's pattern
    context.update({"env": "dev", "mlp_model_data_url": MLP_DATA})
    assert load_settings(context, "dev").serving[1].version.given
    context["environments"]["dev"]["account"] = "1111"
    with pytest.raises(SettingsError, match=r"environments\.dev\.account: '1111' is not a 12-digit AWS account ID"):
        load_settings(context, "dev")


def test_autoscaling_target_from_measured_capacity(context):
    capacity = {
        "cnn": {
            "max_rps_per_instance": 120.0,
            "p99_slo_ms": 100,
            "instance_type": "ml.c5.xlarge",
            "measured_at": "2026-11-28",
        }
    }
    cnn, mlp = load_settings(context, "dev", capacity=capacity).serving
    assert cnn.invocations_per_instance_target == 120.0 * 0.5 * 60
    assert cnn.capacity_source == "benchmark (2026-11-28)"
    assert mlp.max_rps_per_instance == DEFAULT_MAX_RPS_PER_INSTANCE and mlp.capacity_source == "default"
    assert mlp.invocations_per_instance_target == DEFAULT_MAX_RPS_PER_INSTANCE * 0.5 * 60


def test_capacity_file_absent_or_invalid(tmp_path):
    assert read_capacity_file(tmp_path / "missing.json") == {}
    bad = tmp_path / "serving_capacity.json"
    bad.write_text(json.dumps({"cnn": {"p99_slo_ms": 100}}))
    with pytest.raises(SettingsError, match="cnn needs max_rps_per_instance"):
        read_capacity_file(bad)


def test_app_stops_before_building_anything_on_invalid_settings(tmp_path):
    """The CDK app itself (as `cdk synth -c env=staging` runs it) exits with the message."""
    env = {
        **os.environ,
        "CDK_OUTDIR": str(tmp_path),
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "CDK_CONTEXT_JSON": json.dumps({**base_context(), "env": "staging"}),
    }
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    expected = "Invalid settings (cdk.json context): env: unknown environment 'staging'; allowed: dev, prod"
    assert expected in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


def test_no_reserved_lambda_concurrency_unless_an_environment_opts_in(context):
    assert load_settings(context, "dev").evaluation_reserved_concurrency is None
    assert all("evaluation_reserved_concurrency" not in e for e in context["environments"].values())
    context["environments"]["prod"]["evaluation_reserved_concurrency"] = 5
    assert load_settings(context, "prod").evaluation_reserved_concurrency == 5
    context["environments"]["prod"]["evaluation_reserved_concurrency"] = 0
    with pytest.raises(SettingsError, match=r"environments\.prod\.evaluation_reserved_concurrency: 0 is below"):
        load_settings(context, "prod")


def test_autoscaling_is_suspended_only_on_purpose_and_only_where_a_variant_is_registered(context):
    assert not any(s.autoscaling_suspended for env in ("dev", "prod") for s in load_settings(context, env).serving)
    assert not any(
        "autoscaling_suspended" in m for e in context["environments"].values() for m in e["serving"].values()
    )  # cdk.json never ships a suspended endpoint
    context["environments"]["prod"]["serving"]["cnn"]["autoscaling_suspended"] = True
    assert load_settings(context, "prod").serving[0].autoscaling_suspended
    context["environments"]["dev"]["serving"]["cnn"]["autoscaling_suspended"] = True
    with pytest.raises(SettingsError, match=r"serving\.cnn\.autoscaling_suspended: true with mode 'scale-to-zero'"):
        load_settings(context, "dev")
