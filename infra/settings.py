"""Typed, validated settings for one deployment environment.

`cdk.json` context holds the raw values (`environments.<env>`); `load_settings` turns them into frozen
dataclasses before any construct is built, so an invalid value stops synth with a message that names
the key and what is allowed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planner.instances import InstanceTypeError, scale_to
from shared_names import (
    CHANNELS_BY_MODEL,
    FRAMEWORK_BY_MODEL,
    MODEL_KINDS,
    SECURITY_ATTACKS,
    SECURITY_BUDGET_HYPERPARAMETER,
    SECURITY_DEFAULT_BUDGETS,
)

if TYPE_CHECKING:
    from infra.capacity_plan import CapacityPlan
    from infra.drift_settings import DriftMonitorSettings

from infra.serving_modes import REALTIME, SCALE_TO_ZERO, ModeOptions, read_mode, read_mode_options

MODEL_NAMES = MODEL_KINDS
REMOVAL_POLICIES = ("destroy", "retain")
# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
TRAINING_INSTANCE_FAMILIES = (
    "m5",
    "m6i",
    "m7i",
    "c5",
    "c6i",
    "c7i",
    "r5",
    "g4dn",
    "g5",
    "g6",
    "p3",
    "p4d",
    "p5",
    "trn1",
)
SERVING_INSTANCE_FAMILIES = ("t2", "m5", "m6i", "m7i", "c5", "c6i", "c7i", "r5", "g4dn", "g5", "g6", "inf2")
INSTANCE_SIZES = (
    "medium",
    "large",
    "xlarge",
    "2xlarge",
    "4xlarge",
    "8xlarge",
    "9xlarge",
    "12xlarge",
    "16xlarge",
    "18xlarge",
    "24xlarge",
    "32xlarge",
    "48xlarge",
)
# Used until the serving benchmark has written benchmarks/serving_capacity.json: a conservative
# figure for a CPU instance serving one small model (documented in the README's Deploy section).
DEFAULT_MAX_RPS_PER_INSTANCE = 20.0
MODEL_PACKAGE_ARN = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):model-package/(?P<group>[A-Za-z0-9-]+)/\d+$"
)
S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9.-]{3,63})/(?P<key>.+\.tar\.gz)$")
ACCOUNT_ID = re.compile(r"\d{12}")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
# The context keys that name the model version an endpoint serves, per model.
VERSION_KEYS = ("model_package_arn", "model_data_url")


class SettingsError(ValueError):
    """An invalid setting; the message names the key and the allowed values."""


@dataclass(frozen=True)
class NetworkSettings:
    cidr: str
    flow_log_retention_days: int


@dataclass(frozen=True)
class StorageSettings:
    noncurrent_version_expiration_days: int
    infrequent_access_after_days: int
    access_log_expiration_days: int
    data_capture_expiration_days: int
    checkpoint_expiration_days: int


@dataclass(frozen=True)
class SecurityGateSettings:
    """The security half of the quality gate (docs/security.md): the accuracy under `attack` at
    `budget` (a label the job measures: an epsilon such as "2/255" for the CNN, an SNR such as "30dB"
    for the MLP) must be at least `min_robust_accuracy`, the membership-inference AUC at most
    `max_membership_auc`."""

    attack: str
    budget: str
    min_robust_accuracy: float
    max_membership_auc: float

    def payload(self, model: str) -> dict[str, Any]:
        """What the evaluation reader gets to judge with (evaluation_tarball.security_verdict)."""
        return {
            "model": model,
            "attack": self.attack,
            "budget": self.budget,
            "min_robust_accuracy": self.min_robust_accuracy,
            "max_membership_auc": self.max_membership_auc,
        }


@dataclass(frozen=True)
class TrainingSettings:
    model: str
    framework: str
    instance_type: str
    instance_count: int
    volume_size_gb: int
    use_spot: bool
    max_runtime_s: int
    max_wait_s: int
    quality_threshold: float
    channels: tuple[str, ...]
    hyperparameters: tuple[tuple[str, str], ...]
    security: SecurityGateSettings | None = None  # None: the gate checks accuracy only

    @property
    def hyperparameter_map(self) -> dict[str, str]:
        return dict(self.hyperparameters)


@dataclass(frozen=True)
class ModelVersion:
    """What an endpoint serves: an approved model package or a model.tar.gz in S3."""

    model_package_arn: str | None = None
    model_data_url: str | None = None

    @property
    def given(self) -> bool:
        return bool(self.model_package_arn or self.model_data_url)


@dataclass(frozen=True)
class ServingSettings:
    model: str
    instance_type: str
    min_capacity: int
    max_capacity: int
    safety_factor: float
    max_rps_per_instance: float
    capacity_source: str
    scale_in_cooldown_s: int
    scale_out_cooldown_s: int
    canary_percent: int
    canary_wait_s: int
    termination_wait_s: int
    latency_alarm_ms: int
    error_alarm_count: int
    data_capture_percent: int
    version: ModelVersion
    mode: str = REALTIME  # infra.serving_modes.MODES
    mode_options: ModeOptions = None  # ScaleToZeroSettings or AsyncSettings, per mode
    plan: CapacityPlan | None = None  # the planner's plan, when one exists (infra/capacity_plan.py)
    # True only while an instance-type change is under way (docs/deploy-readiness.md, "Changing the
    # instance type of an autoscaled endpoint"): the variant is deregistered from Application Auto
    # Scaling, which SageMaker requires before it changes the instance type of a registered variant.
    autoscaling_suspended: bool = False
    drift_monitor: DriftMonitorSettings | None = None  # serving.<model>.drift_monitor (infra/drift_settings.py)

    @property
    def framework(self) -> str:
        """The framework of the model kind: it picks the serving image (inference/Dockerfile's FRAMEWORK)."""
        return FRAMEWORK_BY_MODEL[self.model]

    @property
    def invocations_per_instance_target(self) -> float:
        """Target for SageMakerVariantInvocationsPerInstance (per minute): the plan's, else as AWS
        recommends, measured max RPS per instance x safety factor x 60."""
        if self.plan is not None:
            return self.plan.target_value
        return round(self.max_rps_per_instance * self.safety_factor * 60, 1)


@dataclass(frozen=True)
class EnvironmentSettings:
    project: str
    env: str
    # Where this environment deploys: cdk.json's value, else the CLI's CDK_DEFAULT_ACCOUNT/REGION
    # (None while neither is known, e.g. synth without credentials).
    account: str | None
    region: str | None
    removal_policy: str
    log_retention_days: int
    network: NetworkSettings
    storage: StorageSettings
    training: tuple[TrainingSettings, ...]
    serving: tuple[ServingSettings, ...]
    # Concurrency reserved for the evaluation reader Lambda: None (the default) reserves none. Lambda
    # refuses a reservation that leaves the account under 100 unreserved executions (see the README's
    # deploy prerequisites), so this is an opt-in for accounts whose quota allows it.
    evaluation_reserved_concurrency: int | None = None

    @property
    def prefix(self) -> str:
        return f"{self.project}-{self.env}"

    @property
    def retain(self) -> bool:
        return self.removal_policy == "retain"

    def artifact_bucket(self) -> str:
        """The artifact bucket's name, with ACCOUNT/REGION where they are not known yet."""
        return f"{self.prefix}-artifacts-{self.account or 'ACCOUNT'}-{self.region or 'REGION'}"


class _Reader:
    """Reads one mapping of raw settings, naming the full key in every error."""

    def __init__(self, raw: Any, key: str) -> None:
        if not isinstance(raw, Mapping):
            raise SettingsError(f"{key}: expected an object, got {type(raw).__name__}")
        self.raw, self.key, self.used = raw, key, set()

    def _get(self, name: str) -> tuple[str, Any]:
        key = f"{self.key}.{name}"
        if name not in self.raw:
            raise SettingsError(f"{key}: missing")
        self.used.add(name)
        return key, self.raw[name]

    def child(self, name: str) -> _Reader:
        key, value = self._get(name)
        return _Reader(value, key)

    def int(self, name: str, *, minimum: int = 0, allowed: tuple[int, ...] = ()) -> int:
        key, value = self._get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(f"{key}: expected an integer, got {value!r}")
        if allowed and value not in allowed:
            raise SettingsError(f"{key}: {value} is not allowed; allowed: {', '.join(map(str, allowed))}")
        if value < minimum:
            raise SettingsError(f"{key}: {value} is below the minimum {minimum}")
        return value

    def float(self, name: str, *, low: float, high: float) -> float:
        key, value = self._get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SettingsError(f"{key}: expected a number, got {value!r}")
        if not low <= value <= high:
            raise SettingsError(f"{key}: {value} is outside the allowed range [{low}, {high}]")
        return float(value)

    def bool(self, name: str) -> bool:
        key, value = self._get(name)
        if not isinstance(value, bool):
            raise SettingsError(f"{key}: expected true or false, got {value!r}")
        return value

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        key, value = self._get(name)
        if value not in allowed:
            raise SettingsError(f"{key}: {value!r} is not allowed; allowed: {', '.join(allowed)}")
        return value

    def instance_type(self, name: str, families: tuple[str, ...]) -> str:
        key, value = self._get(name)
        match = re.fullmatch(r"ml\.([a-z0-9]+)\.([a-z0-9]+)", value) if isinstance(value, str) else None
        if not match:
            raise SettingsError(
                f"{key}: {value!r} is not an instance type of the form ml.<family>.<size>, e.g. ml.{families[0]}.xlarge"
            )
        if match.group(1) not in families:
            raise SettingsError(
                f"{key}: unknown instance family {match.group(1)!r} in {value!r}; "
                f"allowed families: {', '.join(families)}"
            )
        if match.group(2) not in INSTANCE_SIZES:
            raise SettingsError(
                f"{key}: unknown instance size {match.group(2)!r} in {value!r}; "
                f"allowed sizes: {', '.join(INSTANCE_SIZES)}"
            )
        return value

    def done(self) -> None:
        unknown = sorted(set(self.raw) - self.used)
        if unknown:
            raise SettingsError(
                f"{self.key}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(self.used))}"
            )


def _network(r: _Reader) -> NetworkSettings:
    key, cidr = r._get("cidr")
    if not isinstance(cidr, str) or not re.fullmatch(r"(\d{1,3}\.){3}\d{1,3}/(1[6-9]|2[0-4])", cidr):
        raise SettingsError(f"{key}: {cidr!r} is not an IPv4 CIDR with a prefix length from /16 to /24")
    out = NetworkSettings(
        cidr=cidr, flow_log_retention_days=r.int("flow_log_retention_days", allowed=LOG_RETENTION_DAYS)
    )
    r.done()
    return out


def _storage(r: _Reader) -> StorageSettings:
    out = StorageSettings(
        noncurrent_version_expiration_days=r.int("noncurrent_version_expiration_days", minimum=1),
        infrequent_access_after_days=r.int("infrequent_access_after_days", minimum=30),
        access_log_expiration_days=r.int("access_log_expiration_days", minimum=1),
        data_capture_expiration_days=r.int("data_capture_expiration_days", minimum=1),
        checkpoint_expiration_days=r.int("checkpoint_expiration_days", minimum=1),
    )
    r.done()
    return out


def _training(model: str, r: _Reader) -> TrainingSettings:
    use_spot = r.bool("use_spot")
    max_runtime_s = r.int("max_runtime_s", minimum=60)
    max_wait_s = r.int("max_wait_s", minimum=0)
    if use_spot and max_wait_s < max_runtime_s:
        raise SettingsError(
            f"{r.key}.max_wait_s: {max_wait_s} is less than max_runtime_s "
            f"{max_runtime_s}; managed spot needs max_wait_s >= max_runtime_s"
        )
    key, channels = r._get("channels")
    allowed = CHANNELS_BY_MODEL[model]
    if isinstance(channels, list) and "train" in channels and not set(channels) <= set(allowed):
        others = [m for m, names in CHANNELS_BY_MODEL.items() if set(channels) - set(allowed) <= set(names)]
        raise SettingsError(
            f"{key}: {sorted(set(channels) - set(allowed))} is not a channel of the {model} model"
            + (f" (only of {', '.join(others)})" if others else "")
            + f"; allowed: {', '.join(allowed)}"
        )
    if not isinstance(channels, list) or "train" not in channels:
        raise SettingsError(f"{key}: {channels!r} must be a list holding 'train'; allowed: {', '.join(allowed)}")
    hp_key, hyper = r._get("hyperparameters")
    if not isinstance(hyper, Mapping) or any(isinstance(v, (dict, list)) or v is None for v in hyper.values()):
        raise SettingsError(f"{hp_key}: expected an object of scalar values (sent to SageMaker as strings)")
    if hyper.get("model", model) != model:
        raise SettingsError(f"{hp_key}.model: {hyper['model']!r} does not match the model {model!r}")
    hp = {"model": model, **{k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in hyper.items()}}
    out = TrainingSettings(
        model=model,
        framework=FRAMEWORK_BY_MODEL[model],
        instance_type=r.instance_type("instance_type", TRAINING_INSTANCE_FAMILIES),
        instance_count=r.int("instance_count", minimum=1),
        volume_size_gb=r.int("volume_size_gb", minimum=1),
        use_spot=use_spot,
        max_runtime_s=max_runtime_s,
        max_wait_s=max_wait_s,
        quality_threshold=r.float("quality_threshold", low=0.0, high=1.0),
        channels=tuple(c for c in allowed if c in channels),
        hyperparameters=tuple(sorted(hp.items())),
        security=_security_gate(model, r.child("security"), hp) if "security" in r.raw else None,
    )
    r.done()
    return out


def _security_gate(model: str, r: _Reader, hyperparameters: Mapping[str, str]) -> SecurityGateSettings:
    """The gate's thresholds, checked against what the job will measure: the attack is one of the
    model's, the budget one the job's hyperparameters (or their defaults) list, and the evaluation is on."""
    attack = r.choice("attack", SECURITY_ATTACKS[model])
    key, budget = r._get("budget")
    hp_key = SECURITY_BUDGET_HYPERPARAMETER[model]
    listed = [part.strip() for part in hyperparameters.get(hp_key, SECURITY_DEFAULT_BUDGETS[model]).split(",")]
    labels = [f"{value}dB" for value in listed] if model == "mlp" else listed
    if budget not in labels:
        raise SettingsError(
            f"{key}: {budget!r} is not a budget the {model} job measures; its {hp_key} gives: {', '.join(labels)}"
        )
    if hyperparameters.get("security", "true").lower() in ("false", "0", "no"):
        raise SettingsError(
            f"{r.key}: the gate needs the job's security figures, but hyperparameters.security is false"
        )
    out = SecurityGateSettings(
        attack=attack,
        budget=budget,
        min_robust_accuracy=r.float("min_robust_accuracy", low=0.0, high=1.0),
        max_membership_auc=r.float("max_membership_auc", low=0.5, high=1.0),
    )
    r.done()
    return out


def _version_context(context: Mapping[str, Any], env: str, model: str) -> dict[str, str]:
    """The model-version keys that apply to `env`: `-c <env>:<model>_<key>=...` always, and the plain
    `-c <model>_<key>=...` only together with `-c env=<env>`, so a version never reaches an environment
    it was not meant for."""
    found = {}
    for key in VERSION_KEYS:
        plain, scoped = f"{model}_{key}", f"{env}:{model}_{key}"
        if context.get(plain) and context.get("env") != env:
            raise SettingsError(
                f"{plain}: a model version belongs to one environment; give -c env=NAME with "
                f"it, or name the environment in the key: -c {scoped}=..."
            )
        if context.get(plain) and context.get(scoped):
            raise SettingsError(f"{plain} and {scoped}: give one, not both")
        if context.get(scoped) or context.get(plain):
            found[key] = str(context.get(scoped) or context.get(plain))
    return found


def _model_version(model: str, given: Mapping[str, str], where: _Where) -> ModelVersion:
    """The version an endpoint serves; it must be where this environment's endpoint can read it: a
    package of this environment's group in its account and region, or an artifact in its artifact
    bucket under the model's training prefix (the model role may read nothing else)."""
    arn, url = given.get("model_package_arn"), given.get("model_data_url")
    if arn and url:
        raise SettingsError(f"{model}_model_package_arn and {model}_model_data_url: give one, not both")
    if arn:
        match = MODEL_PACKAGE_ARN.match(arn)
        if not match:
            raise SettingsError(
                f"{model}_model_package_arn: {arn!r} is not a versioned model package ARN "
                "(arn:aws:sagemaker:REGION:ACCOUNT:model-package/GROUP/VERSION)"
            )
        wanted = (where.region or match["region"], where.account or match["account"], f"{where.prefix}-{model}")
        if (match["region"], match["account"], match["group"]) != wanted:
            raise SettingsError(
                f"{model}_model_package_arn: {arn!r} is not a package of environment {where.env}: expected region "
                f"{where.region or 'REGION'}, account {where.account or 'ACCOUNT'}, group {wanted[2]}"
            )
    if url:
        match = S3_URI.match(url)
        if not match:
            raise SettingsError(f"{model}_model_data_url: {url!r} is not an s3://BUCKET/KEY.tar.gz URI")
        bucket = re.escape(f"{where.prefix}-artifacts-")
        bucket += (re.escape(where.account) if where.account else ACCOUNT_ID.pattern) + "-"
        bucket += re.escape(where.region) if where.region else REGION.pattern
        if not (re.fullmatch(bucket, match["bucket"]) and match["key"].startswith(f"training/{model}/")):
            raise SettingsError(
                f"{model}_model_data_url: {url!r} is not in environment {where.env}'s artifact bucket "
                f"{where.prefix}-artifacts-{where.account or 'ACCOUNT'}-{where.region or 'REGION'} under "
                f"training/{model}/"
            )
    return ModelVersion(model_package_arn=arn, model_data_url=url)


@dataclass(frozen=True)
class _Where:
    env: str
    prefix: str
    account: str | None
    region: str | None


def _target(r: _Reader, name: str, pattern: re.Pattern[str], default: str | None, what: str) -> str | None:
    """`account` or `region` of an environment: a literal, or null (or left out) for the CLI's default."""
    if name not in r.raw:
        r.used.add(name)
        return default
    key, value = r._get(name)
    if value is None:
        return default
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise SettingsError(f"{key}: {value!r} is not {what}, or null for the CLI's default")
    return value


def _serving(model: str, r: _Reader, capacity: Mapping[str, Any], version: ModelVersion) -> ServingSettings:
    mode = read_mode(r.raw, r.key)
    r.used.update({"mode", "scale_to_zero", "async"} & set(r.raw))
    min_capacity = r.int("min_capacity", minimum=1 if mode == REALTIME else 0)
    if mode != REALTIME and min_capacity != 0:
        raise SettingsError(
            f"{r.key}.min_capacity: {min_capacity} with mode {mode!r}; allowed: 0 (the mode "
            "scales to zero instances; use mode 'realtime' to keep instances running)"
        )
    max_capacity = r.int("max_capacity", minimum=1)
    if min_capacity > max_capacity:
        raise SettingsError(
            f"{r.key}.min_capacity: {min_capacity} is greater than max_capacity {max_capacity}; "
            "allowed: min_capacity <= max_capacity"
        )
    measured = capacity.get(model)
    instance_type = r.instance_type("instance_type", SERVING_INSTANCE_FAMILIES)
    if measured is not None:
        rps, source = _measured_rps(model, measured, instance_type)
    else:
        rps, source = DEFAULT_MAX_RPS_PER_INSTANCE, "default"
    out = ServingSettings(
        model=model,
        instance_type=instance_type,
        min_capacity=min_capacity,
        max_capacity=max_capacity,
        safety_factor=r.float("safety_factor", low=0.1, high=1.0),
        max_rps_per_instance=rps,
        capacity_source=source,
        scale_in_cooldown_s=r.int("scale_in_cooldown_s", minimum=0),
        scale_out_cooldown_s=r.int("scale_out_cooldown_s", minimum=0),
        canary_percent=r.int("canary_percent", minimum=1),
        canary_wait_s=r.int("canary_wait_s", minimum=0),
        termination_wait_s=r.int("termination_wait_s", minimum=0),
        latency_alarm_ms=r.int("latency_alarm_ms", minimum=1),
        error_alarm_count=r.int("error_alarm_count", minimum=1),
        data_capture_percent=r.int("data_capture_percent", minimum=0),
        version=version,
        mode=mode,
        mode_options=read_mode_options(r.raw, r.key, mode, instance_type),
        autoscaling_suspended=r.bool("autoscaling_suspended") if "autoscaling_suspended" in r.raw else False,
        drift_monitor=_drift_monitor(r, mode),
    )
    if out.autoscaling_suspended and mode == SCALE_TO_ZERO:
        raise SettingsError(
            f"{r.key}.autoscaling_suspended: true with mode {mode!r}; allowed only with modes 'realtime' "
            "and 'async', whose endpoint variant is registered with Application Auto Scaling"
        )
    if out.canary_percent > 50:
        raise SettingsError(f"{r.key}.canary_percent: {out.canary_percent} is above 50; allowed: 1 to 50")
    if out.data_capture_percent > 100:
        raise SettingsError(f"{r.key}.data_capture_percent: {out.data_capture_percent}; allowed: 0 to 100")
    if mode != REALTIME and out.data_capture_percent:
        # AWS documents Data Capture for real-time endpoints that host a model and for batch transform
        # (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture.html); this project
        # configures it on the realtime mode only.
        raise SettingsError(
            f"{r.key}.data_capture_percent: {out.data_capture_percent} with mode {mode!r}; "
            "allowed: 0 (data capture is configured in mode 'realtime' only)"
        )
    r.done()
    return out


def _drift_monitor(r: _Reader, mode: str) -> DriftMonitorSettings | None:
    from infra.drift_settings import read_drift_monitor  # it imports this module

    return read_drift_monitor(r, mode=mode, data_capture_percent=r.raw.get("data_capture_percent", 0))


def _measured_rps(model: str, measured: Mapping[str, Any], instance_type: str) -> tuple[float, str]:
    """The open-loop knee (else the closed-loop maximum) of the capacity file, scaled by vCPUs from the
    instance type it was measured as to `instance_type`; another family is refused."""
    knee = measured.get("open_loop_knee_rps")
    key = "open_loop_knee_rps" if knee else "max_rps_per_instance"
    rps = float(measured[key])
    if rps <= 0:
        raise SettingsError(f"serving capacity file: {model}.{key} must be > 0, got {rps}")
    source = f"benchmark{' open-loop knee' if knee else ''} ({measured.get('measured_at', '?')})"
    measured_as = measured.get("instance_type")
    if measured_as and measured_as != instance_type:
        try:
            rps, how = scale_to(rps, measured_as, instance_type)
        except InstanceTypeError as exc:
            raise SettingsError(f"serving capacity file: {model}: {exc}") from exc
        source += f", scaled: {how}"
    return rps, source


def _per_model(r: _Reader, build) -> tuple:
    unknown = sorted(set(r.raw) - set(MODEL_NAMES))
    if unknown:
        raise SettingsError(f"{r.key}: unknown model(s) {', '.join(unknown)}; allowed: {', '.join(MODEL_NAMES)}")
    return tuple(build(m, r.child(m)) for m in MODEL_NAMES if m in r.raw)


def read_capacity_file(path: Path) -> dict[str, Any]:
    """The serving benchmark's measured capacity per model; empty when the file does not exist yet."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SettingsError(f"serving capacity file {path}: not valid JSON ({exc})") from exc
    for model, entry in data.items():
        if not isinstance(entry, Mapping) or "max_rps_per_instance" not in entry:
            raise SettingsError(f"serving capacity file {path}: {model} needs max_rps_per_instance")
    return data


def load_settings(
    context: Mapping[str, Any],
    env: str,
    *,
    capacity: Mapping[str, Any] | None = None,
    default_account: str | None = None,
    default_region: str | None = None,
) -> EnvironmentSettings:
    """Validate `environments.<env>` (plus the model-version keys given with -c) into settings.
    `default_account`/`default_region` (the CLI's CDK_DEFAULT_ACCOUNT/REGION) stand in for an
    `account`/`region` that cdk.json leaves null."""
    project = context.get("project")
    if not isinstance(project, str) or not re.fullmatch(r"[a-z][a-z0-9]{1,15}", project):
        raise SettingsError(f"project: {project!r} must be 2-16 lowercase letters and digits")
    environments = context.get("environments")
    if not isinstance(environments, Mapping) or not environments:
        raise SettingsError("environments: missing from cdk.json context")
    if env not in environments:
        raise SettingsError(f"env: unknown environment {env!r}; allowed: {', '.join(sorted(environments))}")
    if not re.fullmatch(r"[a-z][a-z0-9]{1,9}", env):
        raise SettingsError(f"env: {env!r} must be 2-10 lowercase letters and digits")
    r = _Reader(environments[env], f"environments.{env}")
    capacity = capacity or {}
    account = _target(r, "account", ACCOUNT_ID, default_account, "a 12-digit AWS account ID")
    region = _target(r, "region", REGION, default_region, "an AWS region name such as eu-west-1")
    where = _Where(env=env, prefix=f"{project}-{env}", account=account, region=region)
    out = EnvironmentSettings(
        project=project,
        env=env,
        account=account,
        region=region,
        removal_policy=r.choice("removal_policy", REMOVAL_POLICIES),
        log_retention_days=r.int("log_retention_days", allowed=LOG_RETENTION_DAYS),
        network=_network(r.child("network")),
        storage=_storage(r.child("storage")),
        training=_per_model(r.child("training"), _training),
        serving=_per_model(
            r.child("serving"),
            lambda m, c: _serving(m, c, capacity, _model_version(m, _version_context(context, env, m), where)),
        ),
        evaluation_reserved_concurrency=(
            r.int("evaluation_reserved_concurrency", minimum=1) if "evaluation_reserved_concurrency" in r.raw else None
        ),
    )
    r.done()
    return out
