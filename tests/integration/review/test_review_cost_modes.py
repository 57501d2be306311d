"""`make review` prices a serving-mode change: realtime pays its minimum around the clock; a mode that
scales to zero pays one instance for the hours the traffic pattern of prices.json keeps it up."""

from __future__ import annotations

import pytest

from review import cost


def template(*, managed=None, async_config=None, target_min=1, instance_type="ml.c5.xlarge"):
    variant = {"VariantName": "AllTraffic", "InstanceType": instance_type, "InitialInstanceCount": 1}
    if managed:
        variant["ManagedInstanceScaling"] = managed
    config = {"ProductionVariants": [variant], **({"AsyncInferenceConfig": async_config} if async_config else {})}
    resources = {
        "E": {
            "Type": "AWS::SageMaker::Endpoint",
            "Properties": {"EndpointName": "e", "EndpointConfigName": {"Fn::GetAtt": ["C", "X"]}},
        },
        "C": {"Type": "AWS::SageMaker::EndpointConfig", "Properties": config},
    }
    resource_id = "inference-component/e-component" if managed else "endpoint/e/variant/AllTraffic"
    resources["T"] = {
        "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
        "Properties": {"ResourceId": resource_id, "MinCapacity": target_min, "MaxCapacity": 2},
    }
    return {"Resources": resources}


REALTIME = template()
SCALE_TO_ZERO = template(managed={"Status": "ENABLED", "MinInstanceCount": 0, "MaxInstanceCount": 2}, target_min=0)
ASYNC = template(async_config={"OutputConfig": {"S3OutputPath": "s3://b/o"}}, target_min=0)


def test_modes_are_read_from_the_template():
    assert cost.serving(REALTIME)["e/AllTraffic"].mode == "realtime"
    zero = cost.serving(SCALE_TO_ZERO)["e/AllTraffic"]
    assert (zero.mode, zero.min_instances, zero.max_instances) == ("scale-to-zero", 0, 2)
    assert cost.serving(ASYNC)["e/AllTraffic"].mode == "async"


@pytest.mark.parametrize("after", [SCALE_TO_ZERO, ASYNC])
def test_realtime_to_a_zero_mode_is_priced_for_the_traffic_pattern(after):
    prices = cost.load_prices()
    pattern = prices.traffic_pattern
    assert pattern.instance_hours_per_month == pattern.active_days_per_month * (
        pattern.active_hours_per_day + pattern.scale_in_tail_hours
    )
    [change] = cost.cost_changes("s", REALTIME, after, prices)
    rate = prices.hosting["ml.c5.xlarge"]
    assert change.monthly_before == pytest.approx(rate * prices.hours_per_month, abs=0.01)
    assert change.monthly_after == pytest.approx(rate * pattern.instance_hours_per_month, abs=0.01)
    assert change.delta < 0
    assert change.before.startswith("realtime, ") and change.after.split(",")[0] in ("scale-to-zero", "async")
    assert "$0 while idle" in change.note and "50 requests a day" in change.note and "waits minutes" in change.note
