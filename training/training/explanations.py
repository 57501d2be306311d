"""What the model learned, per class, from its own exported artifact: integrated gradients on held-out items.

For each class: the mean attribution map of (up to `explain_per_class`) correctly classified items,
and the most confidently misclassified items of that class with their maps. For the MLP, also
which MFCC frames and coefficients carry the decision on average (mean |attribution|). Figures go to
`<output data dir>/explanations/`, the summary into `evaluation.json` under `explanations`
(docs/contracts.md).

The attributions come from the artifact's explanation path, as the endpoint computes them
(inference.explain, which uses Captum for the CNN): the same rule (Gauss-Legendre nodes and weights,
Captum's default), zero baseline, IG_STEPS steps, the target class's logit. Here the sum is written
out with torch autograd and the SavedModel's `explain_features` gradients, a few lines each, because
the training images do not carry Captum (it requires torch, which the TensorFlow image must not pull
in) nor the inference package; a test pins this sum to Captum's on the same program.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

log = logging.getLogger(__name__)
IG_STEPS = 32
MISCLASSIFIED_PER_CLASS = 3
FOLDER = "explanations"

# (inputs (n, ...), targets (n,)) -> attributions, CNN (n, H, W), MLP (n, frames, coefficients)
Attribute = Callable[[np.ndarray, np.ndarray], np.ndarray]


def select(
    labels: np.ndarray, probabilities: np.ndarray, per_class: int, misclassified: int = MISCLASSIFIED_PER_CLASS
) -> dict[int, dict[str, list[int]]]:
    """Per true class: the first `per_class` correct items, and the `misclassified` wrong ones with the
    highest confidence in their wrong answer."""
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    chosen: dict[int, dict[str, list[int]]] = {}
    for label in range(probabilities.shape[1]):
        correct = np.flatnonzero((labels == label) & (predicted == label))[:per_class]
        wrong = np.flatnonzero((labels == label) & (predicted != label))
        wrong = wrong[np.argsort(-confidence[wrong], kind="stable")][:misclassified]
        chosen[label] = {"correct": correct.tolist(), "misclassified": wrong.tolist()}
    return chosen


def path_points(steps: int = IG_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes in (0, 1) and weights summing to 1 (Captum's default rule)."""
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    return ((nodes + 1) / 2).astype(np.float32), (weights / 2).astype(np.float32)


def cnn_attribute(explain_program: Path, steps: int = IG_STEPS) -> Attribute:
    """Integrated gradients through the exported logits program with torch autograd, one image at a
    time, all path points in one batch; summed over the colour channels."""
    import torch

    program = torch.export.load(str(explain_program)).module()
    alphas, weights = (torch.from_numpy(a) for a in path_points(steps))

    def attribute(images: np.ndarray, targets: np.ndarray) -> np.ndarray:
        maps = []
        for image, target in zip(images, targets, strict=True):
            x = torch.from_numpy(np.ascontiguousarray(image))
            path = (alphas.view(-1, 1, 1, 1) * x.unsqueeze(0)).requires_grad_(True)
            (gradients,) = torch.autograd.grad(program(path)[:, int(target)].sum(), path)
            maps.append((x * torch.tensordot(weights, gradients, dims=1)).sum(dim=0).detach().numpy())
        return np.stack(maps)

    return attribute


