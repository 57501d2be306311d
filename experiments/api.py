"""The Python API: `launch`, `deploy`, `teardown`. The CLI (`python -m experiments`) is a thin layer on these.

Each function reads the stacks' outputs, builds a spec with the guardrails (`spec.py`, `deploy.py`) and
either sends it with the SDK or, with `dry_run=True`, prints the exact requests and sends none of them.
`boto_session` defaults to the usual credential chain; tests pass one whose clients are stubbed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from experiments import deploy as deployment
from experiments import trainer as sdk
from experiments.aws import aws_errors, resolve_session
from experiments.dryrun import RecordedRequest, RecordingSession
from experiments.errors import ExperimentError, GuardrailViolation, JobFailed
from experiments.evaluation import fetch_evaluation, format_evaluation
from experiments.outputs import MODELS, PROJECT, read_platform_outputs
from experiments.s3uri import S3Uri, check_exists
from experiments.spec import (
    CDK_JSON,
    base_job_name,
    build_training_spec,
    load_training_settings,
    merge_hyperparameters,
)
from infra.metric_definitions import load_metric_definitions
from infra.settings import load_settings

Printer = Callable[[str], None]


@dataclass
class Result:
    """What a command did (or, in a dry run, would do)."""

    names: list[str] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    evaluation: dict[str, Any] | None = None


def _read_hyperparameters_file(path: str | Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        values = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ExperimentError(f"--hyperparameters {path}: {exc}") from exc
    if not isinstance(values, dict):
        raise ExperimentError(f"--hyperparameters {path}: expected a JSON object of name: value")
    return values


@dataclass(frozen=True)
class LaunchRequest:
    """What to train and how to run it: the `launch` command's arguments, checked on construction."""

    env: str
    model: str
    train: str
    validation: str | None = None
    test: str | None = None
    hyperparameters_file: str | Path | None = None
    assignments: tuple[str, ...] = ()
    instance_type: str | None = None
    wait: bool = False
    logs: bool = True
    dry_run: bool = False

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise GuardrailViolation(f"--model must be one of {', '.join(MODELS)}, got {self.model!r}")
        object.__setattr__(self, "assignments", tuple(self.assignments))

    def channels(self) -> dict[str, S3Uri]:
        return {
            name: S3Uri.parse(uri)
            for name, uri in (("train", self.train), ("validation", self.validation), ("test", self.test))
            if uri
        }


@dataclass(frozen=True)
class AwsAccess:
    """Which AWS session to use: a given one (tests stub its clients), else region/profile, else the chain."""

    boto_session: boto3.Session | None = None
    region: str | None = None
    profile: str | None = None

    def session(self) -> boto3.Session:
        return resolve_session(self.boto_session, region=self.region, profile=self.profile)


def launch(
    request: LaunchRequest, aws: AwsAccess | None = None, *, cdk_json: Path = CDK_JSON, out: Printer = print
) -> Result:
    r = request
    env, model = r.env, r.model
    session = (aws or AwsAccess()).session()
    channels = r.channels()
    settings = load_training_settings(env, model, cdk_json)
    hyperparameters = merge_hyperparameters(
        model, settings.hyperparameters, _read_hyperparameters_file(r.hyperparameters_file), r.assignments
    )
    with aws_errors():
        outputs = read_platform_outputs(session.client("cloudformation"), env=env, model=model)
        spec = build_training_spec(
            outputs=outputs,
            settings=settings,
            channels=channels,
            hyperparameters=hyperparameters,
            base_name=base_job_name(outputs.prefix, model),
            metric_definitions=load_metric_definitions(),
            instance_type=r.instance_type,
        )
        s3 = session.client("s3")
        for uri in channels.values():
            check_exists(s3, uri)
        if r.dry_run:
            recorder = RecordingSession.like(session)
            trainer = sdk.model_trainer(spec, sdk.sdk_session(recorder.boto_session))
            recorded = recorder.capture(lambda: sdk.start(trainer))
            out(f"# dry run: nothing sent. The request `launch` would send:\n{recorder.render()}")
            return Result(names=[recorded.body["TrainingJobName"]], requests=recorder.requests)
        job = sdk.start(sdk.model_trainer(spec, sdk.sdk_session(session)))
        name = job.training_job_name
        out(f"Started training job {name}\n  checkpoints {spec.checkpoint_uri}\n  output      {spec.output_path}")
        result = Result(names=[name])
        if r.wait:
            if r.logs:
                sdk.follow_logs_with(session)
            result.evaluation = follow(job, s3, logs=r.logs, out=out)
        return result


def follow(job, s3, *, logs: bool = True, out: Printer = print) -> dict[str, Any]:
    """Wait for the job (streaming its CloudWatch logs), then print its evaluation.json."""
    from sagemaker.core.utils.exceptions import FailedStatusError

    try:
        job.wait(logs=logs)
    except FailedStatusError as exc:
        raise JobFailed(job.training_job_name, str(job.training_job_status), str(job.failure_reason)) from exc
    if job.training_job_status != "Completed":
        raise JobFailed(job.training_job_name, str(job.training_job_status), "stopped before it finished")
    evaluation = fetch_evaluation(s3, job.model_artifacts.s3_model_artifacts)
    out(f"Training job {job.training_job_name} completed\n{format_evaluation(evaluation)}")
    return evaluation


