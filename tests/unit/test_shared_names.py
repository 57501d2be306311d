"""shared_names is the one home of the platform's names; the container packages (which cannot import
outside their build contexts) keep copies, pinned here to it, and cdk.json's project is pinned to it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import shared_names as names

ROOT = Path(__file__).resolve().parents[2]


def test_cdk_json_project_is_the_shared_project():
    assert json.loads((ROOT / "cdk.json").read_text())["context"]["project"] == names.PROJECT


def test_training_copies():
    from training import hyperparameters, job

    assert hyperparameters.MODELS == names.MODEL_KINDS
    assert job.SYNTHETIC_CHANNEL == names.SYNTHETIC_CHANNEL
    assert set(names.CHANNELS_BY_MODEL) == set(names.MODEL_KINDS)
    assert all(set(names.CHANNELS) <= set(c) for c in names.CHANNELS_BY_MODEL.values())


def test_security_copies():
    """The gate's settings name the job's attacks and budgets; the job keeps its own copies."""
    from training.hyperparameters import Hyperparameters
    from training.security import budgets

    assert names.SECURITY_DEFAULT_BUDGETS == {"cnn": budgets.DEFAULT_EPS, "mlp": budgets.DEFAULT_SNR_DB}
    fields = Hyperparameters.__dataclass_fields__
    for model, key in names.SECURITY_BUDGET_HYPERPARAMETER.items():
        assert fields[key].default == names.SECURITY_DEFAULT_BUDGETS[model]
        assert fields[key].metadata["models"] == (model,)


def test_serving_tables_accept_exactly_the_advertised_types():
    from inference import decoding

    assert set(decoding.IMAGE_DECODERS) == set(names.CONTENT_TYPES["cnn"])
    assert set(decoding.AUDIO_DECODERS) == set(names.CONTENT_TYPES["mlp"]) | set(names.WAV_ALIASES)
    assert set(decoding.WAV_TYPES) == {t for t in names.CONTENT_TYPES["mlp"] if t.startswith("audio/")} | set(
        names.WAV_ALIASES
    )


def test_payload_limit_copies():
    from inference import client, settings

    assert settings.ServeSettings().max_payload_bytes == names.MAX_PAYLOAD_BYTES
    assert client.DEFAULT_MAX_PAYLOAD_MB * 1024 * 1024 == names.MAX_PAYLOAD_BYTES


def test_artifact_frameworks_are_the_shared_ones():
    from inference import artifact

    assert set(artifact.FRAMEWORKS) == set(names.FRAMEWORK_BY_MODEL.values())


def test_output_keys_of_one_model():
    keys = names.output_keys("mlp")
    assert keys["model_role_arn"] == ("training", "MlpExperimentModelRoleArn")
    assert keys["subnet_ids"] == ("network", "IsolatedSubnetIds")
    assert len(keys) == len(names.EXPERIMENT_FIELDS) == 11


def test_unknown_stack_part_is_named():
    assert names.stack_name("dev", "serving") == "elasticml-dev-serving"
    with pytest.raises(ValueError, match="'servng'"):
        names.stack_name("dev", "servng")


def test_monitor_metric_names_are_the_shared_ones():
    from monitor import metrics

    assert metrics.NAMESPACE == names.MONITOR_NAMESPACE
    data = metrics.metric_data({"status": "empty_window", "window": {"captures": 0}}, "cnn")
    assert {d["Name"] for datum in data for d in datum["Dimensions"]} == {names.MONITOR_DIMENSION}
