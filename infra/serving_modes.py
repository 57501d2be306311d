"""Serving modes: how an endpoint keeps (or does not keep) instances running.

`cdk.json` -> `environments.<env>.serving.<model>.mode`:

- `realtime` (the default when `mode` is absent): a real-time endpoint, target tracking on
  `SageMakerVariantInvocationsPerInstance`, `min_capacity >= 1`.
- `scale-to-zero`: a real-time endpoint whose model is an inference component; the endpoint config's
  `ManagedInstanceScaling` lets SageMaker remove the last instance once the copy count is 0. Options
  in `scale_to_zero: {copy_cpu_cores, copy_memory_mb}`.
- `async`: an asynchronous inference endpoint (requests queued, input and output in S3), scaled on the
  backlog down to 0 instances. Options in `async: {max_payload_mb, max_concurrent_invocations_per_instance,
  backlog_per_instance_target}`.

Both zero modes need `min_capacity: 0`. What a region or an instance type cannot support stops synth
here with the reason and the page that says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra.errors import SettingsError
from shared_names import VCPUS_BY_SIZE

REALTIME, SCALE_TO_ZERO, ASYNC = "realtime", "scale-to-zero", "async"
MODES = (REALTIME, SCALE_TO_ZERO, ASYNC)
DEFAULT_MODE = REALTIME

# Regions whose CloudFormation registry has AWS::SageMaker::InferenceComponent, read from the
# per-region resource schemas that cfn-lint 1.58.0 bundles (cfnlint/data/schemas/providers/<region>.json);
# tests/unit/infra/test_serving_modes.py fails when cfn-lint's data and this list part ways.
# Scale to zero needs inference components: "An endpoint can scale to and from zero instances only if
# it hosts inference components." https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-zero-instances.html
INFERENCE_COMPONENT_REGIONS = (
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ca-central-1",
    "eu-central-1",
    "eu-isoe-west-1",
    "eu-north-1",
    "eu-west-1",
    "eu-west-2",
    "eusc-de-east-1",
    "me-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-iso-east-1",
    "us-iso-west-1",
    "us-isob-east-1",
    "us-isob-west-1",
    "us-isof-east-1",
    "us-isof-south-1",
    "us-west-2",
)
# "Amazon SageMaker AI automatic scaling doesn't support burstable instances such as T2":
# https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-add-console.html
# Both zero modes leave zero only through Application Auto Scaling.
BURSTABLE_FAMILY = re.compile(r"^t\d")
# Asynchronous inference accepts payloads up to 1 GB:
# https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference.html
ASYNC_MAX_PAYLOAD_MB = 1024


@dataclass(frozen=True)
class ScaleToZeroSettings:
    """What one inference component copy reserves on an instance (a scheduling reservation).
    The copy count scales 0..max_capacity, one copy per instance at most by default."""

    copy_cpu_cores: float = 1.0
    copy_memory_mb: int = 1024


@dataclass(frozen=True)
class AsyncSettings:
    max_payload_mb: int = 100  # what the serving container accepts (SAGEMAKER_MAX_PAYLOAD_IN_MB)
    max_concurrent_invocations_per_instance: int = 4
    backlog_per_instance_target: float = 5.0  # ApproximateBacklogSizePerInstance target


ModeOptions = ScaleToZeroSettings | AsyncSettings | None
_OPTION_KEY = {SCALE_TO_ZERO: "scale_to_zero", ASYNC: "async"}


def _number(key: str, value: Any, low: float, high: float, *, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise SettingsError(f"{key}: expected {'an integer' if integer else 'a number'}, got {value!r}")
    if not low <= value <= high:
        raise SettingsError(f"{key}: {value} is outside the allowed range [{low:g}, {high:g}]")
    return value


def read_mode(raw: Mapping[str, Any], key: str) -> str:
    """`<key>.mode`, `realtime` when absent."""
    mode = raw.get("mode", DEFAULT_MODE)
    if mode not in MODES:
        raise SettingsError(f"{key}.mode: {mode!r} is not allowed; allowed: {', '.join(MODES)}")
    return mode


def read_mode_options(raw: Mapping[str, Any], key: str, mode: str, instance_type: str) -> ModeOptions:
    """The options object of `mode` (defaults when absent); an object for another mode is an error."""
    for other_mode, name in _OPTION_KEY.items():
        if other_mode != mode and name in raw:
            raise SettingsError(f"{key}.{name}: only allowed with mode {other_mode!r}; this model's mode is {mode!r}")
    if mode == REALTIME:
        return None
    family, size = instance_type.split(".")[1:3]
    if BURSTABLE_FAMILY.match(family):
        raise SettingsError(
            f"{key}.instance_type: {instance_type!r} cannot serve mode {mode!r}: Application Auto "
            "Scaling does not scale burstable (T) instances, and this mode leaves zero only through it "
            "(https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-add-console.html)"
        )
    options = raw.get(_OPTION_KEY[mode], {})
    if not isinstance(options, Mapping):
        raise SettingsError(f"{key}.{_OPTION_KEY[mode]}: expected an object, got {type(options).__name__}")
    okey = f"{key}.{_OPTION_KEY[mode]}"
    defaults = ScaleToZeroSettings() if mode == SCALE_TO_ZERO else AsyncSettings()
    allowed = sorted(defaults.__dataclass_fields__)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise SettingsError(f"{okey}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    values = {name: options.get(name, getattr(defaults, name)) for name in allowed}
    if mode == SCALE_TO_ZERO:
        vcpus = VCPUS_BY_SIZE[size]
        _number(f"{okey}.copy_cpu_cores", values["copy_cpu_cores"], 0.25, vcpus)
        _number(f"{okey}.copy_memory_mb", values["copy_memory_mb"], 128, 1_048_576, integer=True)
        return ScaleToZeroSettings(
            copy_cpu_cores=float(values["copy_cpu_cores"]), copy_memory_mb=int(values["copy_memory_mb"])
        )
    _number(f"{okey}.max_payload_mb", values["max_payload_mb"], 1, ASYNC_MAX_PAYLOAD_MB, integer=True)
    # MaxConcurrentInvocationsPerInstance: 1 to 1000 (API_AsyncInferenceClientConfig):
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_AsyncInferenceClientConfig.html
    _number(
        f"{okey}.max_concurrent_invocations_per_instance",
        values["max_concurrent_invocations_per_instance"],
        1,
        1000,
        integer=True,
    )
    _number(f"{okey}.backlog_per_instance_target", values["backlog_per_instance_target"], 0.1, 10_000)
    return AsyncSettings(
        max_payload_mb=int(values["max_payload_mb"]),
        max_concurrent_invocations_per_instance=int(values["max_concurrent_invocations_per_instance"]),
        backlog_per_instance_target=float(values["backlog_per_instance_target"]),
    )


def check_region(mode: str, region: str | None, where: str) -> None:
    """Stop synth when `region` (known at synth, e.g. a stack's env) cannot serve `mode`."""
    if mode != SCALE_TO_ZERO or region is None:
        return
    if region not in INFERENCE_COMPONENT_REGIONS:
        raise SettingsError(
            f"{where}: mode 'scale-to-zero' needs SageMaker inference components, which CloudFormation "
            f"does not offer in {region}; use mode 'async' or 'realtime' there, or one of: "
            f"{', '.join(INFERENCE_COMPONENT_REGIONS)}"
        )


def invocations_per_copy_target(serving: Any) -> float:
    """Target for SageMakerInferenceComponentInvocationsPerCopy (per minute): the measured max RPS of an
    instance x safety factor x 60, scaled by the share of the instance's vCPUs one copy reserves."""
    options = serving.mode_options if isinstance(serving.mode_options, ScaleToZeroSettings) else ScaleToZeroSettings()
    vcpus = VCPUS_BY_SIZE[serving.instance_type.split(".")[2]]
    share = min(1.0, options.copy_cpu_cores / vcpus)
    return round(serving.max_rps_per_instance * serving.safety_factor * 60 * share, 1)
