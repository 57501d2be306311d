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
    """One model's entry of benchmarks/serving_capacity.json (read by infra/serving_capacity.py)."""
    slo: float | int = int(slo_ms) if float(slo_ms).is_integer() else slo_ms
    return {
        "max_rps_per_instance": round(rps, 1),
        "p99_slo_ms": slo,
        "instance_type": instance_type,
        "measured_at": measured_at,
        **extra,
    }


def measured_peers(model: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The peers of one model that ran (those with points), by key."""
    return {key: peer for key, peer in model.get("peers", {}).items() if peer.get("points")}


def peer_wins(model: Mapping[str, Any]) -> list[str]:
    """Each concurrency where a peer answered more requests/s, or a lower p99, than the server."""
    ours = {int(p["concurrency"]): p for p in model["server"]}
    wins = []
    for peer in measured_peers(model).values():
        for theirs in peer["points"]:
            c = int(theirs["concurrency"])
            mine = ours.get(c)
            if mine is None:
                continue
            if theirs["rps"] >= mine["rps"]:
                wins.append(f"{peer['name']} c={c}: {theirs['rps']:.0f} vs {mine['rps']:.0f} req/s")
            if theirs["p99_ms"] < mine["p99_ms"]:
                wins.append(f"{peer['name']} c={c}: p99 {theirs['p99_ms']:.1f} vs {mine['p99_ms']:.1f} ms")
    return wins


def check_targets(model: Mapping[str, Any], tolerance_ms: float = 1.0) -> list[dict[str, Any]]:
    """The issue's targets for one model: each `{"target", "met", "detail"}`."""
    ours = {int(p["concurrency"]): p for p in model["server"]}
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
    ran = measured_peers(model)
    if ran:
        wins = peer_wins(model)
        throughput = [w for w in wins if "req/s" in w]
        latency = [w for w in wins if "p99" in w]
        names = ", ".join(peer["name"] for peer in ran.values())
        checks.append(
            {
                "target": "throughput above every peer at every concurrency",
                "met": not throughput,
                "detail": "; ".join(throughput) or f"ahead of {names}",
            }
        )
        checks.append(
            {
                "target": "p99 no worse than every peer at every concurrency",
                "met": not latency,
                "detail": "; ".join(latency) or f"no worse than {names}",
            }
        )
    single = model["raw"]["batches"].get("1")
    if 1 in ours and single:
        reference = single.get("forward_ms_p99", single["forward_ms_p50"])
        gap = ours[1]["p99_ms"] - reference
        checks.append(
            {
                "target": f"p99 at concurrency 1 within {tolerance_ms:g} ms of the raw single-item forward's p99",
                "met": gap <= tolerance_ms,
                "detail": f"p99 {ours[1]['p99_ms']:.1f} ms vs raw forward p99 {reference:.1f} ms (gap {gap:+.1f} ms; "
                f"raw p50 {single['forward_ms_p50']:.1f} ms)",
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


def _cell(point: Point | None, raw: Mapping[str, Any] | None) -> str:
    """`req/s (p50 / p99 ms) ratio-to-raw` for one server at one concurrency."""
    if point is None:
        return "-"
    ratio = point["rps"] / raw["items_per_s"] if raw and raw.get("items_per_s") else None
    errors = f", {point['errors']} errors" if point.get("errors") else ""
    return f"{_fmt(point['rps'], 0)} ({_fmt(point['p50_ms'])} / {_fmt(point['p99_ms'])}) {_fmt(ratio, 2)}x{errors}"


def peer_table(model: Mapping[str, Any], levels: Sequence[int]) -> list[str]:
    """One row per concurrency, one column per server (the inference server first): req/s, p50/p99, x raw."""
    ours = {int(p["concurrency"]): p for p in model["server"]}
    ran = measured_peers(model)
    head = ["concurrency", "raw items/s (batch = c)", "inference server"]
    head += [f"{peer['name']} {peer.get('version', '')}".strip() for peer in ran.values()]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for c in levels:
        raw = model["raw"]["batches"].get(str(c))
        row = [str(c), _fmt(raw.get("items_per_s") if raw else None, 0), _cell(ours.get(c), raw)]
        for peer in ran.values():
            theirs = {int(p["concurrency"]): p for p in peer["points"]}
            row.append(_cell(theirs.get(c), raw))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def markdown(results: Mapping[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        f"# Serving benchmark ({meta['date']})",
        "",
        f"Machine: {meta['machine']}. {meta['load_note']}",
        f"Load before/after: `{meta['uptime_before']}` / `{meta['uptime_after']}`.",
        f"Server: `python -m inference serve` ({meta['server_config']}). Load generator: {meta['load_generator']}, "
        f"{meta['seconds_per_point']:g} s per point after a {meta['warmup_seconds']:g} s warm-up.",
        "",
        "Peers (each in its own venv, serving the same artifact through the server's own loader, decoder and encoder):",
        "",
        *[f"- {peer['name']}: {peer['config']}" for peer in meta.get("peers", [])],
        "",
    ]
    levels = meta.get("peer_concurrency", [1, 8, 32])
    for name, model in results["models"].items():
        lines += [
            f"## {name}: {model['description']}",
            "",
            "Each cell: requests/s (p50 / p99 ms) and the ratio to the raw model's items/s at batch = concurrency.",
            "",
            *peer_table(model, levels),
            "",
        ]
        absent = {key: peer for key, peer in model.get("peers", {}).items() if "missing" in peer}
        if absent:
            lines += ["Missing peers (measured here):", ""]
            lines += [f"- {peer['name']}: {peer['missing']}" for peer in absent.values()]
            lines.append("")
        wins = peer_wins(model)
        lines += [f"Where a peer is ahead: {'; '.join(wins) if wins else 'nowhere'}.", ""]
        lines += [
            "The inference server alone (with hey's CPU use, in cores, beside it):",
            "",
            "| concurrency | req/s | p50 ms | p95 ms | p99 ms | errors | raw items/s (batch = c) | server/raw "
            "| hey cores |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for point in model["server"]:
            c = int(point["concurrency"])
            raw = model["raw"]["batches"].get(str(c), {})
            ratio = model["ratio_to_raw"].get(c, model["ratio_to_raw"].get(str(c)))
            seconds = meta.get("seconds_per_point")
            cores = point.get("client_cpu_s", 0.0) / seconds if seconds else None
            lines.append(
                f"| {c} | {_fmt(point['rps'])} | {_fmt(point['p50_ms'])} | {_fmt(point['p95_ms'])} "
                f"| {_fmt(point['p99_ms'])} | {point['errors']} | {_fmt(raw.get('items_per_s'))} "
                f"| {_fmt(ratio, 2)} | {_fmt(cores, 2)} |"
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
    for column, (name, model) in enumerate(models.items()):
        throughput, latency = axes[0][column], axes[1][column]
        series = [("inference server", model["server"], "o-")]
        series += [(peer["name"], peer["points"], "s--") for peer in measured_peers(model).values()]
        for label, points, style in series:
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
