"""`python -m experiments launch|deploy|teardown ...`: argparse over `experiments.api`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from experiments import api
from experiments.errors import ExperimentError
from experiments.outputs import MODELS


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env", default="dev", help="environment of cdk.json (stacks elasticml-ENV-*); default dev")
    common.add_argument("--region", help="AWS region of the stacks (default: AWS_REGION / profile)")
    common.add_argument("--profile", help="AWS profile (default: AWS_PROFILE / the default chain)")
    common.add_argument(
        "--dry-run",
        action="store_true",
        help="print the exact API requests and send none (reads the stacks' outputs and checks S3)",
    )
    p = argparse.ArgumentParser(prog="python -m experiments", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    launch = sub.add_parser("launch", parents=[common], help="start a training job with the platform's guardrails")
    launch.add_argument("--model", required=True, choices=MODELS)
    launch.add_argument("--train", required=True, metavar="S3_URI")
    launch.add_argument("--validation", metavar="S3_URI")
    launch.add_argument("--test", metavar="S3_URI")
    launch.add_argument("--hyperparameters", metavar="FILE.json", help="JSON object of hyperparameters")
    launch.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="assignments",
        help="a hyperparameter (repeatable; wins over the file)",
    )
    launch.add_argument("--instance-type", help="override the environment's training instance type")
    launch.add_argument("--wait", action="store_true", help="follow the job and its logs, then print evaluation.json")

    deploy = sub.add_parser(
        "deploy", parents=[common], help="serve a finished job on a temporary endpoint, or --register it"
    )
    deploy.add_argument("--job", required=True, metavar="TRAINING_JOB_NAME")
    deploy.add_argument("--name", help="endpoint, endpoint config and model name (default: the job's name)")
    deploy.add_argument(
        "--register", action="store_true", help="register a model package (PendingManualApproval) instead of deploying"
    )
    deploy.add_argument("--instance-type", help="override the environment's serving instance type")
    deploy.add_argument("--wait", action="store_true", help="wait until the endpoint is InService")

    teardown = sub.add_parser("teardown", parents=[common], help="delete what deploy made")
    which = teardown.add_mutually_exclusive_group(required=True)
    which.add_argument("--name", help="the deployment (endpoint) name")
    which.add_argument(
        "--all", action="store_true", dest="all_deployments", help="every experiment deployment of --env"
    )
    return p


def main(argv: Sequence[str] | None = None, *, boto_session=None) -> int:
    """Exit status 0, or 2 with `error: ...` on stderr for a problem the user can fix."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    common = dict(
        env=args.env, region=args.region, profile=args.profile, dry_run=args.dry_run, boto_session=boto_session
    )
    try:
        if args.command == "launch":
            api.launch(
                api.LaunchRequest(
                    env=args.env,
                    model=args.model,
                    train=args.train,
                    validation=args.validation,
                    test=args.test,
                    hyperparameters_file=args.hyperparameters,
                    assignments=tuple(args.assignments),
                    instance_type=args.instance_type,
                    wait=args.wait,
                    dry_run=args.dry_run,
                ),
                api.AwsAccess(boto_session=boto_session, region=args.region, profile=args.profile),
            )
        elif args.command == "deploy":
            api.deploy(
                job=args.job,
                name=args.name,
                register=args.register,
                instance_type=args.instance_type,
                wait=args.wait,
                **common,
            )
        else:
            api.teardown(name=args.name, all_deployments=args.all_deployments, **common)
    except ExperimentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
