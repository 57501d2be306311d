"""Tables and the PNG of a comparison: traffic, capacity and shortfall over time per policy."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from planner.policies import Comparison

LABELS = {
    "static": "1 static (peak)",
    "current": "2 current target tracking",
    "tuned": "3 tuned target tracking",
    "predictive": "4 predictive + target tracking",
    "high_resolution": "5 high-res concurrency TT",
    "predictive_current": "4b predictive + current target tracking",
}


def summaries(comparison: Comparison, price: float | None) -> dict[str, dict]:
    return {name: run.summary(price) for name, run in comparison.runs.items()}


def markdown_table(title: str, comparison: Comparison, price: float | None) -> str:
    rows = summaries(comparison, price)
    static = rows["static"]["instance_hours"] or 1
    lines = [
        f"**{title}**",
        "",
        "| policy | instance-hours | vs static | cost $ | % minutes over | % requests over "
        "| peak shortfall (instances) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in rows.items():
        mark = " (chosen)" if name == comparison.chosen else ""
        cost = "-" if s["cost_usd"] is None else f"{s['cost_usd']:,.0f}"
        lines.append(
            f"| {LABELS[name]}{mark} | {s['instance_hours']:,.0f} | {s['instance_hours'] / static - 1:+.0%} | "
            f"{cost} | {s['percent_minutes_over']:.2f} | {s['percent_requests_over']:.3f} | "
            f"{s['peak_shortfall_instances']} |"
        )
    return "\n".join(lines)


def plot(panels: list[tuple[str, Comparison]], path: Path, days: float = 7.0) -> None:
    """One row per trace, one column per policy: demand (in instances' worth of capacity), instances
    serving, and the shortfall, over the first `days` of the evaluation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(LABELS)
    fig, axes = plt.subplots(
        len(panels), len(names), figsize=(4.2 * len(names), 2.6 * len(panels)), sharex=True, sharey="row", squeeze=False
    )
    minutes = int(days * 1440)
    for row, (title, comparison) in enumerate(panels):
        for col, name in enumerate(names):
            ax = axes[row][col]
            run = comparison.runs[name]
            hours = np.arange(min(minutes, len(run.demand))) / 60
            need = run.demand[: len(hours)] / run.capacity_per_instance
            ax.plot(hours, need, color="tab:blue", lw=0.6, label="traffic (instances needed)")
            ax.step(
                hours, run.in_service[: len(hours)], color="tab:green", lw=0.8, where="post", label="instances serving"
            )
            short = np.maximum(0, need - run.in_service[: len(hours)])
            ax.fill_between(hours, 0, short, color="tab:red", alpha=0.7, step="post", label="shortfall")
            s = run.summary()
            ax.set_title(
                f"{LABELS[name]}\n{s['instance_hours']:,.0f} inst-h, {s['percent_minutes_over']:.2f}% min over",
                fontsize=8,
            )
            if col == 0:
                ax.set_ylabel(title, fontsize=8)
            if row == len(panels) - 1:
                ax.set_xlabel("hours into evaluation", fontsize=8)
            ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
