"""Deploying needs a named environment whose account and region are the CLI's; synth of every
environment needs no credentials at all."""

from __future__ import annotations

import pytest
from aws_cdk import App

from infra.application import select_settings
from infra.settings import SettingsError

from .conftest import base_context

DEV = {"CDK_DEFAULT_ACCOUNT": "111111111111", "CDK_DEFAULT_REGION": "eu-west-1"}


def settings(environ, **context):
    return select_settings(App(context={**base_context(), **context}), environ=environ)


def test_without_credentials_every_environment_is_synthesized():
    assert [s.env for s in settings({})] == ["dev", "prod"]
    assert [s.env for s in settings({"CDK_DEFAULT_REGION": "us-east-1"})] == ["dev", "prod"]


def test_with_credentials_an_environment_must_be_named():
    with pytest.raises(
        SettingsError,
        match=r"env: name the environment to deploy with -c env=NAME \(one of dev, "
        r"prod\)",
    ):
        settings(DEV)


def test_the_named_environment_must_be_the_credentials_account_and_region():
    assert [s.env for s in settings(DEV, env="dev")] == ["dev"]
    with pytest.raises(
        SettingsError,
        match="prod deploys to account 222222222222 in eu-west-1, but the CLI's "
        "credentials are for account 111111111111 in eu-west-1",
    ):
        settings(DEV, env="prod")
    with pytest.raises(SettingsError, match="dev deploys to account 111111111111 in eu-west-1, .* in us-east-1"):
        settings({**DEV, "CDK_DEFAULT_REGION": "us-east-1"}, env="dev")


def test_an_environment_without_account_takes_the_clis():
    context = base_context()
    context["environments"]["dev"].update(account=None, region=None)
    (dev,) = select_settings(
        App(context={**context, "env": "dev"}),
        environ={"CDK_DEFAULT_ACCOUNT": "333333333333", "CDK_DEFAULT_REGION": "us-east-2"},
    )
    assert (dev.account, dev.region) == ("333333333333", "us-east-2")
