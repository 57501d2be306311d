"""Capacity plans: validated as data, applied to the settings, declared on the scalable target."""

import copy
import dataclasses
import json

import pytest
from aws_cdk import App

from infra.application import select_settings
from infra.capacity_plan import CapacityPlan, ScheduledMinimum, read_plan
from infra.settings import SettingsError, load_settings

from .conftest import base_context
from .test_serving import SETTINGS, make_endpoint


def plan_json(**overrides):
    plan = {
        "schema": 1,
        "env": "dev",
        "model": "cnn",
        "instance_type": "ml.c5.xlarge",
        "policy": "predictive",
        "target_tracking": {
            "metric": "SageMakerVariantInvocationsPerInstance",
            "target_value": 18000.0,
            "scale_in_cooldown_s": 600,
            "scale_out_cooldown_s": 60,
        },
        "min_capacity": 1,
        "max_capacity": 9,
        "scheduled_actions": [
            {"name": "mon-0653-min4", "schedule": "cron(53 6 ? * MON *)", "min_capacity": 4},
            {"name": "mon-2000-min1", "schedule": "cron(0 20 ? * MON *)", "min_capacity": 1},
        ],
    }
    plan.update(overrides)
    return plan


def write(tmp_path, plan, name="dev-cnn.json"):
    path = tmp_path / name
    path.write_text(json.dumps(plan))
    return path


def test_a_valid_plan_reads_into_its_dataclass(tmp_path):
    plan = read_plan(write(tmp_path, plan_json()), "dev", "cnn", "ml.c5.xlarge")
    assert (plan.target_value, plan.min_capacity, plan.max_capacity, plan.scale_in_cooldown_s) == (18000.0, 1, 9, 600)
    assert plan.scheduled_actions[0] == ScheduledMinimum("mon-0653-min4", "cron(53 6 ? * MON *)", 4)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"instance_type": "ml.c5.2xlarge"}, "planned for 'ml.c5.2xlarge' but cdk.json serves cnn on 'ml.c5.xlarge'"),
        ({"env": "prod"}, "made for prod/cnn, applied to dev/cnn"),
        ({"min_capacity": 5, "max_capacity": 2}, "min_capacity 5 is greater than max_capacity 2"),
        ({"scheduled_actions": [{"name": "a", "schedule": "cron(0 8 * * ?)", "min_capacity": 2}]}, "six-field cron"),
        (
            {
                "scheduled_actions": [
                    {"name": f"a{i}", "schedule": "cron(0 8 ? * MON *)", "min_capacity": 1} for i in range(201)
                ]
            },
            "at most 200",
        ),
        (
            {"scheduled_actions": [{"name": "a", "schedule": "cron(0 8 ? * MON *)", "min_capacity": 12}]},
            "above max_capacity 9",
        ),
        ({"schema": 0}, "re-run make plan"),
    ],
)
def test_a_bad_plan_is_refused_naming_the_file(tmp_path, overrides, message):
    path = write(tmp_path, plan_json(**overrides))
    with pytest.raises(SettingsError, match=message) as info:
        read_plan(path, "dev", "cnn", "ml.c5.xlarge")
    assert str(path) in str(info.value)


def realtime_dev_context(tmp_path):
    """dev's context with the CNN served in mode realtime (plans scale a realtime variant)."""
    context = copy.deepcopy(base_context())
    context["environments"]["dev"]["serving"]["cnn"].update(mode="realtime", min_capacity=1)
    return {**context, "env": "dev", "capacity_plans_dir": str(tmp_path)}


def test_select_settings_applies_the_plan_of_the_environment_and_model(tmp_path):
    write(tmp_path, plan_json())
    app = App(context=realtime_dev_context(tmp_path))
    (settings,) = select_settings(app)
    cnn, mlp = settings.serving
    assert cnn.plan is not None and mlp.plan is None
    assert (cnn.min_capacity, cnn.max_capacity, cnn.scale_in_cooldown_s) == (1, 9, 600)
    assert cnn.invocations_per_instance_target == 18000.0


def test_a_plan_for_a_model_that_scales_to_zero_stops_synth_naming_file_and_mode(tmp_path):
    path = write(tmp_path, plan_json())
    app = App(context={**base_context(), "env": "dev", "capacity_plans_dir": str(tmp_path)})
    with pytest.raises(SettingsError, match="mode is 'scale-to-zero'") as info:
        select_settings(app)
    assert str(path) in str(info.value)


def test_the_endpoint_declares_the_plans_target_and_scheduled_actions(stub_sources, tmp_path):
    plan = read_plan(write(tmp_path, plan_json()), "dev", "cnn", "ml.c5.xlarge")
    template = make_endpoint(stub_sources, dataclasses.replace(SETTINGS, plan=plan))
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "ScheduledActions": [
                {
                    "ScheduledActionName": "mon-0653-min4",
                    "Schedule": "cron(53 6 ? * MON *)",
                    "ScalableTargetAction": {"MinCapacity": 4},
                },
                {
                    "ScheduledActionName": "mon-2000-min1",
                    "Schedule": "cron(0 20 ? * MON *)",
                    "ScalableTargetAction": {"MinCapacity": 1},
                },
            ]
        },
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": 18000.0,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            }
        },
    )


def test_without_a_plan_the_scalable_target_has_no_scheduled_actions(stub_sources):
    targets = make_endpoint(stub_sources).find_resources("AWS::ApplicationAutoScaling::ScalableTarget")
    assert all("ScheduledActions" not in t["Properties"] for t in targets.values())


def test_capacity_is_scaled_by_vcpus_to_the_serving_instance_type():
    capacity = {
        "cnn": {
            "max_rps_per_instance": 400.0,
            "open_loop_knee_rps": 300.0,
            "instance_type": "ml.c5.large",
            "measured_at": "2026-11-30",
        }
    }
    cnn = load_settings(base_context(), "dev", capacity=capacity).serving[0]
    assert cnn.instance_type == "ml.c5.xlarge"
    assert cnn.max_rps_per_instance == 600.0  # the knee, x 4/2 vCPUs
    assert "open-loop knee" in cnn.capacity_source and "x 4/2 vCPU" in cnn.capacity_source


def test_capacity_measured_on_another_family_is_refused_naming_it():
    capacity = {"cnn": {"max_rps_per_instance": 400.0, "instance_type": "ml.g5.xlarge"}}
    with pytest.raises(SettingsError, match="family 'c5' differs from 'g5'"):
        load_settings(base_context(), "dev", capacity=capacity)


def test_plan_dataclass_is_hashable_inside_frozen_settings(tmp_path):
    plan = read_plan(write(tmp_path, plan_json()), "dev", "cnn", "ml.c5.xlarge")
    assert isinstance(hash(dataclasses.replace(SETTINGS, plan=plan)), int) and isinstance(plan, CapacityPlan)
