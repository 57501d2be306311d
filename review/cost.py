"""Changes that move cost, read from the synthesized templates and priced from prices.json.

Serving: a realtime endpoint runs at least its autoscaling minimum around the clock, so its monthly
figure is min instances x $/h x hours per month (the maximum is shown as the ceiling). An endpoint that
scales to zero (mode scale-to-zero: an inference component with ManagedInstanceScaling from 0; mode
async: a variant whose scalable target starts at 0) costs nothing while idle, so its monthly figure is
one instance for the hours the traffic pattern of prices.json keeps it up (the active hours a day plus
the scale-in tail, on the active days); the note says what a cold start costs the caller. When a capacity
plan gives a realtime scalable target weekly scheduled actions (`cron(M H ? * DAY *)` raising and lowering
MinCapacity), the minimum is the week's time-weighted floor instead; a changed target tracking target or
schedule is a cost-moving change too. Training: each run is
priced at on-demand for its whole MaxRuntime (a ceiling; managed spot would be cheaper) x the runs per
month assumed in prices.json. Data capture moves S3 cost and is flagged, not priced.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

PRICES = Path(__file__).with_name("prices.json")


@dataclass(frozen=True)
class TrafficPattern:
    """The traffic an endpoint that scales to zero is priced for (prices.json `traffic_pattern`)."""

    description: str
    requests_per_day: float
    active_hours_per_day: float
    active_days_per_month: float
    scale_in_tail_hours: float  # up after the last request: scale-in alarms, cooldown, instance release

    @property
    def instance_hours_per_month(self) -> float:
        if self.requests_per_day <= 0:
            return 0.0
        return self.active_days_per_month * (self.active_hours_per_day + self.scale_in_tail_hours)


DEFAULT_PATTERN = TrafficPattern(
    "50 requests a day spread over 8 working hours, 22 working days a month", 50, 8, 22, 0.5
)


@dataclass(frozen=True)
class Prices:
    date: str
    region: str
    source: str
    hours_per_month: float
    training_runs_per_month: float
    hosting: dict[str, float]
    training: dict[str, float]
    traffic_pattern: TrafficPattern = DEFAULT_PATTERN


def load_prices(path: Path = PRICES) -> Prices:
    raw = json.loads(path.read_text())
    pattern = TrafficPattern(**raw["traffic_pattern"]) if "traffic_pattern" in raw else DEFAULT_PATTERN
    return Prices(
        raw["date"],
        raw["region"],
        raw["source"],
        raw["hours_per_month"],
        raw["training_runs_per_month"],
        raw["hosting"],
        raw["training"],
        pattern,
    )


@dataclass(frozen=True)
class Serving:
    endpoint: str
    instance_type: str
    min_instances: int
    max_instances: int
    capture_percent: int  # 0 when data capture is off
    mode: str = "realtime"  # realtime | scale-to-zero | async (infra/serving_modes.py)
    target: float | None = None  # target tracking's TargetValue
    schedule: tuple[tuple[str, int], ...] = ()  # (cron, MinCapacity) of each scheduled action

    @property
    def floor(self) -> float:
        """Instances held as a minimum, on average over the week."""
        return weekly_mean_floor(self.min_instances, self.schedule)


WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
WEEK_MINUTES = 7 * 1440
WEEKLY_CRON = re.compile(r"^cron\((\d+) (\d+) \? \* ([A-Z]{3}) \*\)$")


def weekly_mean_floor(min_instances: int, schedule: tuple[tuple[str, int], ...]) -> float:
    """Time-weighted MinCapacity over a week of weekly scheduled actions; other schedules are ignored."""
    points = []
    for cron, minimum in schedule:
        match = WEEKLY_CRON.match(cron)
        if match and match.group(3) in WEEKDAYS:
            at = WEEKDAYS.index(match.group(3)) * 1440 + int(match.group(2)) * 60 + int(match.group(1))
            points.append((at, minimum))
    if not points:
        return float(min_instances)
    points.sort()
    total = 0.0
    for i, (at, minimum) in enumerate(points):
        end = points[i + 1][0] if i + 1 < len(points) else points[0][0] + WEEK_MINUTES
        total += minimum * (end - at)
    return total / WEEK_MINUTES


@dataclass(frozen=True)
class Training:
    job: str
    instance_type: str
    instances: int
    spot: bool
    max_runtime_s: int


@dataclass
class CostChange:
    stack: str
    item: str
    before: str
    after: str
    monthly_before: float | None = None
    monthly_after: float | None = None
    note: str = ""

    @property
    def delta(self) -> float | None:
        if self.monthly_before is None or self.monthly_after is None:
            return None
        return round(self.monthly_after - self.monthly_before, 2)


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template.get("Resources", {}).items() if v.get("Type") == kind}


def _endpoint_name(endpoint: dict[str, Any], logical_id: str) -> str:
    name = endpoint.get("Properties", {}).get("EndpointName")
    return name if isinstance(name, str) else logical_id


def serving(template: dict[str, Any]) -> dict[str, Serving]:
    """Each endpoint's production variants, their autoscaling bounds and data capture, by endpoint name."""
    configs = _resources(template, "AWS::SageMaker::EndpointConfig")
    scalable = _resources(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    targets = [t["Properties"] for t in scalable.values()]
    tracking = {
        p["Properties"].get("ScalingTargetId", {}).get("Ref"): p["Properties"]
        .get("TargetTrackingScalingPolicyConfiguration", {})
        .get("TargetValue")
        for p in _resources(template, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
        if isinstance(p["Properties"].get("ScalingTargetId"), dict)
    }
    target_ids = {id(t["Properties"]): logical_id for logical_id, t in scalable.items()}
    out = {}
    for logical_id, endpoint in _resources(template, "AWS::SageMaker::Endpoint").items():
        name = _endpoint_name(endpoint, logical_id)
        ref = endpoint["Properties"].get("EndpointConfigName", {})
        config_id = ref.get("Fn::GetAtt", [None])[0] if isinstance(ref, dict) else None
        config = configs.get(config_id or "") or next(iter(configs.values()), None)
        if not config:
            continue
        props = config["Properties"]
        capture = props.get("DataCaptureConfig", {})
        capturing = bool(capture) and capture.get("EnableCapture", True)
        percent = int(capture.get("InitialSamplingPercentage", 0)) if capturing else 0
        for variant in props.get("ProductionVariants", []):
            count = int(variant.get("InitialInstanceCount", 1))
            low, high, target = count, count, None
            schedule: tuple[tuple[str, int], ...] = ()
            for t in targets:
                if str(t.get("ResourceId", "")).endswith(f"endpoint/{name}/variant/{variant.get('VariantName')}"):
                    low, high = int(t["MinCapacity"]), int(t["MaxCapacity"])
                    target = tracking.get(target_ids[id(t)])
                    schedule = tuple(
                        (a.get("Schedule", ""), int(a.get("ScalableTargetAction", {}).get("MinCapacity", low)))
                        for a in t.get("ScheduledActions", [])
                    )
            managed = variant.get("ManagedInstanceScaling") or {}
            if managed.get("Status", "ENABLED") == "ENABLED" and "MinInstanceCount" in managed:
                low, high = int(managed["MinInstanceCount"]), int(managed.get("MaxInstanceCount", high))
            mode = (
                "async"
                if props.get("AsyncInferenceConfig")
                else "scale-to-zero"
                if managed and low == 0
                else "realtime"
            )
            key = f"{name}/{variant.get('VariantName', '')}"
            out[key] = Serving(key, variant.get("InstanceType", "?"), low, high, percent, mode, target, schedule)
    return out


def _definition(machine: dict[str, Any]) -> dict[str, Any]:
    body = machine["Properties"].get("DefinitionString", "{}")
    if isinstance(body, dict) and "Fn::Join" in body:
        body = "".join(p if isinstance(p, str) else "${Token}" for p in body["Fn::Join"][1])
    try:
        return json.loads(body) if isinstance(body, str) else {}
    except json.JSONDecodeError:
        return {}


def _states(states: dict[str, Any]):
    for name, state in states.items():
        yield name, state
        for branch in state.get("Branches", []) + ([state["Iterator"]] if "Iterator" in state else []):
            yield from _states(branch.get("States", {}))


def training(template: dict[str, Any]) -> dict[str, Training]:
    """Each SageMaker training job that a state machine starts, by state machine path and state."""
    out = {}
    for logical_id, machine in _resources(template, "AWS::StepFunctions::StateMachine").items():
        path = machine.get("Metadata", {}).get("aws:cdk:path", logical_id).removesuffix("/Resource")
        for state_name, state in _states(_definition(machine).get("States", {})):
            if "createTrainingJob" not in str(state.get("Resource", "")):
                continue
            p = state.get("Parameters", {})
            rc = p.get("ResourceConfig", {})
            key = f"{path.split('/', 1)[-1]}/{state_name}"
            out[key] = Training(
                key,
                rc.get("InstanceType", "?"),
                int(rc.get("InstanceCount", 1)),
                bool(p.get("EnableManagedSpotTraining", False)),
                int(p.get("StoppingCondition", {}).get("MaxRuntimeInSeconds", 0)),
            )
    return out


def _serving_line(s: Serving) -> str:
    capture = f", data capture {s.capture_percent}%" if s.capture_percent else ", no data capture"
    target = f", target {s.target:g}/instance/min" if isinstance(s.target, (int, float)) else ""
    schedule = f", {len(s.schedule)} scheduled minimums (weekly mean floor {s.floor:.2f})" if s.schedule else ""
    return f"{s.mode}, {s.instance_type} x {s.min_instances}-{s.max_instances}{capture}{target}{schedule}"


def _training_line(t: Training) -> str:
    return f"{t.instance_type} x {t.instances}, {'spot' if t.spot else 'on-demand'}, max {t.max_runtime_s / 3600:g} h"


def _monthly_serving(s: Serving | None, prices: Prices) -> tuple[float | None, float | None]:
    if s is None:
        return 0.0, 0.0
    rate = prices.hosting.get(s.instance_type)
    if rate is None:
        return None, None
    if s.min_instances == 0:  # idle costs nothing; one instance while the traffic pattern keeps it up
        return (
            round(rate * prices.traffic_pattern.instance_hours_per_month, 2),
            round(rate * s.max_instances * prices.hours_per_month, 2),
        )
    return (
        round(rate * s.floor * prices.hours_per_month, 2),
        round(rate * s.max_instances * prices.hours_per_month, 2),
    )


def _monthly_training(t: Training | None, prices: Prices) -> float | None:
    if t is None:
        return 0.0
    rate = prices.training.get(t.instance_type)
    if rate is None:
        return None
    return round(rate * t.instances * t.max_runtime_s / 3600 * prices.training_runs_per_month, 2)


def _no_price(table: dict[str, float], *items: Serving | Training | None) -> str:
    missing = {x.instance_type for x in items if x and x.instance_type not in table}
    return f"no price for {', '.join(sorted(missing))} in review/prices.json"


T = TypeVar("T")  # a side of a row: Serving or Training


def _change(
    stack: str,
    item: str,
    describe: Callable[[T], str],
    pair: tuple[T | None, T | None],
    monthly: tuple[float | None, float | None],
    notes: list[str],
) -> CostChange:
    """One row: each side described (or `(none)` where the template lacks it), its monthly cost, the notes."""
    before, after = (describe(x) if x else "(none)" for x in pair)
    return CostChange(stack, item, before, after, *monthly, "; ".join(notes))


def cost_changes(
    stack: str, base: dict[str, Any] | None, head: dict[str, Any] | None, prices: Prices
) -> list[CostChange]:
    """Cost-moving differences between two templates of one stack (either may be absent)."""
    out = []
    b_serving, h_serving = serving(base or {}), serving(head or {})
    for key in sorted(set(b_serving) | set(h_serving)):
        b, h = b_serving.get(key), h_serving.get(key)
        if b == h:
            continue
        (low_b, high_b), (low_h, high_h) = _monthly_serving(b, prices), _monthly_serving(h, prices)
        notes = []
        if None in (low_b, low_h):
            notes.append(_no_price(prices.hosting, b, h))
        elif (high_b, high_h) != (low_b, low_h):
            notes.append(f"at the autoscaling maximum: ${high_b:,.2f} -> ${high_h:,.2f} a month")
        if (b.capture_percent if b else 0) != (h.capture_percent if h else 0):
            notes.append("data capture changed: S3 storage and requests move with it (not priced)")
        if any(x and x.min_instances == 0 for x in (b, h)):
            pattern = prices.traffic_pattern
            notes.append(
                f"scales to zero: $0 while idle; priced for {pattern.description} "
                f"({pattern.instance_hours_per_month:g} instance-hours a month, "
                f"{pattern.scale_in_tail_hours:g} h scale-in tail a day); the first call after idle "
                "waits minutes for an instance (scale-to-zero: fails until then, the client retries; "
                "async: queued)"
            )
        out.append(_change(stack, f"endpoint {key}", _serving_line, (b, h), (low_b, low_h), notes))
    b_training, h_training = training(base or {}), training(head or {})
    for key in sorted(set(b_training) | set(h_training)):
        b_job, h_job = b_training.get(key), h_training.get(key)
        if b_job == h_job:
            continue
        before, after = _monthly_training(b_job, prices), _monthly_training(h_job, prices)
        notes = [f"{prices.training_runs_per_month:g} runs a month at on-demand for the whole max runtime"]
        if (b_job and h_job) and b_job.spot != h_job.spot:
            turned = "on" if h_job.spot else "off"
            notes.append(f"managed spot turned {turned} (spot is typically far cheaper; not priced)")
        if None in (before, after):
            notes.append(_no_price(prices.training, b_job, h_job))
        out.append(_change(stack, f"training {key}", _training_line, (b_job, h_job), (before, after), notes))
    return out
