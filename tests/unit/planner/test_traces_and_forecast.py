"""Trace files, vCPU scaling, the forecast and its scheduled actions."""

import numpy as np
import pytest

from planner import forecast
from planner.traces import TraceError, read_csv
from shared_names import InstanceTypeError, parse_instance_type, scale_to


def test_counts_per_interval_are_spread_over_its_minutes(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("timestamp,value\n2014-04-10 00:00:00,50\n2014-04-10 00:05:00,100\n")
    trace = read_csv(path)
    assert trace.per_minute.tolist() == [10.0] * 5 + [20.0] * 5


def test_one_row_per_request_is_counted_per_minute(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,1,1\n"
        "2023-11-16 18:15:50.1,1,1\n2023-11-16 18:17:01.0,1,1\n"
    )
    assert read_csv(path).per_minute.tolist() == [2.0, 0.0, 1.0]


def test_a_bad_row_names_the_file_and_row(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,value\n2014-04-10 00:00:00,5\nyesterday,3\n")
    with pytest.raises(TraceError, match=r"bad\.csv: row 3: 'yesterday'"):
        read_csv(path)


def test_scaling_to_a_peak_and_minute_of_week(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("timestamp,value\n2014-04-07 00:00:00,1\n2014-04-07 00:01:00,4\n")  # a Monday
    trace = read_csv(path).scaled_to_peak(100.0)
    assert trace.per_minute.tolist() == [25.0, 100.0]
    assert trace.minute_of_week().tolist() == [0, 1]


def test_vcpu_scaling_within_a_family_and_refusal_across():
    assert parse_instance_type("ml.c5.9xlarge") == ("c5", 36)
    assert scale_to(100.0, "ml.c5.large", "ml.c5.2xlarge")[0] == 400.0
    with pytest.raises(InstanceTypeError, match="family 'g5' differs from 'c5'"):
        scale_to(100.0, "ml.c5.large", "ml.g5.xlarge")


def test_the_forecast_takes_each_hours_peak_of_the_last_two_weeks():
    week = forecast.WEEK
    minute_of_week = np.arange(3 * week) % week
    history = np.ones(3 * week)
    history[60:120] = 50.0  # Monday 01h of week 1: older than two weeks, forgotten
    history[week + 120] = 30.0  # Monday 02h of week 2
    out = forecast.forecast_week(history, minute_of_week)
    assert out[1] == 1.0 and out[2] == 30.0 and out[3] == 1.0


def test_scheduled_actions_raise_ahead_of_the_hour_and_lower_at_it():
    hourly = np.ones(168, dtype=int)
    hourly[8:18] = 4  # Monday 08h-17h
    actions = forecast.actions(hourly, lead_min=7)
    assert [(a.day, a.hour, a.minute, a.min_capacity) for a in actions] == [("MON", 7, 53, 4), ("MON", 18, 0, 1)]
    assert actions[0].cron == "cron(53 7 ? * MON *)"
    per_minute = forecast.schedule_per_minute(hourly, np.arange(forecast.WEEK), lead_min=7)
    assert per_minute[7 * 60 + 52] == 1 and per_minute[7 * 60 + 53] == 4 and per_minute[18 * 60] == 1