def mlp_attribute(saved_model: Path, signatures: dict[str, str], num_classes: int) -> Attribute:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(saved_model))
    gradients = getattr(loaded, signatures["gradients"])
    featurizer = getattr(loaded, signatures["features"]) if "features" in signatures else None
    alphas, weights = path_points()

    def attribute(inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        assert loaded is not None
        features = np.asarray(featurizer(tf.constant(inputs))) if inputs.ndim == 2 and featurizer else inputs
        maps = []
        for row, target in zip(features, targets, strict=True):
            path = alphas[:, None, None] * row[None]
            onehot = np.zeros((IG_STEPS, num_classes), np.float32)
            onehot[:, target] = 1.0
            grads = gradients(tf.constant(path), tf.constant(onehot))["gradients"].numpy()
            maps.append(row * np.tensordot(weights, grads, axes=1))
        return np.stack(maps)

    return attribute


def _overlay(axis: Any, image: np.ndarray | None, attribution: np.ndarray, title: str, spectral: bool = False) -> None:
    limit = float(np.percentile(np.abs(attribution), 99)) or 1.0
    if image is not None:
        axis.imshow(np.transpose(image, (1, 2, 0)).mean(axis=2), cmap="gray", vmin=0, vmax=1)
        axis.imshow(attribution, cmap="bwr", vmin=-limit, vmax=limit, alpha=0.6)
    elif spectral:  # frames left to right, coefficient 0 at the bottom
        axis.imshow(
            attribution, cmap="Reds", vmin=0, vmax=limit, aspect="auto", origin="lower", interpolation="nearest"
        )
    else:
        axis.imshow(attribution, cmap="bwr", vmin=-limit, vmax=limit)
    axis.set_title(title, fontsize=8)
    axis.axis("off")


def explain_cnn(
    images: np.ndarray,
    labels: np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
    attribute: Attribute,
    per_class: int,
    folder: Path,
) -> dict[str, Any]:
    """`images` float (N, 3, H, W) in [0, 1]. Writes cnn_class_means.png and cnn_misclassified.png."""
    folder.mkdir(parents=True, exist_ok=True)
    chosen = select(labels, probabilities, per_class)
    summary: dict[str, Any] = {}
    columns = len(class_names)
    figure, axes = plt.subplots(1, columns, figsize=(2 * columns, 2.4), squeeze=False)
    wrong_rows = [(label, index) for label in chosen for index in chosen[label]["misclassified"]]
    for label, name in enumerate(class_names):
        correct = chosen[label]["correct"]
        mean = attribute(images[correct], np.full(len(correct), label)).mean(axis=0) if correct else None
        if mean is not None:
            _overlay(axes[0, label], None, mean, f"{name} (n={len(correct)})")
        else:
            axes[0, label].axis("off")
        summary[name] = {
            "correct_explained": len(correct),
            "mean_abs_attribution": float(np.abs(mean).mean()) if mean is not None else None,
            "misclassified": [],
        }
    figure.suptitle(f"mean integrated gradients of correct items ({IG_STEPS} steps, zero baseline)", fontsize=9)
    figure.tight_layout()
    figure.savefig(folder / "cnn_class_means.png", dpi=80)
    plt.close(figure)
    if wrong_rows:
        indices = np.array([index for _, index in wrong_rows])
        predicted = probabilities[indices].argmax(axis=1)
        maps = attribute(images[indices], predicted)
        figure, axes = plt.subplots(1, len(indices), figsize=(2 * len(indices), 2.4), squeeze=False)
        for k, (label, index) in enumerate(wrong_rows):
            wrong = class_names[predicted[k]]
            confidence = float(probabilities[index].max())
            _overlay(axes[0, k], images[index], maps[k], f"{class_names[label]} -> {wrong} {confidence:.2f}")
            summary[class_names[label]]["misclassified"].append(
                {"index": int(index), "predicted": wrong, "confidence": confidence}
            )
        figure.tight_layout()
        figure.savefig(folder / "cnn_misclassified.png", dpi=80)
        plt.close(figure)
    return {
        "method": "integrated_gradients",
        "steps": IG_STEPS,
        "baseline": "zeros",
        "output": "logit",
        "figures": sorted(p.name for p in folder.glob("cnn_*.png")),
        "per_class": summary,
    }


def explain_mlp(
    inputs: np.ndarray,
    labels: np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
    attribute: Attribute,
    per_class: int,
    folder: Path,
) -> dict[str, Any]:
    """Writes mlp_attributions.png: per class the mean |attribution| over frames x coefficients."""
    folder.mkdir(parents=True, exist_ok=True)
    chosen = select(labels, probabilities, per_class)
    summary: dict[str, Any] = {}
    means = []
    columns = min(5, len(class_names))
    rows = -(-len(class_names) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.2 * rows), squeeze=False)
    for spare in axes.flat[len(class_names) :]:
        spare.axis("off")
    for label, name in enumerate(class_names):
        correct = chosen[label]["correct"]
        entry: dict[str, Any] = {"correct_explained": len(correct), "misclassified": []}
        if correct:
            mean = np.abs(attribute(inputs[correct], np.full(len(correct), label))).mean(axis=0)
            means.append(mean)
            axis = axes.flat[label]
            _overlay(axis, None, mean.T, name, spectral=True)
            axis.axis("on")
            axis.set(xlabel="frame", ylabel="coefficient" if label % columns == 0 else None)
            entry["top_frames"] = np.argsort(-mean.sum(axis=1))[:5].tolist()
            entry["top_coefficients"] = np.argsort(-mean.sum(axis=0))[:5].tolist()
        else:
            axes.flat[label].axis("off")
        wrong = chosen[label]["misclassified"]
        if wrong:
            predicted = probabilities[wrong].argmax(axis=1)
            maps = np.abs(attribute(inputs[wrong], predicted))
            entry["misclassified"] = [
                {
                    "index": int(i),
                    "predicted": class_names[p],
                    "confidence": float(probabilities[i].max()),
                    "top_frames": np.argsort(-m.sum(axis=1))[:5].tolist(),
                }
                for i, p, m in zip(wrong, predicted, maps, strict=True)
            ]
        summary[name] = entry
    figure.suptitle(f"mean |integrated gradients| of correct items ({IG_STEPS} steps, zero baseline)", fontsize=9)
    figure.tight_layout()
    figure.savefig(folder / "mlp_attributions.png", dpi=80)
    plt.close(figure)
    overall = np.mean(means, axis=0) if means else None
    result: dict[str, Any] = {
        "method": "integrated_gradients",
        "steps": IG_STEPS,
        "baseline": "zeros",
        "output": "logit",
        "figures": ["mlp_attributions.png"],
        "per_class": summary,
    }
    if overall is not None:
        frames, coefficients = overall.sum(axis=1), overall.sum(axis=0)
        result["frames"] = np.round(frames / frames.sum(), 5).tolist()  # share of the mean |attribution|
        result["coefficients"] = np.round(coefficients / coefficients.sum(), 5).tolist()
    return result


def explain_held_out(
    model: str,
    model_dir: Path,
    explanation: dict[str, Any],
    inputs: np.ndarray,
    labels: np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
    per_class: int,
    output_data_dir: Path,
) -> dict[str, Any]:
    """The `explanations` block of evaluation.json, figures under `<output_data_dir>/explanations/`."""
    folder = output_data_dir / FOLDER
    if model == "cnn":
        images = inputs.astype(np.float32) / 255.0
        attribute = cnn_attribute(model_dir / explanation["model_file"])
        result = explain_cnn(images, labels, probabilities, class_names, attribute, per_class, folder)
    else:
        manifest = __import__("json").loads((model_dir / "manifest.json").read_text())
        attribute = mlp_attribute(model_dir / manifest["model_file"], explanation["signatures"], len(class_names))
        result = explain_mlp(
            inputs.astype(np.float32), labels, probabilities, class_names, attribute, per_class, folder
        )
    result["folder"] = FOLDER
    log.info("wrote explanation figures to %s", folder)
    return result
