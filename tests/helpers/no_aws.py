"""An environment in which the AWS SDK can reach no real account: no credentials, profile or region from
the shell, no shared config or credentials file, no instance metadata."""

from __future__ import annotations

from pathlib import Path

import pytest

AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)


def without_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Clear the AWS variables for this test and point the SDK's files into `tmp_path`, where there are none."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
