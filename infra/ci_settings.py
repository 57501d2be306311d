"""Typed, validated settings of continuous deployment: `ci` in cdk.json context.

The GitHub repository whose workflows may deploy, the GitHub environment each AWS environment deploys
from, an existing GitHub OIDC provider to reuse (an AWS account holds at most one per URL), and which
environment's served models another one takes. Like `infra/settings.py`, every error names the key
(`infra/settings_reader.py`).
CDK-free: the release tooling (`release/`) reads the same settings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra.errors import SettingsError
from infra.settings_reader import Reader

# https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/configuring-openid-connect-in-amazon-web-services
# (provider URL https://token.actions.githubusercontent.com, audience sts.amazonaws.com)
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_AUDIENCE = "sts.amazonaws.com"
# The CDK's default bootstrap qualifier (`cdk bootstrap --qualifier`); cdk.json's
# `@aws-cdk/core:bootstrapQualifier` overrides it, as it does for the synthesizer.
# https://docs.aws.amazon.com/cdk/v2/guide/bootstrapping-customizing.html
DEFAULT_BOOTSTRAP_QUALIFIER = "hnb659fds"
BOOTSTRAP_QUALIFIER_CONTEXT = "@aws-cdk/core:bootstrapQualifier"
# GitHub: a user or organization name is alphanumerics and single hyphens, at most 39 characters; a
# repository name letters, digits, '.', '-', '_' up to 100 characters.
OWNER = re.compile(r"[A-Za-z0-9](?:-?[A-Za-z0-9]){0,38}")
REPOSITORY = re.compile(r"(?!\.{1,2}$)[A-Za-z0-9._-]{1,100}")
# A GitHub environment name as it appears in the OIDC `sub` claim (`environment:NAME`); kept to
# characters that need no escaping in that claim.
GITHUB_ENVIRONMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
OIDC_PROVIDER_ARN = re.compile(
    rf"arn:aws[a-z-]*:iam::(?P<account>\d{{12}}):oidc-provider/{re.escape(GITHUB_OIDC_HOST)}"
)
QUALIFIER = re.compile(r"[A-Za-z0-9_-]{1,10}")


@dataclass(frozen=True)
class CiEnvironment:
    env: str
    github_environment: str
    oidc_provider_arn: str | None  # None: the access stack creates the provider
    promote_from: str | None  # the environment whose served models this one takes (prod: dev)
    promotion_events: bool  # an EventBridge rule sends registry approvals to the release workflow
    account: str | None = None  # environments.<env>.account
    source_account: str | None = None  # environments.<promote_from>.account
    source_region: str | None = None  # environments.<promote_from>.region


@dataclass(frozen=True)
class CiSettings:
    owner: str
    repository: str
    bootstrap_qualifier: str
    environments: tuple[CiEnvironment, ...]

    @property
    def repo(self) -> str:
        return f"{self.owner}/{self.repository}"

    def subject(self, env: str) -> str:
        """The OIDC `sub` claim of a job of this repository that runs in env's GitHub environment."""
        return f"repo:{self.repo}:environment:{self.of(env).github_environment}"

    def of(self, env: str) -> CiEnvironment:
        for e in self.environments:
            if e.env == env:
                return e
        raise SettingsError(f"ci.environments.{env}: missing")

    def has(self, env: str) -> bool:
        return any(e.env == env for e in self.environments)

    def promoted_to(self, env: str) -> tuple[CiEnvironment, ...]:
        """The environments that take their models from `env`."""
        return tuple(e for e in self.environments if e.promote_from == env)


def _string(r: Reader, name: str, pattern: re.Pattern[str], what: str) -> str:
    key, value = r.get(name)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise SettingsError(f"{key}: {value!r} is not {what}")
    return value


