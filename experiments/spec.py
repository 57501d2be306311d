"""The training job an experiment runs, with the platform's guardrails decided here and nowhere else.

A `TrainingSpec` is plain data: what `ModelTrainer` is given (see `trainer.py`) and what `--dry-run`
shows. Instance sizes and time limits come from the environment's settings in `cdk.json` (the same ones
the pipeline's jobs use); data scientists choose the hyperparameters, the data and, if they must, the
instance type. The guardrails (VPC, network isolation, inter-container encryption, KMS on volume and
output, managed spot with head-room, checkpoints, metric definitions) have no switch.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from experiments.errors import GuardrailViolation
from experiments.outputs import MODELS, PlatformOutputs
from experiments.s3uri import S3Uri
from infra.settings import load_settings
from shared_names import CHANNELS, PROJECT

REPO_ROOT = Path(__file__).resolve().parents[1]
CDK_JSON = REPO_ROOT / "cdk.json"
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
# SageMaker requires MaxWaitTimeInSeconds >= MaxRuntimeInSeconds; the platform wants head-room for
# spot interruptions, so an experiment waits at least twice its run time.
MIN_SPOT_WAIT_FACTOR = 2
TAG_KEY = f"{PROJECT}:experiment"


@dataclass(frozen=True)
class TrainingSettings:
    instance_type: str
    instance_count: int
    volume_size_gb: int
    max_runtime_s: int
    max_wait_s: int
    hyperparameters: dict[str, str]


@dataclass(frozen=True)
class TrainingSpec:
    base_job_name: str
    image_uri: str
    role_arn: str
    hyperparameters: dict[str, str]
    channels: dict[str, str]
    output_path: str
    checkpoint_uri: str
    key_arn: str
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    instance_type: str
    instance_count: int
    volume_size_gb: int
    max_runtime_s: int
    max_wait_s: int
    metric_definitions: list[dict[str, str]]
    tags: dict[str, str] = field(default_factory=dict)


def load_training_settings(env: str, model: str, cdk_json: Path = CDK_JSON) -> TrainingSettings:
    """The environment's training settings from cdk.json, validated by infra's own settings loader (the same
    rules synth applies), with the spot head-room applied."""
    try:
        context = json.loads(cdk_json.read_text())["context"]
        environment = load_settings(context, env)
    except (OSError, ValueError, KeyError) as exc:  # SettingsError is a ValueError
        raise GuardrailViolation(f"{cdk_json}: {exc}") from exc
    t = next((t for t in environment.training if t.model == model), None)
    if t is None:
        raise GuardrailViolation(f"cdk.json has no training settings for {model} in {env}")
    return TrainingSettings(
        instance_type=t.instance_type,
        instance_count=t.instance_count,
        volume_size_gb=t.volume_size_gb,
        max_runtime_s=t.max_runtime_s,
        max_wait_s=max(t.max_wait_s, MIN_SPOT_WAIT_FACTOR * t.max_runtime_s),
        hyperparameters=t.hyperparameter_map,
    )


def _as_string(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def merge_hyperparameters(
    model: str, defaults: Mapping[str, str], file_values: Mapping[str, object] | None, assignments: Sequence[str]
) -> dict[str, str]:
    """Settings < JSON file < `--set key=value`; `model` is always the launched model."""
    merged = dict(defaults)
    for key, value in (file_values or {}).items():
        merged[str(key)] = _as_string(value)
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise GuardrailViolation(f"--set expects key=value, got {item!r}")
        merged[key.strip()] = value
    if merged.get("model", model) != model:
        raise GuardrailViolation(f"hyperparameter model={merged['model']} contradicts --model {model}")
    if merged.get("checkpoint_dir", CHECKPOINT_LOCAL_PATH) not in ("", CHECKPOINT_LOCAL_PATH):
        raise GuardrailViolation(
            f"hyperparameter checkpoint_dir must stay {CHECKPOINT_LOCAL_PATH}: it is the "
            "CheckpointConfig local path that managed spot resumes from"
        )
    merged["model"] = model
    return merged


def base_job_name(prefix: str, model: str) -> str:
    """`elasticml-dev-cnn-exp-1a2b3c4d`, unique per launch: it names the checkpoint prefix, and the SDK
    appends a timestamp to make the job name (`...-1a2b3c4d-20261128113000`, under 63 characters)."""
    return f"{prefix}-{model}-exp-{secrets.token_hex(4)}"


def check_data_location(uri: S3Uri, outputs: PlatformOutputs) -> None:
    """The training role reads only `s3://<data bucket>/<model>/...` (infra/stacks/training_stack.py)."""
    if uri.bucket != outputs.data_bucket or not uri.key.startswith(f"{outputs.model}/"):
        raise GuardrailViolation(
            f"{uri} is outside what the {outputs.model} training role may read: use "
            f"s3://{outputs.data_bucket}/{outputs.model}/<prefix>/ (copy it there with `aws s3 sync`)"
        )


def build_training_spec(
    *,
    outputs: PlatformOutputs,
    settings: TrainingSettings,
    channels: Mapping[str, S3Uri],
    hyperparameters: Mapping[str, str],
    base_name: str,
    metric_definitions: list[dict[str, str]],
    instance_type: str | None = None,
    instance_count: int | None = None,
) -> TrainingSpec:
    if outputs.model not in MODELS:
        raise GuardrailViolation(f"--model must be one of {', '.join(MODELS)}")
    if "train" not in channels:
        raise GuardrailViolation("a train channel is required (--train s3://...)")
    unknown = set(channels) - set(CHANNELS)
    if unknown:
        raise GuardrailViolation(f"unknown channels {sorted(unknown)}; the training contract has {CHANNELS}")
    for uri in channels.values():
        check_data_location(uri, outputs)
    if not re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,47}", base_name):
        raise GuardrailViolation(f"invalid job name {base_name!r}: letters, digits and hyphens, at most 48")
    if not outputs.subnet_ids or not outputs.training_security_group_id:
        raise GuardrailViolation(
            "the network stack gave no subnets or security group: a job never runs outside the VPC"
        )
    spec = TrainingSpec(
        base_job_name=base_name,
        image_uri=outputs.training_image_uri,
        role_arn=outputs.training_role_arn,
        hyperparameters=dict(hyperparameters),
        channels={c: str(u) for c, u in channels.items()},
        output_path=f"s3://{outputs.artifact_bucket}/training/{outputs.model}/",
        checkpoint_uri=f"s3://{outputs.artifact_bucket}/checkpoints/{outputs.model}/{base_name}/",
        key_arn=outputs.key_arn,
        subnet_ids=outputs.subnet_ids,
        security_group_ids=(outputs.training_security_group_id,),
        instance_type=instance_type or settings.instance_type,
        instance_count=instance_count or settings.instance_count,
        volume_size_gb=settings.volume_size_gb,
        max_runtime_s=settings.max_runtime_s,
        max_wait_s=settings.max_wait_s,
        metric_definitions=[dict(d) for d in metric_definitions],
        tags={TAG_KEY: base_name, "project": PROJECT, "environment": outputs.env},
    )
    if not spec.max_wait_s > spec.max_runtime_s:
        raise GuardrailViolation(
            f"managed spot needs MaxWaitTimeInSeconds ({spec.max_wait_s}) > MaxRuntimeInSeconds ({spec.max_runtime_s})"
        )
    return spec
