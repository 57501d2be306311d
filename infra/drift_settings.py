"""`serving.<model>.drift_monitor` in cdk.json: the scheduled drift monitor of one endpoint
(infra/components/drift_monitor.py, docs/drift-monitoring.md), validated into `DriftMonitorSettings`.

CDK-free like infra/settings.py, which calls `read_drift_monitor` for each serving model (importing this
module inside the call: this module imports the reader and the error from it). Every error
names the full key. What AWS validates at deploy or run time, and where it says so:
- the schedule is an EventBridge Scheduler expression, `rate(value unit)` (unit minute(s), hour(s),
  day(s); singular for 1) or `cron(minutes hours day-of-month month day-of-week year)`: "Schedule types
  on EventBridge Scheduler", https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html;
- the drift alarm's evaluation range (the window times `consecutive_windows_to_retrain`) can be no
  longer than seven days for a period of an hour or more ("Period multiplied by EvaluationPeriods
  can't be more than 604,800 seconds"): PutMetricAlarm, Period,
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html;
- processing instance types: ProcessingClusterConfig InstanceType,
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProcessingClusterConfig.html.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from infra.errors import SettingsError
from infra.settings_reader import Reader

KEY = "drift_monitor"
RATE = re.compile(r"rate\((?P<value>[1-9]\d*) (?P<unit>minutes?|hours?|days?)\)")
CRON = re.compile(r"cron\((\S+ ){5}\S+\)")
SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
MAX_EVALUATION_RANGE_S = 604_800  # PutMetricAlarm: Period x EvaluationPeriods, periods of an hour or more
MAX_WINDOW_HOURS = 168  # the capture days of one window stay within ProcessingInputs' 10 entries (8 + the model)
PROCESSING_INSTANCE_FAMILIES = ("m5", "c5", "r5")


@dataclass(frozen=True)
class DriftMonitorSettings:
    """One monitoring run every `schedule`, over the captures of the last `window_hours`; no test below
    `min_window` inputs; drift in `consecutive_windows_to_retrain` windows in a row raises the drift alarm
    and, with `retrain`, starts the model's training pipeline."""

    schedule: str
    window_hours: int
    min_window: int
    consecutive_windows_to_retrain: int
    retrain: bool = False
    instance_type: str = "ml.m5.xlarge"
    volume_size_gb: int = 30
    max_runtime_s: int = 3600

    @property
    def window_s(self) -> int:
        """The alarm period: one window."""
        return self.window_hours * 3600


def read_drift_monitor(serving: Reader, *, mode: str, data_capture_percent: int) -> DriftMonitorSettings | None:
    """`<serving key>.drift_monitor`, or None when absent. Refused unless the endpoint captures its
    traffic: mode `realtime` with `data_capture_percent` above 0 (the modes and the capture they have:
    docs/drift-monitoring.md)."""
    if KEY not in serving.raw:
        return None
    r = serving.child(KEY)
    if mode != "realtime" or data_capture_percent <= 0:
        why = (
            f"mode {mode!r} has no data capture (SageMaker documents Data Capture for real-time endpoints "
            "that host a model; see docs/drift-monitoring.md)"
            if mode != "realtime"
            else "data_capture_percent is 0, so there is nothing to monitor"
        )
        raise SettingsError(f"{r.key}: the monitor reads the endpoint's captured requests, but {why}")
    window_hours = r.int("window_hours", minimum=1)
    if window_hours > MAX_WINDOW_HOURS:
        raise SettingsError(f"{r.key}.window_hours: {window_hours} is above {MAX_WINDOW_HOURS}; allowed: 1 to 168")
    schedule = _schedule(r, window_hours)
    consecutive = r.int("consecutive_windows_to_retrain", minimum=1)
    if consecutive * window_hours * 3600 > MAX_EVALUATION_RANGE_S:
        raise SettingsError(
            f"{r.key}.consecutive_windows_to_retrain: {consecutive} windows of {window_hours} h is "
            f"{consecutive * window_hours} h; a CloudWatch alarm evaluates at most 7 days (168 h), so allowed: "
            f"1 to {MAX_EVALUATION_RANGE_S // (window_hours * 3600)}"
        )
    optional: dict[str, Any] = {}  # absent keys keep the dataclass's defaults
    if "retrain" in r.raw:
        optional["retrain"] = r.bool("retrain")
    if "instance_type" in r.raw:
        optional["instance_type"] = r.instance_type("instance_type", PROCESSING_INSTANCE_FAMILIES)
    if "volume_size_gb" in r.raw:
        optional["volume_size_gb"] = r.int("volume_size_gb", minimum=1)
    if "max_runtime_s" in r.raw:
        optional["max_runtime_s"] = r.int("max_runtime_s", minimum=60)
    out = DriftMonitorSettings(
        schedule=schedule,
        window_hours=window_hours,
        min_window=r.int("min_window", minimum=1),
        consecutive_windows_to_retrain=consecutive,
        **optional,
    )
    r.done()
    return out


def _schedule(r: Reader, window_hours: int) -> str:
    key, value = r.get("schedule")
    if not isinstance(value, str) or not (RATE.fullmatch(value) or CRON.fullmatch(value)):
        raise SettingsError(
            f"{key}: {value!r} is not an EventBridge Scheduler expression; allowed: rate(<n> minutes|hours|days) "
            "or cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)"
        )
    rate = RATE.fullmatch(value)
    if rate:
        number, unit = int(rate["value"]), rate["unit"]
        if (number == 1) != (not unit.endswith("s")):
            raise SettingsError(f"{key}: {value!r}: the unit is singular for 1 and plural otherwise, e.g. rate(1 hour)")
        seconds = number * SECONDS[unit.rstrip("s")]
        if seconds != window_hours * 3600:
            raise SettingsError(
                f"{key}: {value!r} runs every {seconds / 3600:g} h but window_hours is {window_hours}; the windows "
                "would overlap or leave gaps, and the drift alarm counts one window per period; make them equal"
            )
    return value
