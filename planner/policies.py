"""The five policies compared on one trace, in one run, and the planner's choice among them.

The trace is split honestly: week 1 is history only (the tuned policies are tuned on it); the
evaluation runs from week 2 to the end, where the predictive policy's schedule for each week is
forecast from the weeks before it only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from planner import forecast
from planner.simulator import DEFAULT_BEHAVIOUR, Behaviour, Policy, Run, TargetTracking, simulate

WEEK = forecast.WEEK
SLO_MINUTES_OVER_PERCENT = 1.0
TARGET_FRACTIONS = tuple(round(0.3 + 0.05 * i, 2) for i in range(14))  # 0.30 .. 0.95 of capacity
SCALE_IN_COOLDOWNS_MIN = (5, 10, 20, 30)
SCALE_OUT_COOLDOWNS_MIN = (1, 3)


@dataclass(frozen=True)
class Current:
    """The stacks' target tracking as cdk.json and the capacity file make it today."""

    target_per_minute: float  # max_rps_per_instance x safety_factor x 60
    min_capacity: int
    max_capacity: int
    scale_in_cooldown_min: int
    scale_out_cooldown_min: int


@dataclass
class Comparison:
    runs: dict[str, Run]
    chosen: str
    tuned: TargetTracking
    fraction: float
    hourly_min: np.ndarray  # the schedule for the week after the trace (the plan's)
    lead_min: int
    notes: dict[str, str] = field(default_factory=dict)


def tune(
    history: np.ndarray,
    per_instance: float,
    floor: int,
    ceiling: int,
    behaviour: Behaviour,
    high_resolution: bool = False,
) -> tuple[TargetTracking, float]:
    """The target tracking (target, cooldowns) with the fewest instance-hours on `history` whose minutes
    over capacity stay within the SLO; the fewest minutes over when none does."""
    best = None
    for fraction in TARGET_FRACTIONS:
        for cool_in in SCALE_IN_COOLDOWNS_MIN:
            for cool_out in SCALE_OUT_COOLDOWNS_MIN:
                tt = TargetTracking(per_instance * fraction, cool_out, cool_in, high_resolution)
                run = simulate(history, per_instance, Policy("tune", floor, ceiling, tt), behaviour)
                over = float((run.shortfall > 1e-9).mean()) * 100
                key = (
                    over > SLO_MINUTES_OVER_PERCENT,
                    over if over > SLO_MINUTES_OVER_PERCENT else 0,
                    float(run.billed.sum()),
                    over,
                )
                if best is None or key < best[0]:
                    best = (key, tt, fraction)
    assert best is not None  # the loops above try at least one policy
    return best[1], best[2]


def predictive_schedule(
    per_minute: np.ndarray,
    minute_of_week: np.ndarray,
    start: int,
    per_instance: float,
    floor: int,
    ceiling: int,
    lead_min: int,
    quantile: float = 1.0,
) -> np.ndarray:
    """Minimum capacity for each minute from `start` on; week k+1 forecast from the minutes before it."""
    out = []
    for block in range(start, len(per_minute), WEEK):
        hourly = forecast.hourly_minimums(
            forecast.forecast_week(per_minute[:block], minute_of_week[:block], quantile=quantile),
            per_instance,
            floor,
            ceiling,
        )
        end = min(block + WEEK, len(per_minute))
        out.append(forecast.schedule_per_minute(hourly, minute_of_week[block:end], lead_min))
    return np.concatenate(out)


def compare(
    per_minute: np.ndarray,
    minute_of_week: np.ndarray,
    per_instance: float,
    current: Current,
    behaviour: Behaviour = DEFAULT_BEHAVIOUR,
    forecast_quantile: float = 1.0,
) -> Comparison:
    """Simulate the five policies on the evaluation part of the trace (week 2 on)."""
    if len(per_minute) < 2 * WEEK:
        raise ValueError(
            f"the trace spans {len(per_minute) / WEEK:.1f} weeks; comparing policies needs at least 2 "
            "(week 1 to tune and forecast from, the rest to evaluate)"
        )
    history, evaluation = per_minute[:WEEK], per_minute[WEEK:]
    floor = max(1, current.min_capacity)
    static_n = max(floor, math.ceil(float(evaluation.max()) / per_instance - 1e-9))
    ceiling = max(static_n, math.ceil(1.5 * float(history.max()) / per_instance))
    tuned, fraction = tune(history, per_instance, floor, ceiling, behaviour)
    high_res, hr_fraction = tune(history, per_instance, floor, ceiling, behaviour, high_resolution=True)
    lead = behaviour.instance_start_min + 1
    schedule = predictive_schedule(
        per_minute, minute_of_week, WEEK, per_instance * fraction, floor, ceiling, lead, forecast_quantile
    )
    current_tt = TargetTracking(
        current.target_per_minute, current.scale_out_cooldown_min, current.scale_in_cooldown_min
    )
    current_max = max(current.max_capacity, static_n)
    # The same forecast under the stacks' current target tracking, sized at its target: what adding
    # scheduled actions alone does to today's policy.
    current_schedule = predictive_schedule(
        per_minute,
        minute_of_week,
        WEEK,
        current.target_per_minute,
        max(1, current.min_capacity),
        current_max,
        lead,
        forecast_quantile,
    )
    policies = {
        "static": Policy("static", static_n, static_n),
        "current": Policy("current", current.min_capacity, current_max, current_tt),
        "tuned": Policy("tuned", floor, ceiling, tuned),
        "predictive": Policy("predictive", floor, ceiling, tuned, schedule),
        "high_resolution": Policy("high_resolution", floor, ceiling, high_res),
        "predictive_current": Policy(
            "predictive_current", current.min_capacity, current_max, current_tt, current_schedule
        ),
    }
    runs = {name: simulate(evaluation, per_instance, p, behaviour) for name, p in policies.items()}
    # The stacks can declare target tracking on InvocationsPerInstance and scheduled actions: the
    # planner chooses between those two; the concurrency policy is reported for comparison.
    candidates = [
        n for n in ("tuned", "predictive") if 100 * float((runs[n].shortfall > 1e-9).mean()) <= SLO_MINUTES_OVER_PERCENT
    ]
    if candidates:
        chosen = min(candidates, key=lambda n: float(runs[n].billed.sum()))
    else:
        chosen = min(("tuned", "predictive"), key=lambda n: float((runs[n].shortfall > 1e-9).mean()))
    hourly = forecast.hourly_minimums(
        forecast.forecast_week(per_minute, minute_of_week, quantile=forecast_quantile),
        per_instance * fraction,
        floor,
        ceiling,
    )
    notes = {
        "current": f"max raised from {current.max_capacity} to {max(current.max_capacity, static_n)} "
        "so it can reach the trace's peak"
        if current.max_capacity < static_n
        else "",
        "high_resolution": f"target {hr_fraction:.0%} of capacity (tuned like 'tuned')",
    }
    return Comparison(runs, chosen, tuned, fraction, hourly, lead, notes)
