"""Minute-by-minute simulation of a SageMaker real-time endpoint under Application Auto Scaling.

What the simulator does each minute, and where each rule comes from:

- Metric. `InvocationsPerInstance` is the minute's invocations divided by the instances in service
  ("1/numberOfInstances is sent as the value on each request"):
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ScalingPolicyMetric.html
- Target tracking alarms. Application Auto Scaling creates and manages two CloudWatch alarms per
  target tracking policy and "calculates the scaling adjustment based on the metric and the target
  value"; scale-out is aggressive and proportional to the metric, scale-in only happens once the metric
  is below a threshold lower than the target ("usually more than 10% lower") long enough
  (https://docs.aws.amazon.com/autoscaling/application/userguide/target-tracking-scaling-policy-overview.html).
  The alarms it creates for a 1-minute metric are the high alarm, 3 of 3 datapoints above the target,
  and the low alarm, 15 of 15 datapoints below 90% of the target: `Behaviour` defaults, each a
  parameter. The new capacity is ceil(instances x metric / target) (proportional, as above). An alarm's
  state is a function of its last N datapoints only, so it stays in ALARM while they breach; the
  cooldowns and the endpoint's update below are what keep it from acting every minute.
- Cooldowns: "the amount of time, in seconds, after a scale-out [scale-in] activity completes before
  another scale-out [scale-in] activity can start"; a scale-out during the scale-in cooldown is not
  blocked ("if another alarm triggers a scale-out activity during the scale-in cooldown period,
  Application Auto Scaling scales out the target immediately")
  (https://docs.aws.amazon.com/autoscaling/application/APIReference/API_TargetTrackingScalingPolicyConfiguration.html).
  A SageMaker endpoint accepts no new capacity update while one is in progress (it is `Updating`), so
  a scale-out activity lasts until its instances serve and no other scaling starts meanwhile.
- Min/max and scheduled actions: a scheduled action sets MinCapacity/MaxCapacity at its time; when the
  current capacity is below the new minimum Application Auto Scaling scales out to it, above the new
  maximum it scales in to it
  (https://docs.aws.amazon.com/autoscaling/application/userguide/scheduled-scaling-policy-overview.html).
- Instance start: minutes from the scaling decision until a new instance serves (provisioning, image
  pull, model download, container start and /ping). AWS gives no figure for a CPU instance: "the
  provisioning process takes several minutes" when an endpoint scales out from zero ("Scale an endpoint
  to zero instances - Amazon SageMaker AI",
  https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-zero-instances.html); its one
  end-to-end figure, 525 s (258 s with the image cached), is for an 8B LLM on a GPU instance ("Introducing
  container caching in Amazon SageMaker AI for faster model scaling",
  https://aws.amazon.com/blogs/machine-learning/introducing-container-caching-in-amazon-sagemaker-ai-for-faster-model-scaling/).
  So `Behaviour.instance_start_min` (default 6) stays a parameter, billed from launch; the container's
  own share, measured, is seconds (docs/cold-start.md).
- Scale-in draining: SageMaker stops routing to a removed instance and lets its in-flight requests
  finish (the container gets SIGTERM, 30 s before it is killed); modelled as `drain_min` billed
  minutes without capacity.
- High-resolution concurrency metric (`SageMakerVariantConcurrentRequestsPerModelHighResolution`,
  https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-add-code-define.html): emitted
  every 10 s, so its high alarm fires within the minute; by Little's law concurrency per instance is
  proportional to invocations per instance at a given latency, so it is simulated as target tracking
  whose scale-out sees the current minute (`Behaviour.high_resolution()`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True)
class Behaviour:
    """How AWS reacts; the documented defaults, each overridable."""

    scale_out_datapoints: int = 3
    scale_in_datapoints: int = 15
    scale_in_ratio: float = 0.9
    metric_lag_min: int = 1  # a 1-minute datapoint is evaluated once its minute has ended
    instance_start_min: int = 6  # "several minutes" (module docstring, docs/cold-start.md)
    drain_min: int = 1

    def high_resolution(self) -> Behaviour:
        return replace(self, scale_out_datapoints=1, metric_lag_min=0)


DEFAULT_BEHAVIOUR = Behaviour()


@dataclass(frozen=True)
class TargetTracking:
    """A target tracking policy on invocations per instance per minute."""

    target: float
    scale_out_cooldown_min: int = 1
    scale_in_cooldown_min: int = 5
    high_resolution: bool = False


@dataclass(frozen=True)
class Policy:
    name: str
    min_capacity: int
    max_capacity: int
    tracking: TargetTracking | None = None
    # Minimum capacity per minute from scheduled actions (None: the policy's min_capacity throughout).
    schedule: np.ndarray | None = field(default=None, compare=False)


@dataclass
class Run:
    """Per-minute outcome of one policy on one trace."""

    policy: Policy
    demand: np.ndarray  # requests per minute
    in_service: np.ndarray  # instances serving during the minute
    billed: np.ndarray  # instances paid for during the minute (starting, serving, draining)
    capacity_per_instance: float  # requests per minute one instance serves within the SLO

    @property
    def capacity(self) -> np.ndarray:
        return self.in_service * self.capacity_per_instance

    @property
    def shortfall(self) -> np.ndarray:
        return np.maximum(0.0, self.demand - self.capacity)

    def summary(self, price_per_hour: float | None = None) -> dict[str, float | None]:
        over = self.shortfall > 1e-9
        hours = float(self.billed.sum()) / 60
        needed = np.ceil(self.demand / self.capacity_per_instance - 1e-9)
        return {
            "instance_hours": round(hours, 1),
            "cost_usd": None if price_per_hour is None else round(hours * price_per_hour, 2),
            "minutes_over_capacity": int(over.sum()),
            "percent_minutes_over": round(100 * float(over.mean()), 3),
            "requests_over_capacity": int(round(float(self.shortfall.sum()))),
            "percent_requests_over": round(100 * float(self.shortfall.sum()) / max(float(self.demand.sum()), 1e-9), 3),
            "peak_shortfall_instances": int(max(0.0, float((needed - self.in_service).max()))),
            "mean_instances": round(float(self.billed.mean()), 2),
        }


def simulate(
    demand: np.ndarray,
    capacity_per_instance: float,
    policy: Policy,
    behaviour: Behaviour = DEFAULT_BEHAVIOUR,
    initial: int | None = None,
) -> Run:
    """Run `policy` over `demand` (requests per minute). `initial` instances serve at minute 0
    (default: what the policy would hold for the first minute's traffic)."""
    b = behaviour.high_resolution() if policy.tracking and policy.tracking.high_resolution else behaviour
    tt = policy.tracking
    n = len(demand)
    rates = [float(x) for x in demand]
    schedule = None if policy.schedule is None else [int(x) for x in policy.schedule]
    minimum = schedule[0] if schedule else policy.min_capacity
    maximum = policy.max_capacity
    if initial is None:
        initial = math.ceil(rates[0] / tt.target) if tt else minimum
    serving = min(maximum, max(minimum, initial))
    starting: list[list[int]] = []  # [ready minute, count]
    draining: list[list[int]] = []  # [end minute, count]
    out_busy_until = -1  # scale-out activity in progress or in cooldown until this minute (exclusive)
    in_blocked_until = -1
    high_run = low_run = 0
    in_service = np.zeros(n)
    billed = np.zeros(n)
    history_n: list[int] = []

    def desired() -> int:
        return serving + sum(c for _, c in starting)

    def launch(t: int, count: int) -> int:
        ready = t + 1 + b.instance_start_min
        starting.append([ready, count])
        return ready

    def remove(t: int, count: int) -> None:
        nonlocal serving
        # Cancel instances still starting first, then drain serving ones.
        while count and starting:
            take = min(count, starting[-1][1])
            starting[-1][1] -= take
            count -= take
            if not starting[-1][1]:
                starting.pop()
        if count:
            serving -= count
            draining.append([t + 1 + b.drain_min, count])

    for t in range(n):
        # Instances that finished starting serve from this minute; drained ones stop being billed.
        for item in [s for s in starting if s[0] <= t]:
            serving += item[1]
            starting.remove(item)
        draining[:] = [d for d in draining if d[0] > t]
        # Scheduled actions take effect at the start of their minute.
        if schedule and schedule[t] != minimum:
            minimum = schedule[t]
            if desired() < minimum:
                launch(t - 1, minimum - desired())
        in_service[t] = serving
        billed[t] = serving + sum(c for _, c in starting) + sum(c for _, c in draining)
        history_n.append(serving)
        if tt is None:
            continue
        # Alarms evaluate the datapoint that has been published by the end of this minute.
        k = t - b.metric_lag_min
        if k < 0:
            continue
        metric = rates[k] / max(history_n[k], 1)
        high_run = high_run + 1 if metric > tt.target else 0
        low_run = low_run + 1 if metric < b.scale_in_ratio * tt.target else 0
        updating = any(s for s in starting)
        if high_run >= b.scale_out_datapoints and t >= out_busy_until and not updating:
            want = min(maximum, max(minimum, math.ceil(history_n[k] * metric / tt.target)))
            if want > desired():
                ready = launch(t, want - desired())
                out_busy_until = ready + tt.scale_out_cooldown_min
                in_blocked_until = min(in_blocked_until, t)  # scale-out ends a scale-in cooldown
        elif low_run >= b.scale_in_datapoints and t >= in_blocked_until and not updating:
            want = min(maximum, max(minimum, math.ceil(history_n[k] * metric / tt.target)))
            if want < desired():
                remove(t, desired() - want)
                in_blocked_until = t + 1 + b.drain_min + tt.scale_in_cooldown_min
        if desired() > maximum:
            remove(t, desired() - maximum)
    return Run(policy, np.asarray(demand, dtype=float), in_service, billed, capacity_per_instance)
