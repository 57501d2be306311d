"""Capacity per instance from benchmarks/serving_capacity.json, scaled to an instance type by vCPUs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from shared_names import InstanceTypeError, scale_to


class CapacityError(ValueError):
    """The capacity file lacks what the planner needs; the message names the file and key."""


@dataclass(frozen=True)
class Capacity:
    model: str
    instance_type: str
    rps: float  # requests/s one instance of instance_type serves within the SLO (the open-loop knee)
    closed_loop_rps: float  # the stacks' current figure (max_rps_per_instance), scaled the same way
    closed_loop_measured: float  # max_rps_per_instance as measured (what the stacks used before scaling)
    p99_slo_ms: float
    how: str  # how it was measured and scaled

    @property
    def per_minute(self) -> float:
        return self.rps * 60


def load(path: Path, model: str, instance_type: str) -> Capacity:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CapacityError(f"{path}: cannot read the capacity file ({exc})") from exc
    entry = data.get(model)
    if not isinstance(entry, dict):
        raise CapacityError(f"{path}: no entry for model {model!r}")
    measured_as = entry.get("instance_type")
    if not isinstance(measured_as, str):
        raise CapacityError(f"{path}: {model}.instance_type is missing")
    knee = entry.get("open_loop_knee_rps")
    closed = entry.get("max_rps_per_instance")
    if not isinstance(closed, (int, float)) or closed <= 0:
        raise CapacityError(f"{path}: {model}.max_rps_per_instance must be a positive number")
    measured = knee if isinstance(knee, (int, float)) and knee > 0 else None
    source = "open-loop knee" if measured is not None else "closed-loop max (no open-loop knee yet)"
    base = float(measured if measured is not None else closed)
    try:
        rps, how = scale_to(base, measured_as, instance_type)
        closed_rps, _ = scale_to(float(closed), measured_as, instance_type)
    except InstanceTypeError as exc:
        raise CapacityError(f"{path}: {model}: {exc}") from exc
    return Capacity(
        model, instance_type, rps, closed_rps, float(closed), float(entry.get("p99_slo_ms", 100)), f"{source}: {how}"
    )
