"""One environment of cdk.json as the release tooling needs it (offline: no AWS, no CDK library)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shared_names as names
from infra.ci_settings import CiSettings, load_ci_settings
from infra.settings import SettingsError, load_settings
from release.promotion import Target

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Environment:
    target: Target
    account: str | None
    region: str | None
    ci: CiSettings

    @property
    def env(self) -> str:
        return self.target.env

    def stacks(self) -> list[str]:
        """In the order a release deploys them; the access stack last, so its DeployedCommit is
        written only once everything else is deployed."""
        prefix = self.target.prefix
        return [
            f"{prefix}-storage",
            f"{prefix}-network",
            f"{prefix}-training",
            *(self.target.serving_stack(m) for m in self.target.models),
            names.stack_name(self.env, "ci-access", self.target.project),
        ]

    @property
    def deploy_role_arn(self) -> str:
        return f"arn:aws:iam::{self.account or 'ACCOUNT'}:role/{names.deploy_role_name(self.env, self.target.project)}"

    def lookup_role_arn(self, account: str, region: str) -> str:
        q = self.ci.bootstrap_qualifier
        return f"arn:aws:iam::{account}:role/cdk-{q}-lookup-role-{account}-{region}"


def context(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    return json.loads((root / "cdk.json").read_text())["context"]


def load(env: str, root: Path = PROJECT_ROOT) -> Environment:
    """Validated the way synth validates it; an environment without a `ci` entry is refused."""
    ctx = context(root)
    settings = load_settings(ctx, env)
    ci = load_ci_settings(ctx)
    if ci is None or not ci.has(env):
        raise SettingsError(
            f"ci.environments.{env}: missing; the release workflow deploys only environments listed there"
        )
    serving = {s.model for s in settings.serving}
    target = Target(
        env=env,
        project=settings.project,
        models=tuple(t.model for t in settings.training if t.model in serving),
        promote_from=ci.of(env).promote_from,
    )
    return Environment(target=target, account=settings.account, region=settings.region, ci=ci)


def deployed_commit(env: str, root: Path = PROJECT_ROOT) -> str | None:
    """The commit the git tag `deployed/<env>` points at, or None when there is none (first release)."""
    result = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"refs/tags/{names.deployed_tag(env)}^{{commit}}"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or None


def head_commit(root: Path = PROJECT_ROOT) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()
