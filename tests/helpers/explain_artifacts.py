"""Artifacts with an explanation path, written by the training package's own export functions, and a
synthetic CNN whose class evidence sits in one patch (for the sanity checks)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from training.artifact import image_input

from benchmarks.serve_artifacts import build_mlp
from tests.helpers.inference_fixtures import AUDIO_CLASSES, IMAGE_CLASSES, IMAGE_SIZE, write_cnn_manifest

PATCH = (slice(4, 12), slice(18, 26))  # rows, columns of the synthetic model's evidence


def _cnn_manifest(model_dir: Path, name: str, classes: list[str]) -> None:
    explanation = {"model_file": "explain.pt2", "output": "logits"}
    write_cnn_manifest(
        model_dir, name, classes, image_input(IMAGE_SIZE), hyperparameters={"model": "cnn"}, explanation=explanation
    )


def build_explained_cnn(model_dir: Path, seed: int = 0, width: int = 8, head_gain: float = 200.0) -> Path:
    """The project's CNN (untrained, seeded) exported as training does: model.pt2 and explain.pt2.
    `head_gain` scales the head's weights so that logits differ by whole units between inputs, as a
    trained model's do (at initialisation they differ by ~1e-3, and a completeness check on them
    would pass on its absolute floor alone)."""
    import torch
    from training.models.cnn import CNNConfig, ImageClassifier, export_cnn, export_explainer

    torch.manual_seed(seed)
    classifier = ImageClassifier(CNNConfig(num_classes=len(IMAGE_CLASSES), image_size=IMAGE_SIZE, width=width)).eval()
    with torch.no_grad():
        classifier.head.weight.mul_(head_gain)
    model_dir.mkdir(parents=True, exist_ok=True)
    export_cnn(classifier, model_dir / "model.pt2", test_time_flip=True)
    export_explainer(classifier, model_dir / "explain.pt2", test_time_flip=True)
    _cnn_manifest(model_dir, "cnn-explained", IMAGE_CLASSES)
    return model_dir


def patch_model(randomize: bool = False, seed: int = 0):  # unannotated: torch is imported lazily
    """Logits `(N, 2)`: class 1 rises with the green in PATCH (a conv, a GELU, a patch mean), class 0 is a
    constant. `randomize`: the same architecture with its conv re-initialised at random."""
    import torch
    from torch import nn

    class PatchModel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            mask = torch.zeros(1, 1, IMAGE_SIZE, IMAGE_SIZE)
            mask[..., PATCH[0], PATCH[1]] = 1.0
            self.register_buffer("mask", mask / mask.sum())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            evidence = (nn.functional.gelu(self.conv(x)) * self.mask).sum(dim=(1, 2, 3))
            return torch.stack([torch.full_like(evidence, 0.5), 4.0 * evidence], dim=1)

    torch.manual_seed(seed)
    model = PatchModel().eval()
    if not randomize:
        with torch.no_grad():
            model.conv.weight.zero_()
            model.conv.weight[:, 1, 1, 1] = 1.0  # each feature map: the green channel
            model.conv.bias.zero_()
    return model


def build_patch_cnn(model_dir: Path, randomize: bool = False) -> Path:
    import torch

    model = patch_model(randomize)

    class Softmax(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.model(x), dim=1)

    model_dir.mkdir(parents=True, exist_ok=True)
    batch = torch.export.Dim("batch", min=1, max=1024)
    example = (torch.rand(2, 3, IMAGE_SIZE, IMAGE_SIZE),)
    for module, name in ((Softmax().eval(), "model.pt2"), (model, "explain.pt2")):
        program = torch.export.export(module, example, dynamic_shapes=({0: batch},))
        torch.export.save(program, str(model_dir / name))
    _cnn_manifest(model_dir, "patch", ["background", "patch"])
    return model_dir


def patch_image(seed: int = 0) -> np.ndarray:
    """Model input `(3, H, W)`: dim noise everywhere, bright green in PATCH."""
    rng = np.random.default_rng(seed)
    image = rng.uniform(0.0, 0.3, (3, IMAGE_SIZE, IMAGE_SIZE)).astype(np.float32)
    image[1, PATCH[0], PATCH[1]] = rng.uniform(0.7, 1.0, (8, 8))
    return image


def build_explained_mlp(model_dir: Path, seed: int = 0) -> Path:
    """The project's MLP (untrained, seeded, one hidden layer of 32) with the MFCC featurizer of the
    default hyperparameters (the fixtures' MFCC), exported as training does."""
    hyperparameters = {"hidden_units": "32", "hidden_layers": "1"}
    return build_mlp(
        model_dir, seed=seed, hyperparameters=hyperparameters, class_names=AUDIO_CLASSES, name="mlp-explained"
    )


def read_manifest(model_dir: Path) -> dict:
    return json.loads((model_dir / "manifest.json").read_text())
