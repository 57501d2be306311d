"""`serving.<model>.drift_monitor`: validated with errors that name the key (infra/drift_settings.py)."""

from __future__ import annotations

import copy

import pytest

from infra.drift_settings import DriftMonitorSettings
from infra.settings import SettingsError, load_settings

from .conftest import base_context

KEY = "environments.prod.serving.cnn.drift_monitor"


@pytest.fixture
def context():
    return copy.deepcopy(base_context())


def monitor_of(context) -> dict:
    return context["environments"]["prod"]["serving"]["cnn"]["drift_monitor"]


def load_cnn(context):
    return load_settings(context, "prod").serving[0]


def test_prod_watches_both_models_every_six_hours_and_retraining_is_off(context):
    for serving in load_settings(context, "prod").serving:
        assert serving.drift_monitor == DriftMonitorSettings(
            schedule="rate(6 hours)", window_hours=6, min_window=100, consecutive_windows_to_retrain=3
        )
        assert serving.drift_monitor.retrain is False
    assert all(s.drift_monitor is None for s in load_settings(context, "dev").serving)


def test_retrain_is_off_when_left_out(context):
    del monitor_of(context)["retrain"]
    assert load_cnn(context).drift_monitor.retrain is False
    monitor_of(context)["retrain"] = True
    assert load_cnn(context).drift_monitor.retrain is True


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schedule": "every 6 hours"}, f"{KEY}.schedule: 'every 6 hours' is not an EventBridge Scheduler expression"),
        ({"schedule": "rate(6 hour)"}, "singular for 1 and plural otherwise"),
        ({"schedule": "rate(1 hours)", "window_hours": 1}, "singular for 1 and plural otherwise"),
        ({"schedule": "rate(12 hours)"}, f"{KEY}.schedule: 'rate(12 hours)' runs every 12 h but window_hours is 6"),
        ({"schedule": "rate(90 minutes)"}, "runs every 1.5 h"),
        ({"window_hours": 0}, f"{KEY}.window_hours: 0 is below the minimum 1"),
        ({"window_hours": 169, "schedule": "cron(0 0 * * ? *)"}, f"{KEY}.window_hours: 169 is above 168"),
        ({"min_window": 0}, f"{KEY}.min_window: 0 is below the minimum 1"),
        ({"consecutive_windows_to_retrain": 0}, f"{KEY}.consecutive_windows_to_retrain: 0 is below the minimum 1"),
        (
            {"consecutive_windows_to_retrain": 29},
            "a CloudWatch alarm evaluates at most 7 days (168 h), so allowed: 1 to 28",
        ),
        ({"retrain": "yes"}, f"{KEY}.retrain: expected true or false"),
        ({"instance_type": "ml.g5.xlarge"}, f"{KEY}.instance_type: unknown instance family 'g5'"),
        ({"windows": 3}, f"{KEY}: unknown key(s) windows"),
    ],
)
def test_bad_values_name_the_key(context, change, message):
    monitor_of(context).update(change)
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        load_cnn(context)


def test_a_cron_schedule_and_the_optional_keys(context):
    monitor_of(context).update(
        schedule="cron(0 */6 * * ? *)", instance_type="ml.c5.2xlarge", volume_size_gb=50, max_runtime_s=1800
    )
    monitor = load_cnn(context).drift_monitor
    assert (monitor.schedule, monitor.instance_type, monitor.volume_size_gb, monitor.max_runtime_s) == (
        "cron(0 */6 * * ? *)",
        "ml.c5.2xlarge",
        50,
        1800,
    )
    assert monitor.window_s == 6 * 3600


def test_a_missing_key_is_named(context):
    del monitor_of(context)["window_hours"]
    with pytest.raises(SettingsError, match=f"{KEY}.window_hours: missing"):
        load_cnn(context)


@pytest.mark.parametrize("mode", ["scale-to-zero", "async"])
def test_only_a_capturing_realtime_endpoint_is_monitored(context, mode):
    serving = context["environments"]["prod"]["serving"]["cnn"]
    serving.update(mode=mode, min_capacity=0, data_capture_percent=0)
    with pytest.raises(
        SettingsError,
        match=rf"{KEY}: the monitor reads the endpoint's captured requests, but mode '{mode}' has no data capture",
    ):
        load_cnn(context)


def test_an_endpoint_that_captures_nothing_is_not_monitored(context):
    context["environments"]["prod"]["serving"]["cnn"]["data_capture_percent"] = 0
    with pytest.raises(SettingsError, match=f"{KEY}: .* data_capture_percent is 0"):
        load_cnn(context)
