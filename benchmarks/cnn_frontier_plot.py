"""The CNN frontier table as a figure: held-out accuracy against training samples, one line per family and width.

Drawn from the package's own table (`training/training/models/cnn_frontier.json`), so the figure shows
what the trainer predicts from: markers at measured points, solid lines between them, dashed where
the recipe extrapolates (below the first point, beyond the last with the slope halving per doubling).

    python -m benchmarks.cnn_frontier_plot [--out benchmarks/results/cnn_frontier.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from training.recipe import Frontier

OUT = Path(__file__).resolve().parent / "results" / "cnn_frontier.png"


def plot(frontier: Frontier, out: Path) -> Path:
    samples = [p.train_samples for p in frontier.points]
    low, high = min(samples) / 2, max(samples) * 8
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for candidate in frontier.candidates():
        points = sorted((p for p in frontier.points if p.candidate == candidate), key=lambda p: p.train_samples)
        grid = np.geomspace(low, high, 200)
        predicted = [frontier.predict(candidate.width, s, candidate.family) for s in grid]
        first, last = points[0].train_samples, points[-1].train_samples
        inside = [(s, p.accuracy) for s, p in zip(grid, predicted, strict=True) if first <= s <= last]
        line = None
        if inside:
            (line,) = axes.plot(*zip(*inside, strict=True), "-", label=f"{candidate.family} width {candidate.width}")
        color = line.get_color() if line else None
        below = [(s, p.accuracy) for s, p in zip(grid, predicted, strict=True) if s <= first]
        beyond = [(s, p.accuracy) for s, p in zip(grid, predicted, strict=True) if s >= last]
        for part in (below, beyond):
            if part:
                (dashed,) = axes.plot(*zip(*part, strict=True), "--", color=color, alpha=0.6)
                color = dashed.get_color()
        axes.plot(
            [p.train_samples for p in points],
            [p.accuracy for p in points],
            "o",
            color=color,
            label=None if line else f"{candidate.family} width {candidate.width}",
        )
    axes.set_xscale("log")
    axes.set_xlabel("training samples (epochs x training images)")
    axes.set_ylabel("held-out accuracy (test-time flip)")
    axes.set_title("CNN frontier: measured (markers), interpolated (solid), extrapolated (dashed)", fontsize=9)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(out, dpi=120)
    plt.close(figure)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, default=None, help="a frontier table (default: the package's)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    print(plot(Frontier.load(args.table), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
