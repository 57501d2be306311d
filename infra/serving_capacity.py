"""The serving benchmark's measured capacity (`shared_names.SERVING_CAPACITY_FILE`), read as data, and
the requests/s per instance it gives an instance type."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.errors import SettingsError
from shared_names import InstanceTypeError, scale_to

# Used until the serving benchmark has written the capacity file: a conservative figure for a CPU
# instance serving one small model (documented in the README's Deploy section).
DEFAULT_MAX_RPS_PER_INSTANCE = 20.0


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


def max_rps_per_instance(model: str, capacity: Mapping[str, Any], instance_type: str) -> tuple[float, str]:
    """(requests/s per instance of `instance_type`, where the figure comes from): the capacity file's
    open-loop knee (else its closed-loop maximum), scaled by vCPUs from the instance type it was measured
    as to `instance_type` (another family is refused); the default while the file has no entry."""
    measured = capacity.get(model)
    if measured is None:
        return DEFAULT_MAX_RPS_PER_INSTANCE, "default"
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
