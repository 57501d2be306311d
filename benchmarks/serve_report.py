"""The serving benchmark's arithmetic and write-up: ratios, capacity, target checks, table, plot.

Pure functions over the measured figures (dicts as `serve_bench` records them), so they are tested
without a server:
- a load point: `{"concurrency", "rps", "p50_ms", "p95_ms", "p99_ms", "ok", "errors", ...}`, and
  for a paced probe also `"target_rps"`;
- raw: `{"batches": {"1": {"items_per_s", "forward_ms_p50", ...}, ...}}` (benchmarks.serve_raw).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

Point = Mapping[str, Any]
# A paced probe sustains its target when it reaches this share of it (hey paces each worker alone).
SUSTAINED_SHARE = 0.95


def ratio_to_raw(points: Sequence[Point], raw: Mapping[str, Any]) -> dict[int, float | None]:
    """Server requests/s at concurrency c over the raw model's items/s at batch size c."""
    out: dict[int, float | None] = {}
    for point in points:
        c = int(point["concurrency"])
        reference = raw["batches"].get(str(c))
        out[c] = point["rps"] / reference["items_per_s"] if reference and reference["items_per_s"] > 0 else None
    return out


def sustains(point: Point, slo_ms: float) -> bool:
    """No errors, p99 within the SLO and, for a paced probe, the target rate reached."""
    if point.get("errors", 0) or not point.get("ok") or not math.isfinite(point["p99_ms"]):
        return False
    if point["p99_ms"] > slo_ms:
        return False
    target = point.get("target_rps")
    return target is None or point["rps"] >= SUSTAINED_SHARE * target


def max_sustainable_rps(points: Iterable[Point], slo_ms: float) -> tuple[float, Point | None]:
    """The highest requests/s among the points that sustain the SLO; (0.0, None) when none does."""
    best: tuple[float, Point | None] = (0.0, None)
    for point in points:
        if sustains(point, slo_ms) and point["rps"] > best[0]:
            best = (float(point["rps"]), point)
    return best


def capacity_entry(rps: float, slo_ms: float, instance_type: str, measured_at: str, **extra: Any) -> dict[str, Any]:
    """One model's entry of benchmarks/serving_capacity.json (read by infra/settings.py)."""
    slo: float | int = int(slo_ms) if float(slo_ms).is_integer() else slo_ms
    return {
        "max_rps_per_instance": round(rps, 1),
        "p99_slo_ms": slo,
        "instance_type": instance_type,
        "measured_at": measured_at,
        **extra,
    }


