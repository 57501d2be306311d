"""`python -m planner plan|bench`: plan an endpoint's capacity from its traffic, or compare the policies
on every multi-week trace. See docs/capacity-planning.md."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from planner import capacity as capacity_mod
from planner import plan as plan_mod
from planner import report, traces
from planner.cloudwatch import read_invocations
from planner.policies import WEEK, Comparison, Current, compare
from planner.prices import hourly
from planner.simulator import Behaviour
from shared_names import MODEL_KINDS, SERVING_CAPACITY_FILE

ROOT = Path(__file__).resolve().parents[1]
# Chosen among 1.0, 0.95 and 0.9 on the bench traces (benchmarks/results/plan-history.md): 0.9 let one anomaly
# raise a floor least, at no extra minutes over capacity on any of them.
FORECAST_QUANTILE = 0.9


class PlanError(ValueError):
    pass


def serving_settings(cdk_json: Path, env: str, model: str) -> dict:
    context = json.loads(cdk_json.read_text())["context"]
    try:
        serving = context["environments"][env]["serving"][model]
    except KeyError as exc:
        raise PlanError(f"{cdk_json}: no environments.{env}.serving.{model}") from exc
    mode = serving.get("mode", "realtime")
    if mode != "realtime":
        # A plan sets a realtime variant's target tracking and scheduled minimums (infra/capacity_plan.py);
        # the zero modes scale copies or a backlog from zero instances, which this simulator does not model.
        raise PlanError(
            f"{cdk_json}: environments.{env}.serving.{model}.mode is {mode!r}; a capacity plan scales a "
            "'realtime' endpoint (plan another environment, e.g. --env prod, or set the mode to 'realtime')"
        )
    return serving


def current_policy(serving: dict, cap: capacity_mod.Capacity) -> Current:
    """The stacks' target tracking as they build it on main: the capacity file's closed-loop
    max_rps_per_instance (unscaled) x safety_factor x 60."""
    return Current(
        target_per_minute=cap.closed_loop_measured * serving["safety_factor"] * 60,
        min_capacity=serving["min_capacity"],
        max_capacity=serving["max_capacity"],
        scale_in_cooldown_min=max(1, serving["scale_in_cooldown_s"] // 60),
        scale_out_cooldown_min=max(1, serving["scale_out_cooldown_s"] // 60),
    )


def _load_trace(args) -> traces.Trace:
    if args.endpoint:
        import boto3

        trace = read_invocations(boto3.client("cloudwatch"), args.endpoint, args.days)
    else:
        trace = traces.read_csv(Path(args.trace))
    return trace


def _compare(
    trace: traces.Trace, cap, serving, behaviour, peak_instances: int | None, quantile: float = 1.0
) -> tuple[traces.Trace, Comparison]:
    if peak_instances:
        trace = trace.scaled_to_peak(peak_instances * cap.per_minute)
    if trace.minutes < 2 * WEEK:
        raise PlanError(
            f"{trace.name}: {trace.minutes / 1440:.1f} days of traffic; planning needs at least 14 "
            "(one week to tune and forecast from, one to check the plan on)"
        )
    return trace, compare(
        trace.per_minute, trace.minute_of_week(), cap.per_minute, current_policy(serving, cap), behaviour, quantile
    )


def cmd_plan(args) -> int:
    serving = serving_settings(args.cdk_json, args.env, args.model)
    cap = capacity_mod.load(args.capacity_file, args.model, serving["instance_type"])
    behaviour = Behaviour(instance_start_min=args.instance_start_min)
    trace, comparison = _compare(
        _load_trace(args), cap, serving, behaviour, args.peak_instances, args.forecast_quantile
    )
    price = hourly(cap.instance_type)
    command = "make plan " + " ".join(
        f"{k}={shlex.quote(str(v))}"
        for k, v in (
            ("ENV", args.env),
            ("MODEL", args.model),
            ("TRACE", args.trace),
            ("ENDPOINT", args.endpoint),
            ("PEAK_INSTANCES", args.peak_instances),
        )
        if v
    )
    document = plan_mod.plan_document(args.env, args.model, trace, cap, comparison, behaviour, price, command)
    path = plan_mod.write(document, args.plans_dir)
    print(report.markdown_table(f"{trace.name} ({args.env}/{args.model}, {cap.instance_type})", comparison, price))
    print(f"\ncapacity: {cap.how}")
    print(
        f"chosen: {comparison.chosen}; "
        f"target {document['target_tracking']['target_value']:g} invocations/instance/min, "
        f"min {document['min_capacity']}, max {document['max_capacity']}, "
        f"{len(document['scheduled_actions'])} scheduled actions\nwrote {path}"
    )
    return 0


def cmd_bench(args) -> int:
    serving = serving_settings(args.cdk_json, args.env, args.model)
    cap = capacity_mod.load(args.capacity_file, args.model, serving["instance_type"])
    behaviour = Behaviour(instance_start_min=args.instance_start_min)
    price = hourly(cap.instance_type)
    results, panels, tables = {}, [], []
    for path in sorted(Path(args.traces).glob("*.csv")):
        trace = traces.read_csv(path)
        if trace.minutes < 2 * WEEK:
            print(f"skip {path.name}: {trace.minutes / 1440:.1f} days (not multi-week)")
            continue
        trace, comparison = _compare(trace, cap, serving, behaviour, args.peak_instances, args.forecast_quantile)
        rows = report.summaries(comparison, price)
        static, chosen, current = (rows[n] for n in ("static", comparison.chosen, "current"))
        checks = {
            "chosen_saves_40pct_vs_static": chosen["instance_hours"] <= 0.6 * static["instance_hours"],
            "chosen_at_most_1pct_minutes_over": chosen["percent_minutes_over"] <= 1.0,
        }
        for name in ("predictive", "predictive_current"):
            p = rows[name]
            checks[f"{name}_fewer_minutes_over_than_current"] = (
                p["minutes_over_capacity"] < current["minutes_over_capacity"]
            )
            checks[f"{name}_at_most_10pct_more_hours_than_current"] = (
                p["instance_hours"] <= 1.1 * current["instance_hours"]
            )
        results[trace.name] = {
            "weeks": round(trace.weeks, 1),
            "chosen": comparison.chosen,
            "tuned_target_fraction": comparison.fraction,
            "policies": rows,
            "targets": checks,
            "notes": {k: v for k, v in comparison.notes.items() if v},
        }
        title = f"{trace.name} ({trace.weeks:.1f} weeks)"
        tables.append(
            report.markdown_table(title, comparison, price)
            + "\n\n"
            + "targets: "
            + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in checks.items())
        )
        panels.append((trace.name, comparison))
        print(tables[-1] + "\n", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    header = (
        f"model {args.model} on {cap.instance_type} (env {args.env}), {cap.how}; each trace scaled so its peak "
        f"needs {args.peak_instances} instances; instance start {behaviour.instance_start_min} min; "
        f"${price}/instance-hour (review/prices.json)"
    )
    (out / "plan.json").write_text(
        json.dumps({"setup": header, "behaviour": behaviour.__dict__, "traces": results}, indent=2) + "\n"
    )
    (out / "plan.md").write_text(f"# make bench-plan\n\n{header}\n\n" + "\n\n".join(tables) + "\n")
    report.plot(panels, out / "plan.png")
    print(f"wrote {out / 'plan.md'}, {out / 'plan.json'}, {out / 'plan.png'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m planner", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("plan", "bench"):
        p = sub.add_parser(name)
        p.add_argument("--env", default="prod")  # the environment whose models are served in mode realtime
        p.add_argument("--model", default="cnn", choices=MODEL_KINDS)
        p.add_argument("--cdk-json", type=Path, default=ROOT / "cdk.json")
        p.add_argument("--capacity-file", type=Path, default=ROOT / SERVING_CAPACITY_FILE)
        p.add_argument(
            "--instance-start-min",
            type=int,
            default=Behaviour.instance_start_min,
            help="minutes from a scaling decision until a new instance serves (AWS: several; docs/cold-start.md)",
        )
        p.add_argument(
            "--forecast-quantile",
            type=float,
            default=FORECAST_QUANTILE,
            help="quantile of each hour-of-week's per-minute rates the schedule is sized for",
        )
        p.add_argument(
            "--peak-instances",
            type=int,
            default=8 if name == "bench" else 0,
            help="scale the trace so its peak needs this many instances (0: as recorded)",
        )
    plan = sub.choices["plan"]
    source = plan.add_mutually_exclusive_group(required=True)
    source.add_argument("--trace", help="CSV: timestamp,value (count per interval) or one row per request")
    source.add_argument("--endpoint", help="read the endpoint's Invocations from CloudWatch")
    plan.add_argument("--days", type=int, default=14)
    plan.add_argument("--plans-dir", type=Path, default=plan_mod.PLANS_DIR)
    bench = sub.choices["bench"]
    bench.add_argument("--traces", default=str(ROOT.parent / "shared" / "traces"))
    bench.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    try:
        return cmd_plan(args) if args.command == "plan" else cmd_bench(args)
    except (PlanError, ValueError) as exc:
        print(f"planner: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
