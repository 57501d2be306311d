"""The validated settings of one environment, as frozen dataclasses: what constructs are given.

`infra/settings.py` builds them from cdk.json; `infra/capacity_plan.py` puts the planner's plan in.
Nothing here reads or validates anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.drift_settings import DriftMonitorSettings
from infra.serving_modes import REALTIME, ModeOptions
from shared_names import FRAMEWORK_BY_MODEL, bucket_name, stack_prefix


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
class ScheduledMinimum:
    name: str
    schedule: str  # cron(...) in UTC
    min_capacity: int


@dataclass(frozen=True)
class CapacityPlan:
    """The planner's plan for one environment and model (`planner/plans/<env>-<model>.json`)."""

    source: str  # the plan file, for messages and outputs
    policy: str
    target_value: float  # invocations per instance per minute
    scale_in_cooldown_s: int
    scale_out_cooldown_s: int
    min_capacity: int
    max_capacity: int
    scheduled_actions: tuple[ScheduledMinimum, ...]


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
        return stack_prefix(self.env, self.project)

    @property
    def retain(self) -> bool:
        return self.removal_policy == "retain"

    def artifact_bucket(self) -> str:
        """The artifact bucket's name, with ACCOUNT/REGION where they are not known yet."""
        return bucket_name(self.env, "artifacts", self.account or "ACCOUNT", self.region or "REGION", self.project)