def check_targets(model: Mapping[str, Any], tolerance_ms: float = 2.0) -> list[dict[str, Any]]:
    """The issue's targets for one model: each `{"target", "met", "detail"}`."""
    ours = {int(p["concurrency"]): p for p in model["server"]}
    theirs = {int(p["concurrency"]): p for p in model.get("baseline", [])}
    ratios = {int(c): r for c, r in model["ratio_to_raw"].items()}
    checks = []
    r32 = ratios.get(32)
    checks.append(
        {
            "target": "server/raw >= 0.8 at concurrency 32",
            "met": r32 is not None and r32 >= 0.8,
            "detail": f"ratio {r32:.2f}" if r32 is not None else "not measured",
        }
    )
    if theirs:
        faster = all(ours[c]["rps"] > theirs[c]["rps"] for c in ours if c in theirs)
        p99_ok = all(ours[c]["p99_ms"] <= theirs[c]["p99_ms"] for c in ours if c in theirs)
        detail = "; ".join(
            f"c={c}: {ours[c]['rps']:.0f} vs {theirs[c]['rps']:.0f} req/s, "
            f"p99 {ours[c]['p99_ms']:.1f} vs {theirs[c]['p99_ms']:.1f} ms"
            for c in sorted(ours)
            if c in theirs
        )
        checks.append(
            {"target": "throughput above the established server at every concurrency", "met": faster, "detail": detail}
        )
        checks.append(
            {"target": "p99 no worse than the established server at every concurrency", "met": p99_ok, "detail": detail}
        )
    single = model["raw"]["batches"].get("1")
    if 1 in ours and single:
        gap = ours[1]["p99_ms"] - single["forward_ms_p50"]
        checks.append(
            {
                "target": f"p99 at concurrency 1 within {tolerance_ms:g} ms of the raw single-item forward",
                "met": gap <= tolerance_ms,
                "detail": f"p99 {ours[1]['p99_ms']:.1f} ms vs raw forward {single['forward_ms_p50']:.1f} ms "
                f"(p50; gap {gap:+.1f} ms)"
                + (
                    f"; the raw forward's own p99 is {single['forward_ms_p99']:.1f} ms "
                    f"(gap {ours[1]['p99_ms'] - single['forward_ms_p99']:+.1f} ms)"
                    if "forward_ms_p99" in single
                    else ""
                ),
            }
        )
    capacity = model.get("capacity", {})
    checks.append(
        {
            "target": "max sustainable req/s under the p99 SLO reported",
            "met": capacity.get("rps", 0) > 0,
            "detail": f"{capacity.get('rps', 0):.1f} req/s at p99 <= {capacity.get('slo_ms', '?')} ms",
        }
    )
    return checks


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def markdown(results: Mapping[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        f"# Serving benchmark ({meta['date']})",
        "",
        f"Machine: {meta['machine']}. {meta['load_note']}",
        f"Load before/after: `{meta['uptime_before']}` / `{meta['uptime_after']}`.",
        f"Servers: `python -m inference serve` ({meta['server_config']}); {meta['baseline_name']} "
        f"({meta['baseline_config']}). Load generator: {meta['load_generator']}, "
        f"{meta['seconds_per_point']:g} s per point after a {meta['warmup_seconds']:g} s warm-up.",
        "",
    ]
    for name, model in results["models"].items():
        lines += [
            f"## {name}: {model['description']}",
            "",
            "| concurrency | server req/s | p50 ms | p95 ms | p99 ms | errors | raw items/s (batch = c) "
            f"| server/raw | {results['meta']['baseline_short']} req/s | p50 ms | p99 ms | errors |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        theirs = {int(p["concurrency"]): p for p in model.get("baseline", [])}
        for point in model["server"]:
            c = int(point["concurrency"])
            raw = model["raw"]["batches"].get(str(c), {})
            ratio = model["ratio_to_raw"].get(c, model["ratio_to_raw"].get(str(c)))
            b = theirs.get(c, {})
            lines.append(
                f"| {c} | {_fmt(point['rps'])} | {_fmt(point['p50_ms'])} | {_fmt(point['p95_ms'])} "
                f"| {_fmt(point['p99_ms'])} | {point['errors']} | {_fmt(raw.get('items_per_s'))} "
                f"| {_fmt(ratio, 2)} | {_fmt(b.get('rps'))} | {_fmt(b.get('p50_ms'))} "
                f"| {_fmt(b.get('p99_ms'))} | {b.get('errors', '-')} |"
            )
        single = model["raw"]["batches"].get("1", {})
        capacity = model["capacity"]
        lines += [
            "",
            f"Raw single-item forward: p50 {_fmt(single.get('forward_ms_p50'))} ms, "
            f"p99 {_fmt(single.get('forward_ms_p99'))} ms.",
            f"Max sustainable: **{capacity['rps']:.1f} req/s per instance** at p99 <= {capacity['slo_ms']:g} ms "
            f"({capacity['source']}).",
            "",
            "Capacity search (closed loop): "
            + (
                ", ".join(
                    f"c={p['concurrency']}: {p['rps']:.0f} req/s p99 {_fmt(p['p99_ms'])} ms"
                    f"{'' if p['errors'] == 0 else ', ' + str(p['errors']) + ' errors'}"
                    for p in model.get("probes", [])
                )
                or "none"
            ),
            "",
            "| target | met | measured |",
            "|---|---|---|",
        ]
        lines += [f"| {c['target']} | {'yes' if c['met'] else '**no**'} | {c['detail']} |" for c in model["targets"]]
        lines.append("")
    return "\n".join(lines)


def plot(results: Mapping[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = results["models"]
    fig, axes = plt.subplots(2, len(models), figsize=(6 * len(models), 8), squeeze=False)
    baseline = results["meta"]["baseline_short"]
    for column, (name, model) in enumerate(models.items()):
        throughput, latency = axes[0][column], axes[1][column]
        for label, points, style in (
            ("inference server", model["server"], "o-"),
            (baseline, model.get("baseline", []), "s--"),
        ):
            if not points:
                continue
            cs = [p["concurrency"] for p in points]
            throughput.plot(cs, [p["rps"] for p in points], style, label=label)
            latency.plot(cs, [p["p99_ms"] for p in points], style, label=label)
        batches = sorted(int(b) for b in model["raw"]["batches"])
        throughput.plot(
            batches,
            [model["raw"]["batches"][str(b)]["items_per_s"] for b in batches],
            "k:",
            label="raw model (batch = concurrency)",
        )
        latency.axhline(model["capacity"]["slo_ms"], color="red", linewidth=0.8, label="p99 SLO")
        for ax in (throughput, latency):
            ax.set_xscale("log", base=2)
            ax.set_xticks(batches, [str(b) for b in batches])
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
        throughput.set_title(f"{name}: throughput")
        throughput.set_ylabel("requests/s (raw: items/s)")
        latency.set_title(f"{name}: p99 latency")
        latency.set_ylabel("p99 ms")
        latency.set_yscale("log")
        latency.set_xlabel("concurrency")
    fig.suptitle(f"Serving benchmark {results['meta']['date']} ({results['meta']['machine']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
