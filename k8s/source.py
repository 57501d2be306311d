"""The serving settings of one environment, read from cdk.json and validated exactly as synth validates
them (infra.settings, infra.capacity_plan), without the CDK: the capacity file and the planner's plan
for that environment are applied the same way (infra/application.py, `select_settings`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.capacity_plan import apply_plans
from infra.settings import EnvironmentSettings, SettingsError, load_settings, read_capacity_file
from shared_names import CAPACITY_PLANS_DIR, SERVING_CAPACITY_FILE

REPO_ROOT = Path(__file__).resolve().parents[1]
CDK_JSON = REPO_ROOT / "cdk.json"


def read_context(cdk_json: Path = CDK_JSON) -> dict[str, Any]:
    try:
        context = json.loads(cdk_json.read_text())["context"]
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        raise SettingsError(f"{cdk_json}: cannot read its context ({exc})") from exc
    if not isinstance(context, dict):
        raise SettingsError(f"{cdk_json}: context must be an object")
    return context


def environment_settings(
    env: str, *, context: Mapping[str, Any] | None = None, extra: Mapping[str, str] | None = None
) -> EnvironmentSettings:
    """`environments.<env>` with the capacity file and `planner/plans/<env>-<model>.json` applied.
    `extra` holds `-c`-style keys (e.g. `dev:cnn_model_data_url`), as the CDK CLI would pass them."""
    context = {**(read_context() if context is None else context), **(extra or {}), "env": env}
    capacity = read_capacity_file(REPO_ROOT / (context.get("serving_capacity_file") or SERVING_CAPACITY_FILE))
    settings = load_settings(context, env, capacity=capacity)
    return apply_plans(settings, REPO_ROOT / (context.get("capacity_plans_dir") or CAPACITY_PLANS_DIR))
