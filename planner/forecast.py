"""Forecast each hour of the next week from past weeks, and turn it into scheduled actions.

Honest backtest: the forecast for week k+1 reads weeks 1..k only. The forecast of an hour is the
`quantile` of the per-minute rates that hour-of-week had in the last `lookback_weeks` weeks (a high
quantile, not the mean: the schedule is a floor under target tracking, and a floor set at the mean is
short half the time; not always the maximum either, which one anomaly would pin for two weeks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WEEK = 7 * 24 * 60
DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


@dataclass(frozen=True)
class ScheduledAction:
    """Set the minimum capacity every week at day/hour:minute UTC (a recurring cron action)."""

    day: str
    hour: int
    minute: int
    min_capacity: int

    @property
    def name(self) -> str:
        return f"{self.day.lower()}-{self.hour:02d}{self.minute:02d}-min{self.min_capacity}"

    @property
    def cron(self) -> str:
        # Application Auto Scaling's cron: cron(Minutes Hours Day-of-month Month Day-of-week Year)
        # https://docs.aws.amazon.com/autoscaling/application/userguide/scheduled-scaling-using-cron-expressions.html
        return f"cron({self.minute} {self.hour} ? * {self.day} *)"


def forecast_week(
    history: np.ndarray, minute_of_week: np.ndarray, lookback_weeks: int = 2, quantile: float = 1.0
) -> np.ndarray:
    """168 hourly forecasts (Monday 00h UTC first): the `quantile` of each hour-of-week's per-minute
    rates over the last `lookback_weeks` weeks of `history` (1.0: the highest); hours it never saw
    get the history's peak."""
    take = min(len(history), lookback_weeks * WEEK)
    if take == 0:
        raise ValueError("forecast_week: no history to forecast from")
    hours, rates = minute_of_week[-take:] // 60, history[-take:]
    order = np.lexsort((rates, hours))
    hours, rates = hours[order], rates[order]
    starts = np.searchsorted(hours, np.arange(168))
    ends = np.searchsorted(hours, np.arange(168), side="right")
    out = np.full(168, float(history.max()))
    for h in range(168):
        if ends[h] > starts[h]:
            out[h] = rates[starts[h] + int(round(quantile * (ends[h] - starts[h] - 1)))]
    return out


def hourly_minimums(forecast: np.ndarray, per_instance: float, floor: int, ceiling: int) -> np.ndarray:
    """Instances that serve each hour's forecast peak at `per_instance` requests/min each."""
    return np.clip(np.ceil(forecast / per_instance - 1e-9), floor, ceiling).astype(int)


def schedule_per_minute(hourly_min: np.ndarray, minute_of_week: np.ndarray, lead_min: int) -> np.ndarray:
    """The minimum capacity in force each minute, raised `lead_min` minutes before each hour that
    needs more (so the instances serve by the hour), lowered at the hour itself."""
    hour = (minute_of_week // 60) % 168
    ahead = ((minute_of_week + lead_min) // 60) % 168
    return np.maximum(hourly_min[hour], hourly_min[ahead])


def actions(hourly_min: np.ndarray, lead_min: int) -> list[ScheduledAction]:
    """The week's recurring scheduled actions: one wherever the minimum changes."""
    out = []
    for h in range(168):
        previous = hourly_min[h - 1]
        if hourly_min[h] == previous:
            continue
        # Raise ahead of the hour, lower at it.
        at = h * 60 - (lead_min if hourly_min[h] > previous else 0)
        at %= WEEK
        out.append(ScheduledAction(DAYS[at // 1440], (at % 1440) // 60, at % 60, int(hourly_min[h])))
    if not out:  # flat: one action keeps the floor
        out.append(ScheduledAction("MON", 0, 0, int(hourly_min[0])))
    return sorted(out, key=lambda a: (DAYS.index(a.day), a.hour, a.minute))
