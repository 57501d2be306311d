"""Quality figures on held-out data (scikit-learn) and the plots that go with them (matplotlib)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display in a container
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
)


def evaluate(labels: np.ndarray, probabilities: np.ndarray, class_names: Sequence[str], split: str) -> dict[str, Any]:
    """The contents of evaluation.json (docs/contracts.md)."""
    predicted = probabilities.argmax(axis=1)
    indices = list(range(len(class_names)))
    precision, recall, f1, support = precision_recall_fscore_support(labels, predicted, labels=indices, zero_division=0)
    macro = precision_recall_fscore_support(labels, predicted, labels=indices, average="macro", zero_division=0)
    return {
        "split": split,
        "num_samples": int(len(labels)),
        "accuracy": float(accuracy_score(labels, predicted)),
        "macro_precision": float(macro[0]),
        "macro_recall": float(macro[1]),
        "macro_f1": float(macro[2]),
        "class_names": list(class_names),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": confusion_matrix(labels, predicted, labels=indices).tolist(),
    }


def write_evaluation(output_data_dir: Path, evaluation: dict[str, Any]) -> Path:
    output_data_dir.mkdir(parents=True, exist_ok=True)
    path = output_data_dir / "evaluation.json"
    path.write_text(json.dumps(evaluation, indent=2) + "\n")
    return path


def plot_learning_curves(history: Sequence[dict[str, float]], path: Path) -> None:
    epochs = [h["epoch"] for h in history]
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 4))
    loss_axis.plot(epochs, [h["train_loss"] for h in history], marker="o", label="train")
    loss_axis.plot(epochs, [h["val_loss"] for h in history], marker="o", label="validation")
    loss_axis.set(title="Loss", xlabel="epoch")
    accuracy_axis.plot(epochs, [h["train_accuracy"] for h in history], marker="o", label="train")
    accuracy_axis.plot(epochs, [h["val_accuracy"] for h in history], marker="o", label="validation")
    accuracy_axis.set(title="Accuracy", xlabel="epoch", ylim=(0, 1))
    for axis in (loss_axis, accuracy_axis):
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_confusion_matrix(evaluation: dict[str, Any], path: Path) -> None:
    names = evaluation["class_names"]
    size = max(5.0, 0.5 * len(names) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay(np.asarray(evaluation["confusion_matrix"]), display_labels=names).plot(
        ax=axis, colorbar=False, xticks_rotation=45
    )
    axis.set_title(f"{evaluation['split']}: accuracy {evaluation['accuracy']:.3f}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
