"""Builds every stack of the selected environment(s) into an App, with the checks registered."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Annotations, App, Stack, Tags

import shared_names as names
from infra.capacity_plan import apply_plans
from infra.ci_settings import BOOTSTRAP_QUALIFIER_CONTEXT, CiSettings, load_ci_settings
from infra.nag import StaleAcknowledgement, add_checks
from infra.settings import (
    MODEL_NAMES,
    VERSION_KEYS,
    EnvironmentSettings,
    SettingsError,
    load_settings,
    read_capacity_file,
)
from infra.stacks.ci_access_stack import CiAccessStack
from infra.stacks.network_stack import NetworkStack
from infra.stacks.serving_stack import ServingStack
from infra.stacks.storage_stack import StorageStack
from infra.stacks.training_stack import TrainingStack
from shared_names import CAPACITY_PLANS_DIR, SERVING_CAPACITY_FILE, training_output_prefix

REPO_ROOT = Path(__file__).resolve().parents[1]
CONTEXT_KEYS = (
    "project",
    "environments",
    "serving_capacity_file",
    "capacity_plans_dir",
    "env",
    "cnn_model_package_arn",
    "cnn_model_data_url",
    "mlp_model_package_arn",
    "mlp_model_data_url",
    "ci",
    "deployed_commit",
    BOOTSTRAP_QUALIFIER_CONTEXT,
)
COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Sources:
    """Where the image build contexts and data files are; tests point these at fixtures."""

    training_dir: Path = REPO_ROOT / "training"
    inference_dir: Path = REPO_ROOT / "inference"
    metric_definitions_file: Path = REPO_ROOT / "training" / "metric_definitions.json"
    monitor_dir: Path = REPO_ROOT / "monitor"


def select_settings(app: App, environ: Mapping[str, str] = os.environ) -> list[EnvironmentSettings]:
    """Validate the settings of `-c env=NAME`, or of every environment when none is named.

    Deploying needs a named environment whose account and region are those of the CLI's credentials.
    The CLI does not tell the app which command runs, but it sets CDK_DEFAULT_ACCOUNT whenever it has
    credentials, and nothing deploys without them: so with credentials, an app with no `-c env=NAME`,
    or one whose environment names another account or region (a placeholder, or prod with dev's
    credentials), stops before building any construct. Without credentials (`make synth`, `make
    review`, the tests) every environment is synthesized, for review only.
    https://docs.aws.amazon.com/cdk/v2/guide/configure-env.html (CDK_DEFAULT_ACCOUNT/REGION)"""
    context = {k: app.node.try_get_context(k) for k in CONTEXT_KEYS}
    environments = context["environments"] or {}
    for env in environments if isinstance(environments, Mapping) else ():
        for model in MODEL_NAMES:
            for key in VERSION_KEYS:
                context[f"{env}:{model}_{key}"] = app.node.try_get_context(f"{env}:{model}_{key}")
    capacity_file = REPO_ROOT / (context["serving_capacity_file"] or SERVING_CAPACITY_FILE)
    capacity = read_capacity_file(capacity_file)
    cli_account, cli_region = environ.get("CDK_DEFAULT_ACCOUNT") or None, environ.get("CDK_DEFAULT_REGION") or None
    if cli_account and not context["env"]:
        raise SettingsError(
            f"env: name the environment to deploy with -c env=NAME (one of "
            f"{', '.join(sorted(environments))}); every environment at once is synthesized only "
            "without AWS credentials (make synth, make review), for review"
        )
    names = [context["env"]] if context["env"] else sorted(environments)
    plans_dir = REPO_ROOT / (context["capacity_plans_dir"] or CAPACITY_PLANS_DIR)
    out = [
        load_settings(context, name, capacity=capacity, default_account=cli_account, default_region=cli_region)
        for name in names
    ]
    for s in out:
        if cli_account and (s.account, s.region) != (cli_account, cli_region):
            raise SettingsError(
                f"environments.{s.env}.account/region: {s.env} deploys to account {s.account} in {s.region}, but "
                f"the CLI's credentials are for account {cli_account} in {cli_region}; use that environment's "
                "credentials and region (--profile), or fix cdk.json"
            )
    return [apply_plans(s, plans_dir) for s in out]


