"""A release of one environment, run by the release workflow with the environment's deploy role.

1. What the environment runs now: the access stack's DeployedCommit (read through the CDK lookup
   role) must be the commit the git tag `deployed/<env>` names, since the review the workflow posted
   (and prod's reviewers saw) was made against the tag.
2. Which package each endpoint serves: the one the registry marks as serving it (written by the
   promotion that a person's approval started), passed as `-c <model>_model_package_arn`: an input of
   the deploy, never a lookup at synth. A serving stack with no such package is left out.
3. `cdk deploy` of every stack, the access stack last with `-c deployed_commit=HEAD`; then the tag moves.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

import shared_names as names
from release.environment import Environment
from release.registry import PromotionError, Registry

Run = Callable[[Sequence[str]], None]


def run_checked(command: Sequence[str]) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(list(command), check=True)


def lookup_session(session: Any, environment: Environment) -> Any:
    """A session in the CDK bootstrap lookup role (read-only), which the deploy role may assume."""
    account = environment.account or session.client("sts").get_caller_identity()["Account"]
    region = environment.region or session.region_name
    credentials = session.client("sts").assume_role(
        RoleArn=environment.lookup_role_arn(account, region), RoleSessionName="elasticml-release-lookup"
    )["Credentials"]
    import boto3

    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


def stack_output(cloudformation: Any, stack: str, key: str) -> str | None:
    """An output of a deployed stack; None when the stack or the output does not exist."""
    try:
        described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    return next((o["OutputValue"] for o in described.get("Outputs", []) if o["OutputKey"] == key), None)


def check_recorded(cloudformation: Any, environment: Environment, tagged: str | None) -> None:
    stack = names.stack_name(environment.env, "ci-access", environment.target.project)
    recorded = stack_output(cloudformation, stack, names.CI_ACCESS_OUTPUTS["deployed_commit"])
    if recorded != tagged:
        raise PromotionError(
            f"{stack} says {environment.env} runs {recorded or 'no recorded commit'}, but the tag "
            f"{names.deployed_tag(environment.env)} names {tagged or 'nothing'}: the review was made against "
            "the tag. Move the tag to the recorded commit (git tag -f ... && git push -f origin tag ...) and "
            "run the workflow again"
        )


def serving_versions(registry: Registry, environment: Environment) -> dict[str, str]:
    """model -> the package the registry marks as serving its endpoint (models with none left out)."""
    target = environment.target
    found = {m: registry.serving(target.group(m), target.endpoint(m)) for m in target.models}
    return {m: arn for m, arn in found.items() if arn}


def cdk_deploy(stacks: Sequence[str], context: Mapping[str, str]) -> list[str]:
    command = ["npx", "--no-install", "cdk", "deploy", *stacks, "--exclusively", "--require-approval", "never"]
    for key, value in context.items():
        command += ["-c", f"{key}={value}"]
    return command


def release(
    environment: Environment,
    *,
    registry: Registry,
    cloudformation: Any,
    head: str,
    tagged: str | None,
    run: Run = run_checked,
) -> list[list[str]]:
    """Deploy every stack of `environment` at `head`; returns the commands run (the tag last)."""
    check_recorded(cloudformation, environment, tagged)
    versions = serving_versions(registry, environment)
    target = environment.target
    context = {"env": environment.env, **{f"{m}_model_package_arn": arn for m, arn in versions.items()}}
    stacks = [
        s
        for s in environment.stacks()[:-1]
        if not any(s == target.serving_stack(m) and m not in versions for m in target.models)
    ]
    access = environment.stacks()[-1]
    tag = names.deployed_tag(environment.env)
    commands = [
        cdk_deploy(stacks, context),
        cdk_deploy([access], {**context, "deployed_commit": head}),
        ["git", "tag", "-f", tag, head],
        ["git", "push", "-f", "origin", f"refs/tags/{tag}"],
    ]
    for command in commands:
        run(command)
    return commands
