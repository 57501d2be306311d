"""The model artifact's `manifest.json` (schema in docs/contracts.md)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Manifest:
    name: str
    framework: str
    framework_version: str
    task: str
    model_file: str
    class_names: list[str]
    input: dict[str, Any]
    metrics: dict[str, Any]
    hyperparameters: dict[str, Any]
    # The differentiable path for explanations (docs/contracts.md); None: an artifact without one.
    explanation: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "framework": self.framework,
            "framework_version": self.framework_version,
            "task": self.task,
            "model_file": self.model_file,
            "class_names": self.class_names,
            "input": self.input,
            "output": {"kind": "probabilities"},
            "metrics": self.metrics,
            "hyperparameters": self.hyperparameters,
            **({"explanation": self.explanation} if self.explanation else {}),
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def image_input(
    size: int, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
) -> dict[str, object]:
    """The image model's `input` block (docs/contracts.md): RGB pixels resized to `size` x `size` (bilinear),
    scaled to [0, 1], NCHW float32; the model normalises them itself, with `mean` and `std` when given.
    The one home of that block: training writes it, and the benchmark's and the tests' artifacts too."""
    return {
        "kind": "image",
        "height": size,
        "width": size,
        "channels": 3,
        "color_mode": "RGB",
        "resize": "bilinear",
        "scale": 1 / 255,
        **({"mean": list(mean)} if mean is not None else {}),
        **({"std": list(std)} if std is not None else {}),
        "normalization_in_model": True,
        "layout": "NCHW",
        "dtype": "float32",
    }


class WaveformFrontEnd(Protocol):
    """What the audio `input` block reads of a model's MFCC front end (`models.mlp.MFCCConfig`)."""

    @property
    def sample_rate(self) -> int: ...

    @property
    def num_samples(self) -> int: ...

    def as_dict(self) -> dict[str, float]: ...


def audio_input(
    feature_shape: Sequence[int], signatures: dict[str, str], waveform: WaveformFrontEnd | None
) -> dict[str, object]:
    """The audio model's `input` block (docs/contracts.md): MFCC features of `feature_shape` through the
    SavedModel's `signatures`; with `waveform` (the front end inside the model) also the waveform it takes
    and how it computes the MFCCs. None: a features-only model, which has no waveform contract. The one
    home of that block: training writes it, and the benchmark's and the tests' artifacts too."""
    block: dict[str, object] = {
        "kind": "audio",
        "features_in_model": waveform is not None,
        "feature_shape": list(feature_shape),
        "signatures": dict(signatures),
    }
    if waveform is not None:
        block.update(
            sample_rate=waveform.sample_rate,
            num_samples=waveform.num_samples,
            clip_seconds=waveform.num_samples / waveform.sample_rate,
            mfcc=waveform.as_dict(),
        )
    return block


def write_manifest(model_dir: Path, manifest: Manifest) -> Path:
    path = model_dir / MANIFEST
    path.write_text(json.dumps(manifest.as_dict(), indent=2) + "\n")
    return path