def _environment(
    env: str,
    r: Reader,
    accounts: Mapping[str, str | None],
    regions: Mapping[str, str | None],
    known: set[str],
) -> CiEnvironment:
    github_environment = _string(
        r, "github_environment", GITHUB_ENVIRONMENT, "a GitHub environment name (letters, digits, '.', '-', '_')"
    )
    arn = None
    if r.raw.get("oidc_provider_arn") is not None:
        arn = _string(
            r, "oidc_provider_arn", OIDC_PROVIDER_ARN, f"the ARN of an IAM OIDC provider for {GITHUB_OIDC_HOST}"
        )
        match = OIDC_PROVIDER_ARN.fullmatch(arn)
        assert match is not None  # _string checked the pattern
        account = match["account"]
        if accounts.get(env) and account != accounts[env]:
            raise SettingsError(
                f"{r.key}.oidc_provider_arn: the provider is in account {account}, but environments.{env}.account "
                f"is {accounts[env]}; an environment's role trusts the provider of its own account"
            )
    r.used.add("oidc_provider_arn")
    source = r.raw.get("promote_from")
    r.used.add("promote_from")
    if source is not None:
        if source not in known or source == env:
            raise SettingsError(
                f"{r.key}.promote_from: {source!r} is not another environment of ci.environments; allowed: "
                f"{', '.join(sorted(known - {env})) or 'none'}"
            )
        if not accounts.get(source) or not accounts.get(env) or not regions.get(source):
            raise SettingsError(
                f"{r.key}.promote_from: {env} takes the models {source} served, so both accounts (and {source}'s "
                f"region) must be known for the cross-account read of the artifact; set environments.{source}."
                f"account, environments.{source}.region and environments.{env}.account"
            )
    events = r.raw.get("promotion_events", True)
    r.used.add("promotion_events")
    if not isinstance(events, bool):
        raise SettingsError(f"{r.key}.promotion_events: expected true or false, got {events!r}")
    r.done()
    return CiEnvironment(
        env=env,
        github_environment=github_environment,
        oidc_provider_arn=arn,
        promote_from=source,
        promotion_events=events,
        account=accounts.get(env),
        source_account=accounts.get(source) if source else None,
        source_region=regions.get(source) if source else None,
    )


def load_ci_settings(context: Mapping[str, Any]) -> CiSettings | None:
    """`ci` of cdk.json context, validated; None when there is none (no access stacks)."""
    raw = context.get("ci")
    if raw is None:
        return None
    r = Reader(raw, "ci")
    environments = context.get("environments")
    environments = environments if isinstance(environments, Mapping) else {}
    accounts = {
        name: (value.get("account") if isinstance(value, Mapping) else None) for name, value in environments.items()
    }
    regions = {
        name: (value.get("region") if isinstance(value, Mapping) else None) for name, value in environments.items()
    }
    owner = _string(r, "github_owner", OWNER, "a GitHub user or organization name")
    repository = _string(r, "github_repository", REPOSITORY, "a GitHub repository name")
    qualifier = context.get(BOOTSTRAP_QUALIFIER_CONTEXT) or DEFAULT_BOOTSTRAP_QUALIFIER
    if not isinstance(qualifier, str) or not QUALIFIER.fullmatch(qualifier):
        raise SettingsError(
            f"{BOOTSTRAP_QUALIFIER_CONTEXT}: {qualifier!r} is not a bootstrap qualifier (1-10 of A-Z a-z 0-9 _ -)"
        )
    envs = r.child("environments")
    unknown = sorted(set(envs.raw) - set(environments))
    if unknown:
        raise SettingsError(
            f"ci.environments: unknown environment(s) {', '.join(unknown)}; allowed: {', '.join(sorted(environments))}"
        )
    known = set(envs.raw)
    out = CiSettings(
        owner=owner,
        repository=repository,
        bootstrap_qualifier=qualifier,
        environments=tuple(_environment(env, envs.child(env), accounts, regions, known) for env in sorted(envs.raw)),
    )
    names = [e.github_environment for e in out.environments]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise SettingsError(
            f"ci.environments: GitHub environment {duplicated[0]!r} is named by more than one environment; each "
            "AWS environment's role must trust its own GitHub environment"
        )
    r.done()
    return out
