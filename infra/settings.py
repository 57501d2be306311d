"""Typed, validated settings for one deployment environment.

`cdk.json` context holds the raw values (`environments.<env>`); `load_settings` turns them into frozen
dataclasses before any construct is built, so an invalid value stops synth with a message that names
the key and what is allowed. The parts, one job each:

- `infra/settings_types.py`: the dataclasses; `infra/errors.py`: `SettingsError`;
- `infra/allowed_values.py`: AWS's tables and formats; `infra/settings_reader.py`: the key-naming reader;
- `infra/training_settings.py`, `infra/serving_settings.py` (with `infra/serving_modes.py`): the sections;
- `infra/serving_capacity.py`: the capacity file; `infra/model_version.py`: the model version of `-c`.

This module reads the environment and names the public interface: import from here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from infra.allowed_values import (
    ACCOUNT_ID,
    ENV_NAME,
    LOG_RETENTION_DAYS,
    PROJECT_NAME,
    REGION,
    REMOVAL_POLICIES,
    VPC_CIDR,
)
from infra.errors import SettingsError
from infra.model_version import VERSION_KEYS, Where, model_version, version_context
from infra.serving_capacity import DEFAULT_MAX_RPS_PER_INSTANCE, read_capacity_file
from infra.serving_settings import read_serving
from infra.settings_reader import Reader
from infra.settings_types import (
    EnvironmentSettings,
    ModelVersion,
    NetworkSettings,
    SecurityGateSettings,
    ServingSettings,
    StorageSettings,
    TrainingSettings,
)
from infra.training_settings import read_training
from shared_names import MODEL_KINDS

MODEL_NAMES = MODEL_KINDS

__all__ = [
    "DEFAULT_MAX_RPS_PER_INSTANCE",
    "LOG_RETENTION_DAYS",
    "MODEL_NAMES",
    "VERSION_KEYS",
    "EnvironmentSettings",
    "ModelVersion",
    "NetworkSettings",
    "SecurityGateSettings",
    "ServingSettings",
    "SettingsError",
    "StorageSettings",
    "TrainingSettings",
    "load_settings",
    "read_capacity_file",
]

T = TypeVar("T")


def _network(r: Reader) -> NetworkSettings:
    key, cidr = r.get("cidr")
    if not isinstance(cidr, str) or not VPC_CIDR.fullmatch(cidr):
        raise SettingsError(f"{key}: {cidr!r} is not an IPv4 CIDR with a prefix length from /16 to /24")
    out = NetworkSettings(
        cidr=cidr, flow_log_retention_days=r.int("flow_log_retention_days", allowed=LOG_RETENTION_DAYS)
    )
    r.done()
    return out


def _storage(r: Reader) -> StorageSettings:
    out = StorageSettings(
        noncurrent_version_expiration_days=r.int("noncurrent_version_expiration_days", minimum=1),
        infrequent_access_after_days=r.int("infrequent_access_after_days", minimum=30),
        access_log_expiration_days=r.int("access_log_expiration_days", minimum=1),
        data_capture_expiration_days=r.int("data_capture_expiration_days", minimum=1),
        checkpoint_expiration_days=r.int("checkpoint_expiration_days", minimum=1),
    )
    r.done()
    return out


def _target(r: Reader, name: str, pattern: re.Pattern[str], default: str | None, what: str) -> str | None:
    """`account` or `region` of an environment: a literal, or null (or left out) for the CLI's default."""
    if name not in r.raw:
        r.used.add(name)
        return default
    key, value = r.get(name)
    if value is None:
        return default
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise SettingsError(f"{key}: {value!r} is not {what}, or null for the CLI's default")
    return value


def _per_model(r: Reader, build: Callable[[str, Reader], T]) -> tuple[T, ...]:
    unknown = sorted(set(r.raw) - set(MODEL_NAMES))
    if unknown:
        raise SettingsError(f"{r.key}: unknown model(s) {', '.join(unknown)}; allowed: {', '.join(MODEL_NAMES)}")
    return tuple(build(m, r.child(m)) for m in MODEL_NAMES if m in r.raw)


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
    if not isinstance(project, str) or not PROJECT_NAME.fullmatch(project):
        raise SettingsError(f"project: {project!r} must be 2-16 lowercase letters and digits")
    environments = context.get("environments")
    if not isinstance(environments, Mapping) or not environments:
        raise SettingsError("environments: missing from cdk.json context")
    if env not in environments:
        raise SettingsError(f"env: unknown environment {env!r}; allowed: {', '.join(sorted(environments))}")
    if not ENV_NAME.fullmatch(env):
        raise SettingsError(f"env: {env!r} must be 2-10 lowercase letters and digits")
    r = Reader(environments[env], f"environments.{env}")
    capacity = capacity or {}
    account = _target(r, "account", ACCOUNT_ID, default_account, "a 12-digit AWS account ID")
    region = _target(r, "region", REGION, default_region, "an AWS region name such as eu-west-1")
    where = Where(project=project, env=env, account=account, region=region)
    out = EnvironmentSettings(
        project=project,
        env=env,
        account=account,
        region=region,
        removal_policy=r.choice("removal_policy", REMOVAL_POLICIES),
        log_retention_days=r.int("log_retention_days", allowed=LOG_RETENTION_DAYS),
        network=_network(r.child("network")),
        storage=_storage(r.child("storage")),
        training=_per_model(r.child("training"), read_training),
        serving=_per_model(
            r.child("serving"),
            lambda m, c: read_serving(m, c, capacity, model_version(m, version_context(context, env, m), where)),
        ),
        evaluation_reserved_concurrency=(
            r.int("evaluation_reserved_concurrency", minimum=1) if "evaluation_reserved_concurrency" in r.raw else None
        ),
    )
    r.done()
    return out
