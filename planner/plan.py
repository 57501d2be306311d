"""The plan file: what the serving stack declares for one environment and model, and why."""

from __future__ import annotations

import json
import math
from pathlib import Path

from planner.capacity import Capacity
from planner.forecast import actions
from planner.policies import Comparison
from planner.simulator import Behaviour
from planner.traces import Trace
from shared_names import CAPACITY_PLANS_DIR

SCHEMA = 1
PLANS_DIR = Path(__file__).resolve().parents[1] / CAPACITY_PLANS_DIR


def plan_document(
    env: str,
    model: str,
    trace: Trace,
    capacity: Capacity,
    comparison: Comparison,
    behaviour: Behaviour,
    price: float | None,
    command: str,
) -> dict:
    chosen = comparison.runs[comparison.chosen].policy
    tt = comparison.tuned
    scheduled = actions(comparison.hourly_min, comparison.lead_min) if comparison.chosen == "predictive" else []
    return {
        "schema": SCHEMA,
        "env": env,
        "model": model,
        "instance_type": capacity.instance_type,
        "policy": comparison.chosen,
        "target_tracking": {
            "metric": "SageMakerVariantInvocationsPerInstance",
            # Invocations per instance per minute; a whole number reads better in the console.
            "target_value": float(math.floor(tt.target)),
            "target_fraction_of_capacity": comparison.fraction,
            "scale_in_cooldown_s": tt.scale_in_cooldown_min * 60,
            "scale_out_cooldown_s": tt.scale_out_cooldown_min * 60,
        },
        "min_capacity": chosen.min_capacity,
        "max_capacity": chosen.max_capacity,
        "scheduled_actions": [{"name": a.name, "schedule": a.cron, "min_capacity": a.min_capacity} for a in scheduled],
        "capacity": {
            "rps_per_instance": round(capacity.rps, 1),
            "p99_slo_ms": capacity.p99_slo_ms,
            "how": capacity.how,
        },
        "trace": {"name": trace.name, "minutes": trace.minutes, "start_epoch_s": trace.start},
        "simulated": {
            "behaviour": behaviour.__dict__,
            "evaluation": "week 2 to the end of the trace; tuned on week 1, "
            "each week's schedule forecast from the weeks before it",
            "price_per_hour": price,
            "policies": {name: run.summary(price) for name, run in comparison.runs.items()},
        },
        "generated_by": command,
    }


def write(document: dict, plans_dir: Path = PLANS_DIR) -> Path:
    plans_dir.mkdir(parents=True, exist_ok=True)
    path = plans_dir / f"{document['env']}-{document['model']}.json"
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    return path
