"""The simulator against hand-worked cases of the alarm, cooldown, start and drain rules.

Every case uses capacity 100 requests/min per instance, target 50 invocations/instance/min, an
instance start of 2 minutes, a 1-minute metric lag and 1 minute of draining, so each expected
minute can be worked out by hand from the rules in planner/simulator.py's docstring.
"""

import numpy as np
import pytest

from planner.simulator import Behaviour, Policy, TargetTracking, simulate

B = Behaviour(instance_start_min=2, metric_lag_min=1, drain_min=1)
C = 100.0


def tt(cool_out=1, cool_in=5, high_resolution=False):
    return Policy("p", 1, 10, TargetTracking(50.0, cool_out, cool_in, high_resolution))


def demand(*segments):
    """demand((minutes, rate), ...) as one array."""
    return np.concatenate([np.full(m, float(r)) for m, r in segments])


def test_scale_out_after_three_breaching_datapoints():
    # Minutes 0-1 at 40/min, then 120/min on 1 instance (metric 120 > 50). Datapoints of minutes
    # 2, 3, 4 are evaluated at the ends of minutes 3, 4, 5: the third fires at minute 5;
    # ceil(1 x 120 / 50) = 3 instances, the 2 new ones serve from 5 + 1 + 2 = minute 8.
    run = simulate(demand((2, 40), (18, 120)), C, tt(), B, initial=1)
    assert run.in_service.tolist() == [1] * 8 + [3] * 12
    # Billed from launch (minute 6) while starting.
    assert run.billed.tolist() == [1] * 6 + [3] * 14
    # Over capacity (120 > 100) from minute 2 until the new instances serve.
    assert np.flatnonzero(run.shortfall).tolist() == [2, 3, 4, 5, 6, 7]
    assert run.summary()["requests_over_capacity"] == 6 * 20
    assert run.summary()["peak_shortfall_instances"] == 1


def test_two_breaching_datapoints_do_not_alarm():
    # 2 minutes above, 1 below, 2 above, ...: never 3 in a row.
    pattern = np.tile([120.0, 120.0, 40.0], 10)
    run = simulate(pattern, C, tt(), B, initial=1)
    assert set(run.in_service.tolist()) == {1}


def test_high_resolution_scales_out_on_the_current_minute():
    # One datapoint, no lag: the 120/min of minute 2 fires at minute 2; instances serve from 5.
    run = simulate(demand((2, 40), (10, 120)), C, tt(high_resolution=True), B, initial=1)
    assert run.in_service.tolist() == [1] * 5 + [3] * 7


def test_scale_in_after_fifteen_datapoints_below_ninety_percent():
    # 4 instances at 100/min: metric 25 < 45. Datapoints of minutes 0..14 complete at minute 15;
    # ceil(4 x 25 / 50) = 2. Two instances drain during minute 16 (billed, not serving).
    run = simulate(demand((30, 100)), C, tt(), B, initial=4)
    assert run.in_service.tolist() == [4] * 16 + [2] * 14
    assert run.billed.tolist() == [4] * 17 + [2] * 13


def test_no_scale_in_at_ninety_one_percent_of_target():
    # 4 x 45.5 = 182/min: metric 45.5 is above 90% of 50, so the low alarm never fires.
    run = simulate(demand((120, 182)), C, tt(), B, initial=4)
    assert set(run.in_service.tolist()) == {4}


@pytest.mark.parametrize("cool_in, second_scale_in", [(10, 45), (40, 57)])
def test_scale_in_cooldown_delays_the_next_scale_in(cool_in, second_scale_in):
    # 8 instances at 200/min (metric 25): scale-in at 15 to ceil(8 x 25 / 50) = 4, serving from 16.
    # From minute 30 the rate is 50/min (metric 12.5): 15 datapoints (30..44) complete at 45; the
    # cooldown ends at 15 + 1 (drain) + 1 + cool_in = 27 + cool_in. Next scale-in to 1 at
    # max(45, 27 + cool_in); the instance drains the minute after.
    run = simulate(demand((30, 200), (60, 50)), C, tt(cool_in=cool_in), B, initial=8)
    first_one = int(np.flatnonzero(run.in_service == 1)[0])
    assert run.in_service[16] == 4 and run.in_service[15] == 8
    assert first_one == second_scale_in + 1


@pytest.mark.parametrize("cool_out, ready", [(1, 15), (10, 21)])
def test_scale_out_cooldown_delays_the_next_scale_out(cool_out, ready):
    # As in the first case, 3 instances serve from 8 (scale-out at 5). From minute 9 the rate is
    # 400/min: datapoints 9, 10, 11 complete at 12, metric 400/3; the cooldown runs from the end
    # of the activity (8) for cool_out minutes. ceil(3 x 133.3 / 50) = 8 instances, serving 3
    # minutes after the decision at max(12, 8 + cool_out).
    run = simulate(demand((2, 40), (7, 120), (20, 400)), C, tt(cool_out=cool_out), B, initial=1)
    assert int(np.flatnonzero(run.in_service == 8)[0]) == ready


def test_scale_out_cuts_a_scale_in_cooldown_short():
    # Scale-in at 15 (8 -> 4, cooldown long), then a surge at 20: the scale-out is not blocked.
    run = simulate(demand((20, 200), (20, 400)), C, tt(cool_in=60), B, initial=8)
    # Datapoints 20, 21, 22 (400/4 = 100 > 50) complete at 23: ceil(4 x 100 / 50) = 8 at 26.
    assert run.in_service[25] == 4 and run.in_service[26] == 8


def test_max_capacity_caps_scale_out_and_min_capacity_floors_scale_in():
    policy = Policy("p", 2, 3, TargetTracking(50.0, 1, 5))
    run = simulate(demand((40, 1000)), C, policy, B, initial=2)
    assert run.in_service.max() == 3
    run = simulate(demand((40, 1)), C, policy, B, initial=3)
    assert run.in_service.min() == 2


def test_a_scheduled_minimum_starts_instances_that_serve_after_the_start_time():
    schedule = np.array([1] * 10 + [5] * 10 + [1] * 30)
    policy = Policy("p", 1, 10, TargetTracking(50.0, 1, 5), schedule)
    run = simulate(demand((50, 10)), C, policy, B, initial=1)
    # Raised at minute 10, serving from 10 + 2. The low alarm has been in ALARM since minute 15
    # (every datapoint is under 45) but the minimum holds 5; when it drops at minute 20, the
    # scale-in to ceil(5 x 2 / 50) = 1 happens at once and the 4 drain during minute 21.
    assert run.in_service[11] == 1 and run.in_service[12] == 5
    assert run.in_service[20] == 5 and run.in_service[21] == 1


def test_static_bills_every_instance_every_minute():
    run = simulate(demand((120, 10)), C, Policy("static", 3, 3), B)
    assert run.summary(price_per_hour=0.5)["instance_hours"] == 6.0
    assert run.summary(price_per_hour=0.5)["cost_usd"] == 3.0
