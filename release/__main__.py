"""`python -m release {base,plan,deploy,promote,register} --env ENV ...`

Exit status: 0 done (or nothing to do: a skipped approval says why), 1 refused or failed (the message
says why and what to do), 2 bad input (settings, event file, flags).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import shared_names as names
from infra.settings import SettingsError
from release import deploy as release_deploy
from release import environment as environments
from release import plan as release_plan
from release.environment import Environment
from release.promotion import DeployFailed, read_approval, register, source_record
from release.promotion import promote as run_promotion
from release.registry import PromotionError, Registry


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m release", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_ in (
        ("base", "print the commit ENV runs now (git tag deployed/ENV), or nothing before the first release"),
        ("target", "print role_arn=... and region=... of ENV's deploy role, from cdk.json (for $GITHUB_OUTPUT)"),
        ("plan", "print, offline, what a release of ENV would do"),
        ("deploy", "release ENV: every stack at HEAD, the serving versions the registry records"),
        ("promote", "deploy the package a registry approval names (a repository_dispatch event file)"),
        ("register", "register in ENV's registry the package that served in the environment it promotes from"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--env", required=True)
        if name == "plan":
            p.add_argument("--base", help="compare with this ref instead of the tag deployed/ENV")
            p.add_argument("--no-review", action="store_true", help="leave out the review (two synths)")
            p.add_argument("-c", "--context", action="append", default=[], metavar="MODEL_model_package_arn=ARN")
        if name == "promote":
            p.add_argument("--event", type=Path, default=Path(os.environ.get("GITHUB_EVENT_PATH", "event.json")))
            p.add_argument("--source-out", type=Path, help="write the served package's record here (for register)")
        if name == "register":
            p.add_argument("--source", type=Path, required=True, help="the record promote --source-out wrote")
    return parser.parse_args(argv)


def _session():
    import boto3

    return boto3.Session()


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _plan(args: argparse.Namespace, environment) -> int:
    deployed = args.base or environments.deployed_commit(args.env)
    versions = {}
    for pair in args.context:
        key, _, value = pair.partition("=")
        model = key.removesuffix("_model_package_arn")
        if model not in environment.target.models or not value:
            raise SettingsError(
                f"-c {pair}: expected <model>_model_package_arn=ARN, model one of "
                f"{', '.join(environment.target.models)}"
            )
        versions[model] = value
    review = None
    if deployed and not args.no_review:
        with tempfile.TemporaryDirectory() as work:
            out = Path(work) / "review.md"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "review",
                    "--base",
                    deployed,
                    "-c",
                    f"env={args.env}",
                    "--output",
                    str(out),
                    "--quiet",
                ],
                check=False,
            )
            review = out.read_text() if out.is_file() else "The review could not be made (see above)."
    print(
        release_plan.render(
            environment,
            head=environments.head_commit(),
            deployed=deployed,
            versions=versions,
            review=review,
            deployed_given=bool(args.base),
        ),
        end="",
    )
    return 0


def _deploy_serving(environment: Environment):
    def deploy(model: str, arn: str) -> None:
        command = release_deploy.cdk_deploy(
            [environment.target.serving_stack(model)], {"env": environment.env, f"{model}_model_package_arn": arn}
        )
        try:
            release_deploy.run_checked(command)
        except subprocess.CalledProcessError as exc:
            raise DeployFailed(f"cdk deploy exited {exc.returncode}") from exc

    return deploy


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        environment = environments.load(args.env)
        if args.command == "base":
            print(environments.deployed_commit(args.env) or "")
            return 0
        if args.command == "target":
            if not environment.account or not environment.region:
                raise SettingsError(
                    f"environments.{args.env}.account/region: the release workflow needs both in cdk.json "
                    "(it assumes that account's deploy role)"
                )
            print(f"role_arn={environment.deploy_role_arn}\nregion={environment.region}")
            return 0
        if args.command == "plan":
            return _plan(args, environment)
        session = _session()
        registry = Registry(session.client("sagemaker"))
        if args.command == "deploy":
            lookup = release_deploy.lookup_session(session, environment)
            release_deploy.release(
                environment,
                registry=registry,
                cloudformation=lookup.client("cloudformation"),
                head=environments.head_commit(),
                tagged=environments.deployed_commit(args.env),
            )
            return 0
        if args.command == "promote":
            approval = read_approval(args.event)
            result = run_promotion(approval, environment.target, registry, _deploy_serving(environment), _now())
            print(result.message)
            promoted = result.model_package_arn
            if result.deployed and promoted and args.source_out and environment.ci.promoted_to(args.env):
                record = source_record(registry, promoted, args.env)
                record["model"] = result.model
                args.source_out.write_text(json.dumps(record, indent=2, default=str))
            return 0
        if args.command == "register":
            source = json.loads(args.source.read_text())
            lookup = release_deploy.lookup_session(session, environment)
            # The serving image of the model's framework, as the training stack outputs it per model.
            output = names.model_output_key(source["model"], names.TRAINING_MODEL_OUTPUTS["inference_image_uri"])
            image = release_deploy.stack_output(
                lookup.client("cloudformation"), f"{environment.target.prefix}-training", output
            )
            if not image:
                raise PromotionError(
                    f"{environment.target.prefix}-training has no {output}: release this environment first"
                )
            arn = register(source, source["model"], environment.target, registry, image)
            print(
                f"registered {source['model_package_arn']} in {environment.target.prefix} as {arn} "
                "(PendingManualApproval): approve it in the registry to deploy it"
            )
            return 0
    except (SettingsError, json.JSONDecodeError, OSError) as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 2
    except PromotionError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(f"release: {' '.join(map(str, exc.cmd))} exited {exc.returncode}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
