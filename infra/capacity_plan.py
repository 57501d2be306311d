"""The planner's plan files (`planner/plans/<env>-<model>.json`), read as data and validated.

`make plan` writes them; when one exists for an environment and model, the serving stack declares
its target tracking (target value, cooldowns, min/max) and its scheduled actions instead of the
cdk.json figures. infra reads the plan as data, a reviewed input like the capacity file, and imports
none of the planner's code (the vCPU rule both size by lives in `shared_names.py`). Plans apply to the
`realtime` mode (the variant's scalable target); a plan for a model in another mode stops synth.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.errors import SettingsError
from infra.serving_modes import REALTIME
from infra.settings_types import CapacityPlan, EnvironmentSettings, ScheduledMinimum

SCHEMA = 1
METRIC = "SageMakerVariantInvocationsPerInstance"
# "Scheduled actions per scalable target: 200" (not adjustable):
# https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-quotas.html
MAX_SCHEDULED_ACTIONS = 200
# Application Auto Scaling's cron has six fields, Minutes Hours Day-of-month Month Day-of-week Year:
# https://docs.aws.amazon.com/autoscaling/application/userguide/scheduled-scaling-using-cron-expressions.html
CRON = re.compile(r"^cron\((\S+ ){5}\S+\)$")
ACTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")


def _int(raw: Mapping[str, Any], key: str, where: str, minimum: int = 0) -> int:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SettingsError(f"{where}.{key}: expected an integer >= {minimum}, got {value!r}")
    return value


def read_plan(path: Path, env: str, model: str, instance_type: str) -> CapacityPlan:
    """Validate one plan file against the environment it is applied to."""
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SettingsError(f"capacity plan {path}: not valid JSON ({exc})") from exc
    where = f"capacity plan {path}"
    if raw.get("schema") != SCHEMA:
        raise SettingsError(f"{where}: schema {raw.get('schema')!r} is not {SCHEMA}; re-run make plan")
    if (raw.get("env"), raw.get("model")) != (env, model):
        raise SettingsError(f"{where}: made for {raw.get('env')}/{raw.get('model')}, applied to {env}/{model}")
    if raw.get("instance_type") != instance_type:
        raise SettingsError(
            f"{where}: planned for {raw.get('instance_type')!r} but cdk.json serves {model} on "
            f"{instance_type!r}; re-run make plan ENV={env} MODEL={model}"
        )
    tt = raw.get("target_tracking")
    if not isinstance(tt, Mapping) or tt.get("metric") != METRIC:
        raise SettingsError(f"{where}: target_tracking.metric must be {METRIC}")
    target = tt.get("target_value")
    if isinstance(target, bool) or not isinstance(target, (int, float)) or target <= 0:
        raise SettingsError(f"{where}: target_tracking.target_value must be a positive number, got {target!r}")
    low, high = _int(raw, "min_capacity", where, 1), _int(raw, "max_capacity", where, 1)
    if low > high:
        raise SettingsError(f"{where}: min_capacity {low} is greater than max_capacity {high}")
    actions = raw.get("scheduled_actions", [])
    if not isinstance(actions, list) or len(actions) > MAX_SCHEDULED_ACTIONS:
        raise SettingsError(
            f"{where}: scheduled_actions must be a list of at most {MAX_SCHEDULED_ACTIONS} "
            "(Application Auto Scaling's quota per scalable target)"
        )
    parsed, names = [], set()
    for i, action in enumerate(actions):
        at = f"{where}: scheduled_actions[{i}]"
        if not isinstance(action, Mapping):
            raise SettingsError(f"{at}: expected an object")
        name, schedule = action.get("name"), action.get("schedule")
        if not isinstance(name, str) or not ACTION_NAME.match(name) or name in names:
            raise SettingsError(f"{at}.name: {name!r} must be a unique name of letters, digits and '-'")
        if not isinstance(schedule, str) or not CRON.match(schedule):
            raise SettingsError(f"{at}.schedule: {schedule!r} is not a six-field cron(...) expression")
        minimum = _int(action, "min_capacity", at, 1)
        if minimum > high:
            raise SettingsError(f"{at}.min_capacity: {minimum} is above max_capacity {high}")
        names.add(name)
        parsed.append(ScheduledMinimum(name, schedule, minimum))
    return CapacityPlan(
        source=str(path),
        policy=str(raw.get("policy", "?")),
        target_value=float(target),
        scale_in_cooldown_s=_int(tt, "scale_in_cooldown_s", f"{where}: target_tracking"),
        scale_out_cooldown_s=_int(tt, "scale_out_cooldown_s", f"{where}: target_tracking"),
        min_capacity=low,
        max_capacity=high,
        scheduled_actions=tuple(parsed),
    )


def apply_plans(settings: EnvironmentSettings, plans_dir: Path) -> EnvironmentSettings:
    """Settings with each model's plan (when `plans_dir/<env>-<model>.json` exists) in force."""
    serving = []
    for s in settings.serving:
        path = plans_dir / f"{settings.env}-{s.model}.json"
        if not path.is_file():
            serving.append(s)
            continue
        if s.mode != REALTIME:
            raise SettingsError(
                f"{path}: a capacity plan scales a realtime endpoint, but "
                f"environments.{settings.env}.serving.{s.model}.mode is {s.mode!r}; remove the "
                "plan or set the mode to 'realtime'"
            )
        plan = read_plan(path, settings.env, s.model, s.instance_type)
        serving.append(
            dataclasses.replace(
                s,
                min_capacity=plan.min_capacity,
                max_capacity=plan.max_capacity,
                scale_in_cooldown_s=plan.scale_in_cooldown_s,
                scale_out_cooldown_s=plan.scale_out_cooldown_s,
                plan=plan,
            )
        )
    return dataclasses.replace(settings, serving=tuple(serving))
