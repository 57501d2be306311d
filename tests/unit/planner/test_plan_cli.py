"""`python -m planner plan` end to end on a small made-up trace; infra reads what it writes."""

import json

import numpy as np
import pytest

from infra.capacity_plan import read_plan
from planner.__main__ import main
from planner.simulator import Behaviour


@pytest.fixture(scope="module")
def daily_trace(tmp_path_factory):
    """Three weeks at 5-minute resolution: quiet nights, a busy day, from a Monday."""
    path = tmp_path_factory.mktemp("traces") / "daily.csv"
    start = np.datetime64("2014-04-07T00:00")
    rows = ["timestamp,value"]
    for i in range(3 * 7 * 288):
        hour = (i % 288) / 12
        value = 100 + 900 * max(0.0, np.sin(np.pi * (hour - 6) / 12))
        rows.append(f"{start + np.timedelta64(5 * i, 'm')},{value:.0f}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_plan_writes_a_file_that_infra_accepts(daily_trace, tmp_path, capsys):
    assert (
        main(
            [
                "plan",
                "--env",
                "prod",
                "--model",
                "cnn",
                "--trace",
                str(daily_trace),
                "--peak-instances",
                "6",
                "--plans-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    document = json.loads((tmp_path / "prod-cnn.json").read_text())
    assert document["policy"] in ("tuned", "predictive")
    assert set(document["simulated"]["policies"]) == {
        "static",
        "current",
        "tuned",
        "predictive",
        "high_resolution",
        "predictive_current",
    }
    assert document["simulated"]["behaviour"]["instance_start_min"] == Behaviour().instance_start_min
    plan = read_plan(tmp_path / "prod-cnn.json", "prod", "cnn", "ml.c5.xlarge")
    assert plan.target_value == document["target_tracking"]["target_value"] > 0
    static = document["simulated"]["policies"]["static"]["instance_hours"]
    assert document["simulated"]["policies"][document["policy"]]["instance_hours"] < static
    assert "wrote" in capsys.readouterr().out


def test_a_trace_shorter_than_two_weeks_is_refused(tmp_path, capsys):
    path = tmp_path / "short.csv"
    path.write_text("timestamp,value\n2014-04-07 00:00:00,5\n2014-04-07 00:05:00,6\n")
    assert main(["plan", "--trace", str(path), "--plans-dir", str(tmp_path)]) == 2
    assert "needs at least 14" in capsys.readouterr().err


def test_an_unknown_environment_is_refused(daily_trace, tmp_path, capsys):
    assert main(["plan", "--env", "qa", "--trace", str(daily_trace), "--plans-dir", str(tmp_path)]) == 2
    assert "environments.qa.serving.cnn" in capsys.readouterr().err


def test_a_model_that_scales_to_zero_is_refused_naming_the_mode(daily_trace, tmp_path, capsys):
    assert main(["plan", "--env", "dev", "--trace", str(daily_trace), "--plans-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "environments.dev.serving.cnn.mode is 'scale-to-zero'" in err and "realtime" in err
    assert not list(tmp_path.glob("*.json"))
