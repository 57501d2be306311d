"""Fixtures of the experiments tests: stubbed AWS, and an environment that can reach no real account."""

from __future__ import annotations

import importlib.util

import pytest

# The SDK lives in .venv-experiments, where mk/experiments.mk runs these tests as part of `make test`; the
# main .venv cannot hold it (sagemaker-core pins protobuf<7 and rich<15), so there they are not collected.
if importlib.util.find_spec("sagemaker") is None:
    collect_ignore_glob = ["test_experiments_*.py"]


@pytest.fixture(autouse=True)
def no_real_aws(monkeypatch, tmp_path):
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "SAGEMAKER_VALIDATE_ROLE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.config/sagemaker defaults either


@pytest.fixture
def aws():
    from tests.helpers.experiments_stubs import StubbedAws

    stubbed = StubbedAws()
    yield stubbed
