"""`environments.<env>.training.<model>`: a training job's settings and its quality gate, validated."""

from __future__ import annotations

from collections.abc import Mapping

from infra.allowed_values import TRAINING_INSTANCE_FAMILIES
from infra.errors import SettingsError
from infra.settings_reader import Reader
from infra.settings_types import SecurityGateSettings, TrainingSettings
from shared_names import (
    CHANNELS_BY_MODEL,
    FRAMEWORK_BY_MODEL,
    SECURITY_ATTACKS,
    SECURITY_BUDGET_HYPERPARAMETER,
    SECURITY_DEFAULT_BUDGETS,
)


def read_training(model: str, r: Reader) -> TrainingSettings:
    use_spot = r.bool("use_spot")
    max_runtime_s = r.int("max_runtime_s", minimum=60)
    max_wait_s = r.int("max_wait_s", minimum=0)
    if use_spot and max_wait_s < max_runtime_s:
        raise SettingsError(
            f"{r.key}.max_wait_s: {max_wait_s} is less than max_runtime_s "
            f"{max_runtime_s}; managed spot needs max_wait_s >= max_runtime_s"
        )
    allowed = CHANNELS_BY_MODEL[model]
    channels = _channels(model, r)
    hp = _hyperparameters(model, r)
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


def _channels(model: str, r: Reader) -> list[str]:
    key, channels = r.get("channels")
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
    return channels


def _hyperparameters(model: str, r: Reader) -> dict[str, str]:
    """The job's hyperparameters as SageMaker gets them: strings (booleans lowercase), `model` set."""
    hp_key, hyper = r.get("hyperparameters")
    if not isinstance(hyper, Mapping) or any(isinstance(v, (dict, list)) or v is None for v in hyper.values()):
        raise SettingsError(f"{hp_key}: expected an object of scalar values (sent to SageMaker as strings)")
    if hyper.get("model", model) != model:
        raise SettingsError(f"{hp_key}.model: {hyper['model']!r} does not match the model {model!r}")
    return {"model": model, **{k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in hyper.items()}}


def _security_gate(model: str, r: Reader, hyperparameters: Mapping[str, str]) -> SecurityGateSettings:
    """The gate's thresholds, checked against what the job will measure: the attack is one of the
    model's, the budget one the job's hyperparameters (or their defaults) list, and the evaluation is on."""
    attack = r.choice("attack", SECURITY_ATTACKS[model])
    key, budget = r.get("budget")
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
