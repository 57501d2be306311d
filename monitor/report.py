"""The report files: `drift.json` (the report dict) and `drift.png` (the same figures, drawn)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display in a processing job
import matplotlib.pyplot as plt

REPORT_JSON = "drift.json"
REPORT_PNG = "drift.png"


def write_json(report: dict[str, Any], output_dir: Path) -> Path:
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / REPORT_JSON
    path.write_text(json.dumps(report, indent=2, allow_nan=False, default=_finite) + "\n")
    return path


def _finite(value: Any) -> Any:
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_png(report: dict[str, Any], output_dir: Path) -> Path:
    """p-values against alpha, the predicted-class mix and the confidence histogram, window against reference;
    for a report that ran no test, its status and message."""
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / REPORT_PNG
    title = f"{report.get('model', '?')} {report.get('model_version', '')}: {report['status']}"
    if report["status"] != "ok":
        figure, axis = plt.subplots(figsize=(8, 2.5))
        axis.axis("off")
        axis.text(0.01, 0.5, f"{title}\n\n{report['message'][:300]}", va="center", wrap=True, fontsize=10)
        figure.savefig(path, dpi=100)
        plt.close(figure)
        return path
    alpha = report["settings"]["alpha"]
    tests = report["tests"]
    figure, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    names = list(tests)
    p_values = [max(tests[n]["p_value"], 1e-6) for n in names]
    colours = ["tab:red" if tests[n]["drift"] else "tab:green" for n in names]
    axes[0].barh(names, p_values, color=colours)
    axes[0].axvline(alpha, color="black", linestyle="--", label=f"alpha {alpha}")
    axes[0].set(xscale="log", xlim=(1e-6, 1.0), title="p-values (red: below alpha)", xlabel="p-value")
    axes[0].legend(loc="lower right")
    mix = tests["class_mix_chi2"]["details"]
    classes = list(mix["reference_mix"])
    positions = range(len(classes))
    axes[1].bar([p - 0.2 for p in positions], [mix["reference_mix"][c] for c in classes], 0.4, label="reference")
    axes[1].bar([p + 0.2 for p in positions], [mix["window_mix"][c] for c in classes], 0.4, label="window")
    axes[1].set_xticks(list(positions), classes, rotation=45, ha="right")
    axes[1].set(title=f"predicted classes (TV distance {mix['total_variation_distance']:.3f})", ylabel="share")
    axes[1].legend()
    histogram = report["confidence_histogram"]
    centres = [(a + b) / 2 for a, b in zip(histogram["edges"][:-1], histogram["edges"][1:], strict=True)]
    window_total = max(sum(histogram["window"]), 1)
    axes[2].plot(centres, [c / window_total for c in histogram["window"]], marker="o", label="window")
    if histogram.get("reference"):
        reference_total = max(sum(histogram["reference"]), 1)
        axes[2].plot(centres, [c / reference_total for c in histogram["reference"]], marker="o", label="reference")
    axes[2].set(title="confidence (top probability)", xlabel="confidence", ylabel="share")
    axes[2].legend()
    rows = report["window"].get("rows", 0)
    figure.suptitle(f"{title}, {rows} inputs: {report['message']}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