def select_ci(app: App) -> tuple[CiSettings | None, str | None]:
    """The validated `ci` settings, and `-c deployed_commit=SHA` (the release workflow's commit, recorded
    as the access stack's output; only with `-c env=NAME`, as a deploy names one environment)."""
    context = {k: app.node.try_get_context(k) for k in CONTEXT_KEYS}
    ci = load_ci_settings(context)
    commit = context["deployed_commit"]
    if commit is not None:
        if not isinstance(commit, str) or not COMMIT.fullmatch(commit):
            raise SettingsError(f"deployed_commit: {commit!r} is not a full 40-character git commit SHA")
        if not context["env"]:
            raise SettingsError("deployed_commit: give -c env=NAME with it; a deploy records one environment's commit")
    return ci, commit


def build(app: App, sources: Sources = Sources()) -> dict[str, object]:
    """Add every stack to `app`; returns them by name. Settings are validated before any construct."""
    all_settings = select_settings(app)
    ci, deployed_commit = select_ci(app)
    stacks: dict[str, object] = {}
    for settings in all_settings:
        p = settings.prefix
        ci_env = ci.of(settings.env) if ci is not None and ci.has(settings.env) else None
        storage = StorageStack(
            app,
            f"{p}-storage",
            settings=settings,
            promoted_readers=[str(e.account) for e in ci.promoted_to(settings.env)] if ci is not None else (),
            description=f"{p}: KMS key and the data, artifact and access-log buckets",
        )
        network = NetworkStack(
            app,
            f"{p}-network",
            settings=settings,
            key=storage.key,
            description=f"{p}: isolated VPC with flow logs and VPC endpoints",
        )
        training = TrainingStack(
            app,
            f"{p}-training",
            settings=settings,
            network=network,
            storage=storage,
            training_dir=sources.training_dir,
            inference_dir=sources.inference_dir,
            metric_definitions_file=sources.metric_definitions_file,
            description=f"{p}: training images and train/evaluate/register state machines",
        )
        env_stacks: list[Stack] = [storage, network, training]
        if ci is not None and ci_env is not None:
            env_stacks.append(
                CiAccessStack(
                    app,
                    names.stack_name(settings.env, "ci-access", settings.project),
                    settings=settings,
                    ci=ci,
                    deployed_commit=deployed_commit,
                    description=f"{p}: GitHub OIDC deploy role and model-approval dispatch of the release workflow",
                )
            )
        for serving in settings.serving:
            if not serving.version.given:
                message = (
                    f"{p}-serving-{serving.model} not synthesized: no model version. Pass -c env="
                    f"{settings.env} with -c {serving.model}_model_package_arn=arn:aws:sagemaker:"
                    f"{settings.region or 'REGION'}:{settings.account or 'ACCOUNT'}:model-package/"
                    f"{p}-{serving.model}/N (an approved package) or -c {serving.model}_model_data_url="
                    f"s3://{settings.artifact_bucket()}/{training_output_prefix(serving.model)}/JOB/output/"
                    "model.tar.gz"
                )
                Annotations.of(training).add_info(message)
                continue
            stack = ServingStack(
                app,
                f"{p}-serving-{serving.model}",
                settings=settings,
                serving=serving,
                network=network,
                storage=storage,
                inference_dir=sources.inference_dir,
                description=f"{p}: autoscaled {serving.model} endpoint",
                promoted_from=ci_env if ci_env is not None and ci_env.promote_from else None,
                monitor_dir=sources.monitor_dir,
            )
            env_stacks.append(stack)
        for stack in env_stacks:  # this environment's stacks only
            Tags.of(stack).add("project", settings.project)
            Tags.of(stack).add("environment", settings.env)
            stacks[stack.stack_name] = stack
    add_checks(app)
    return stacks


def main() -> None:
    app = App()
    try:
        build(app)
    except SettingsError as exc:
        sys.exit(f"Invalid settings (cdk.json context): {exc}")
    except StaleAcknowledgement as exc:
        sys.exit(f"cdk-nag: {exc}")
    app.synth()
