"""`environments.<env>.serving.<model>`: an endpoint's capacity, scaling, deployment and alarms, validated
against its mode (`infra/serving_modes.py`) and sized by the capacity file (`infra/serving_capacity.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.allowed_values import SERVING_INSTANCE_FAMILIES
from infra.drift_settings import read_drift_monitor
from infra.errors import SettingsError
from infra.serving_capacity import max_rps_per_instance
from infra.serving_modes import REALTIME, SCALE_TO_ZERO, read_mode, read_mode_options
from infra.settings_reader import Reader
from infra.settings_types import ModelVersion, ServingSettings


def read_serving(model: str, r: Reader, capacity: Mapping[str, Any], version: ModelVersion) -> ServingSettings:
    mode = read_mode(r.raw, r.key)
    r.used.update({"mode", "scale_to_zero", "async"} & set(r.raw))
    min_capacity, max_capacity = _capacity_range(r, mode)
    instance_type = r.instance_type("instance_type", SERVING_INSTANCE_FAMILIES)
    rps, source = max_rps_per_instance(model, capacity, instance_type)
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
        drift_monitor=read_drift_monitor(r, mode=mode, data_capture_percent=r.raw.get("data_capture_percent", 0)),
    )
    _check(out, r.key)
    r.done()
    return out


def _capacity_range(r: Reader, mode: str) -> tuple[int, int]:
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
    return min_capacity, max_capacity


def _check(s: ServingSettings, key: str) -> None:
    """The rules between keys, and those of the mode."""
    if s.autoscaling_suspended and s.mode == SCALE_TO_ZERO:
        raise SettingsError(
            f"{key}.autoscaling_suspended: true with mode {s.mode!r}; allowed only with modes 'realtime' "
            "and 'async', whose endpoint variant is registered with Application Auto Scaling"
        )
    if s.canary_percent > 50:
        raise SettingsError(f"{key}.canary_percent: {s.canary_percent} is above 50; allowed: 1 to 50")
    if s.data_capture_percent > 100:
        raise SettingsError(f"{key}.data_capture_percent: {s.data_capture_percent}; allowed: 0 to 100")
    if s.mode != REALTIME and s.data_capture_percent:
        # AWS documents Data Capture for real-time endpoints that host a model and for batch transform
        # (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture.html); this project
        # configures it on the realtime mode only.
        raise SettingsError(
            f"{key}.data_capture_percent: {s.data_capture_percent} with mode {s.mode!r}; "
            "allowed: 0 (data capture is configured in mode 'realtime' only)"
        )
