"""A compact residual CNN for 32x32 to 224x224 RGB images, and its self-contained export.

Three stages (width, 2x, 4x), each a conv, a 2x max-pool and a residual pair of convs, in the
spirit of the fast CIFAR-10 recipes (ResNet-9 / airbench): few layers, wide convs, BatchNorm,
GELU, global max-pool. Larger inputs get a strided stem so the stages see roughly 32x32.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from training.hyperparameters import CNN_FAMILIES, DEFAULT_CNN_FAMILY

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


@dataclass(frozen=True)
class CNNConfig:
    num_classes: int
    image_size: int = 32
    width: int = 32
    family: str = DEFAULT_CNN_FAMILY  # one of CNN_FAMILIES: which network `build_classifier` makes
    mean: tuple[float, float, float] = CIFAR_MEAN
    std: tuple[float, float, float] = CIFAR_STD


def _conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.GELU())


class Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_bn(channels, channels), _conv_bn(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def register_normalisation(module: nn.Module, config: CNNConfig) -> None:
    """The per-channel `mean` and `std` buffers a classifier normalises its [0, 1] input with: inside the
    network, so training and the exported program share them."""
    module.register_buffer("mean", torch.tensor(config.mean).view(1, 3, 1, 1))
    module.register_buffer("std", torch.tensor(config.std).view(1, 3, 1, 1))


def _stage(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(_conv_bn(cin, cout), nn.MaxPool2d(2), Residual(cout))


class ImageClassifier(nn.Module):
    """Takes RGB in [0, 1] (N, 3, H, W); normalises inside, so training and export share it."""

    def __init__(self, config: CNNConfig) -> None:
        super().__init__()
        self.config = config
        register_normalisation(self, config)
        w = config.width
        stem: list[nn.Module] = []
        size, cin = config.image_size, 3
        while size >= 64:  # bring large inputs down to the ~32x32 the stages are sized for
            stem.append(_conv_bn(cin, w, stride=2))
            cin, size = w, size // 2
        stem.append(_conv_bn(cin, w))
        self.stem = nn.Sequential(*stem)
        self.stages = nn.Sequential(_stage(w, 2 * w), _stage(2 * w, 4 * w), _stage(4 * w, 8 * w))
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(8 * w, config.num_classes, bias=False)
        self.logit_scale = 0.125  # a scaled head trains faster with large learning rates (airbench)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled output of the last stage (N, 8 * width): what the head reads."""
        x = (x - self.mean) / self.std
        return torch.flatten(self.pool(self.stages(self.stem(x))), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x)) * self.logit_scale


def build_classifier(config: CNNConfig) -> nn.Module:
    """The network of `config.family`: both take [0, 1] RGB, normalise inside and have `embed`."""
    if config.family == "airbench":
        from training.models.airbench import AirbenchClassifier

        return AirbenchClassifier(config)
    if config.family != DEFAULT_CNN_FAMILY:
        raise ValueError(f"unknown CNN family {config.family!r}; known: {', '.join(CNN_FAMILIES)}")
    return ImageClassifier(config)


class ExportedImageClassifier(nn.Module):
    """What the artifact holds: [0, 1] RGB in, class probabilities out, optional test-time flip."""

    def __init__(self, classifier: nn.Module, test_time_flip: bool) -> None:
        super().__init__()
        self.classifier = classifier
        self.test_time_flip = test_time_flip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        probabilities = torch.softmax(self.classifier(x), dim=1)
        if self.test_time_flip:
            flipped = torch.softmax(self.classifier(torch.flip(x, dims=(3,))), dim=1)
            probabilities = (probabilities + flipped) / 2
        return probabilities


def export_cnn(classifier: nn.Module, path: Path, test_time_flip: bool) -> None:
    """Write a torch.export program with a dynamic batch dimension (docs/contracts.md)."""
    # Weights are saved in the default layout: channels_last parameters do not serialise cleanly
    # in torch.export archives. The program still runs its convolutions channels_last.
    weights = copy.deepcopy(classifier).to("cpu", memory_format=torch.contiguous_format)
    model = ExportedImageClassifier(weights, test_time_flip).eval()
    size = classifier.config.image_size
    example = torch.rand(2, 3, size, size)
    batch = torch.export.Dim("batch", min=1, max=1024)
    with torch.no_grad():
        program = torch.export.export(model, (example,), dynamic_shapes={"x": {0: batch}})
    torch.export.save(program, str(path))


class ExplainedImageClassifier(nn.Module):
    """The explanation program: [0, 1] RGB in, class logits out (the mean over the same test-time
    views as the served program). Logits rather than probabilities: a confident softmax saturates, so
    gradients there say little (gradient x input of a 0.999 probability is ~0)."""

    def __init__(self, classifier: nn.Module, test_time_flip: bool) -> None:
        super().__init__()
        self.classifier = classifier
        self.test_time_flip = test_time_flip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.classifier(x)
        if self.test_time_flip:
            logits = (logits + self.classifier(torch.flip(x, dims=(3,)))) / 2
        return logits


def export_explainer(classifier: nn.Module, path: Path, test_time_flip: bool) -> None:
    """Write the explanation program (`explain.pt2`): exported with autograd on, so the loaded module
    is differentiable with respect to its input (the served program is too, but outputs probabilities).
    Its input contract is the served program's: one explanation per row, the batch dynamic."""
    weights = copy.deepcopy(classifier).to("cpu", memory_format=torch.contiguous_format)
    model = ExplainedImageClassifier(weights, test_time_flip).eval()
    size = classifier.config.image_size
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(model, (torch.rand(2, 3, size, size),), dynamic_shapes={"x": {0: batch}})
    torch.export.save(program, str(path))


def load_exported(path: Path) -> nn.Module:
    return torch.export.load(str(path)).module()
