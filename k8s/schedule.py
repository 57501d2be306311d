"""The planner's scheduled minimums as KEDA cron windows.

A plan's scheduled actions set the minimum at a time of the week and hold it until the next action
(Application Auto Scaling's `cron(M H ? * DAY *)`, planner.forecast). KEDA's cron scaler holds
`desiredReplicas` between a `start` and an `end` in Linux cron format (Minute Hour Dom Month Dow)
(https://keda.sh/docs/2.16/scalers/cron/): each action becomes the window up to the next one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from infra.capacity_plan import ScheduledMinimum
from infra.settings import SettingsError

# The form the planner writes: cron(Minute Hour ? * Day-of-week *), one fixed minute a week or a day.
AWS_WEEKLY = re.compile(r"^cron\((\d{1,2}) (\d{1,2}) \? \* ([A-Z]{3}|\*) \*\)$")
DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
TIMEZONE = "Etc/UTC"  # Application Auto Scaling's cron is UTC


@dataclass(frozen=True)
class CronWindow:
    name: str
    start: str  # Linux cron
    end: str
    replicas: int


def linux_cron(schedule: str, where: str) -> str:
    match = AWS_WEEKLY.match(schedule)
    if not match:
        raise SettingsError(
            f"{where}: {schedule!r} is not cron(M H ? * DAY *), the weekly form the planner writes; "
            "KEDA's cron scaler needs a start and an end, derived here from consecutive actions"
        )
    minute, hour, day = match.groups()
    if day != "*" and day not in DAYS:
        raise SettingsError(f"{where}: day {day!r} is not one of {', '.join(DAYS)}")
    return f"{int(minute)} {int(hour)} * * {day}"


def cron_windows(actions: tuple[ScheduledMinimum, ...], floor: int) -> list[CronWindow]:
    """One window per action whose minimum is above `floor`, from it to the next action (cyclic)."""
    crons = [linux_cron(a.schedule, f"scheduled action {a.name}") for a in actions]
    out = []
    for i, action in enumerate(actions):
        if action.min_capacity <= floor or len(actions) < 2:
            continue
        out.append(CronWindow(action.name, crons[i], crons[(i + 1) % len(actions)], action.min_capacity))
    if len(actions) == 1 and actions[0].min_capacity > floor:
        raise SettingsError(
            f"scheduled action {actions[0].name}: a single action raises the minimum for good; set min_capacity instead"
        )
    return out
