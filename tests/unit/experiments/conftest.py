"""Fixtures of the experiments tests: stubbed AWS, and an environment that can reach no real account."""

from __future__ import annotations

import importlib.util

import pytest

from tests.helpers.no_aws import without_aws

# The SDK lives in .venv-experiments, where mk/experiments.mk runs these tests as part of `make test`; the
# main .venv cannot hold it (sagemaker-core pins protobuf<7 and rich<15), so there they are not collected.
if importlib.util.find_spec("sagemaker") is None:
    collect_ignore_glob = ["test_experiments_*.py"]


@pytest.fixture(autouse=True)
def no_real_aws(monkeypatch, tmp_path):
    without_aws(monkeypatch, tmp_path)
    monkeypatch.delenv("SAGEMAKER_VALIDATE_ROLE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.config/sagemaker defaults either


@pytest.fixture
def aws():
    from tests.helpers.experiments_stubs import StubbedAws

    stubbed = StubbedAws()
    yield stubbed
