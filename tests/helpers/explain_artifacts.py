"""Artifacts with an explanation path, written by the training package's own export functions, and a
synthetic CNN whose class evidence sits in one patch (for the sanity checks)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from training.artifact import image_input

from tests.helpers.inference_fixtures import (
    AUDIO_CLASSES,
    IMAGE_CLASSES,
    IMAGE_SIZE,
    MFCC,
    NUM_SAMPLES,
    SAMPLE_RATE,
    _write_manifest,
)

PATCH = (slice(4, 12), slice(18, 26))  # rows, columns of the synthetic model's evidence


def _cnn_manifest(model_dir: Path, name: str, classes: list[str]) -> None:
    import torch

    _write_manifest(
        model_dir,
        name=name,
        framework="pytorch",
        framework_version=torch.__version__.split("+")[0],
        task="image_classification",
        model_file="model.pt2",
        class_names=classes,
        input=image_input(IMAGE_SIZE),
        hyperparameters={"model": "cnn"},
        explanation={"model_file": "explain.pt2", "output": "logits"},
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
    """The project's MLP (untrained, seeded) with the MFCC featurizer, exported as training does."""
    import keras
    import tensorflow as tf
    from training.hyperparameters import parse_hyperparameters
    from training.models.mlp import (
        MFCCConfig,
        MLPConfig,
        build_classifier,
        build_waveform_model,
        explanation_contract,
        export_mlp,
    )

    keras.utils.set_random_seed(seed)
    mfcc = MFCCConfig(
        sample_rate=SAMPLE_RATE,
        num_samples=NUM_SAMPLES,
        **{
            k: MFCC[k]
            for k in ("frame_length", "frame_step", "fft_length", "num_mel_bins", "lower_hz", "upper_hz", "num_mfcc")
        },
    )
    hp = parse_hyperparameters({"model": "mlp", "hidden_units": "32", "hidden_layers": "1"})
    config = MLPConfig.from_hyperparameters(hp, len(AUDIO_CLASSES), (mfcc.num_frames, mfcc.num_mfcc))
    classifier = build_classifier(config)
    waveform_model = build_waveform_model(classifier, mfcc)
    model_dir.mkdir(parents=True, exist_ok=True)
    signatures = export_mlp(
        classifier, waveform_model, model_dir / "saved_model", config.feature_shape, mfcc.num_samples
    )
    _write_manifest(
        model_dir,
        name="mlp-explained",
        framework="tensorflow",
        framework_version=tf.__version__,
        task="audio_classification",
        model_file="saved_model",
        class_names=AUDIO_CLASSES,
        input={
            "kind": "audio",
            "features_in_model": True,
            "feature_shape": list(config.feature_shape),
            "signatures": signatures,
            "sample_rate": SAMPLE_RATE,
            "num_samples": NUM_SAMPLES,
            "clip_seconds": NUM_SAMPLES / SAMPLE_RATE,
            "mfcc": mfcc.as_dict(),
        },
        hyperparameters={"model": "mlp"},
        explanation=explanation_contract(True),
    )
    return model_dir


def read_manifest(model_dir: Path) -> dict:
    return json.loads((model_dir / "manifest.json").read_text())
