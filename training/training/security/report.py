"""The robustness figure: accuracy against the attack budget (and, for images, per corruption)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

FIGURE = "security_robustness.png"


def plot_robustness(model: str, robustness: dict[str, Any], path: Path) -> None:
    """CNN: accuracy vs epsilon (0 = clean) for FGSM and PGD, and a bar per corruption.
    MLP: accuracy vs the perturbation's SNR (loudest to the right) for PGD and noise."""
    clean = robustness["clean_accuracy"]
    attacks = robustness["accuracy"]
    corruptions = robustness.get("corruptions")
    panels = 2 if corruptions else 1
    figure, axes = plt.subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    axis = axes[0][0]
    for attack, by_budget in attacks.items():
        labels = list(by_budget)
        if model == "cnn":
            xs = [0.0, *(robustness["budget_values"][label] * 255 for label in labels)]
        else:  # the budgets in their order (loudest last), whichever were measured
            order = list(robustness["budget_values"])
            xs = [0, *(order.index(label) + 1 for label in labels)]
        axis.plot(xs, [clean, *by_budget.values()], marker="o", label=attack)
    if model == "cnn":
        axis.set(xlabel="L-inf epsilon (x 1/255 of the [0, 1] pixel range)", ylabel="accuracy")
    else:
        order = list(robustness["budget_values"])
        axis.set_xticks(range(len(order) + 1), ["clean", *order])
        axis.set(xlabel="perturbation SNR", ylabel="accuracy")
    axis.set(title=f"{model}: accuracy under attack ({robustness['samples']} items)", ylim=(0, 1))
    axis.grid(alpha=0.3)
    axis.legend()
    if corruptions:
        axis = axes[0][1]
        names = list(corruptions["accuracy"])
        axis.barh(names, list(corruptions["accuracy"].values()))
        axis.axvline(clean, color="black", linestyle="--", label="clean")
        axis.set(title=f"common corruptions, severity {corruptions['severity']}", xlabel="accuracy", xlim=(0, 1))
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