def _serving_instance_type(env: str, model: str, cdk_json: Path) -> str:
    """The environment's serving instance type, from cdk.json validated by infra's settings loader."""
    try:
        environment = load_settings(json.loads(cdk_json.read_text())["context"], env)
    except (OSError, ValueError, KeyError) as exc:  # SettingsError is a ValueError
        raise GuardrailViolation(f"{cdk_json}: {exc}") from exc
    return next((s.instance_type for s in environment.serving if s.model == model), "ml.c5.xlarge")


def deploy(
    *,
    env: str,
    job: str,
    name: str | None = None,
    register: bool = False,
    instance_type: str | None = None,
    wait: bool = False,
    dry_run: bool = False,
    boto_session: boto3.Session | None = None,
    region: str | None = None,
    profile: str | None = None,
    cdk_json: Path = CDK_JSON,
    out: Printer = print,
) -> Result:
    session = resolve_session(boto_session, region=region, profile=profile)
    with aws_errors():
        client = session.client("sagemaker")
        description = client.describe_training_job(TrainingJobName=job)
        model = description.get("HyperParameters", {}).get("model", "")
        if model not in MODELS:
            raise GuardrailViolation(f"training job {job} has hyperparameter model={model!r}, not one of {MODELS}")
        outputs = read_platform_outputs(session.client("cloudformation"), env=env, model=model)
        instance_type = instance_type or _serving_instance_type(env, model, cdk_json)
        recorder = RecordingSession.like(session) if dry_run else None
        writer = recorder.boto_session if recorder else session
        if register:
            evaluation = _evaluation_or_none(session.client("s3"), description, out)
            step = deployment.register_step(
                job=description, outputs=outputs, instance_type=instance_type, evaluation=evaluation, session=writer
            )
            steps: list[Callable[[], Any]] = [step]
        else:
            name = name or job
            if not name.startswith(f"{outputs.prefix}-"):
                raise GuardrailViolation(f"--name must start with {outputs.prefix}- (teardown --all looks there)")
            spec = deployment.deployment_spec(name=name, job=description, outputs=outputs, instance_type=instance_type)
            steps = deployment.deploy_steps(spec, writer)
        if recorder:
            for step in steps:
                recorder.capture(step)
            out(f"# dry run: nothing sent. The requests `deploy` would send:\n{recorder.render()}")
            return Result(names=[name] if name else [], requests=recorder.requests)
        created = [step() for step in steps]
        if register:
            arn = created[0]["ModelPackageArn"]
            out(f"Registered {arn} (PendingManualApproval) in {outputs.model_package_group}")
            return Result(names=[arn])
        out(
            f"Creating endpoint {name} ({instance_type}); remove it with "
            f"`python -m experiments teardown --env {env} --name {name}`"
        )
        if wait:
            created[-1].wait_for_status("InService")
            out(f"Endpoint {name} is InService")
        return Result(names=[name or job])


def _evaluation_or_none(s3, description: dict[str, Any], out: Printer) -> dict[str, Any] | None:
    artifact = description.get("ModelArtifacts", {}).get("S3ModelArtifacts")
    if not artifact:
        return None
    try:
        return fetch_evaluation(s3, artifact)
    except ExperimentError as exc:
        out(f"warning: registering without evaluation figures: {exc}")
        return None


def teardown(
    *,
    env: str,
    name: str | None = None,
    all_deployments: bool = False,
    dry_run: bool = False,
    boto_session: boto3.Session | None = None,
    region: str | None = None,
    profile: str | None = None,
    out: Printer = print,
) -> Result:
    if bool(name) == bool(all_deployments):
        raise ExperimentError("teardown needs exactly one of --name NAME or --all")
    session = resolve_session(boto_session, region=region, profile=profile)
    with aws_errors():
        client = session.client("sagemaker")
        names = [name] if name else deployment.deployments(client, f"{PROJECT}-{env}-")
        recorder = RecordingSession.like(session) if dry_run else None
        writer = recorder.boto_session.client("sagemaker") if recorder else client
        result = Result(names=names)
        for deployment_name in names:
            owned = deployment.owned_resources(client, deployment_name)
            if not owned:
                out(f"{deployment_name}: nothing to remove")
            for item in owned:
                step = deployment.delete_step(writer, item)
                if recorder:
                    recorder.capture(step)
                else:
                    step()
                    out(f"Deleted {item.kind.label} {deployment_name}")
        if recorder:
            out(f"# dry run: nothing sent. The requests `teardown` would send:\n{recorder.render() or '(none)'}")
            result.requests = recorder.requests
        return result
