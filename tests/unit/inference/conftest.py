"""Manifests for decoding tests (no model file needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from inference.artifact import ImageInput, Manifest

sys.path.insert(0, str(Path(__file__).parent))  # inference_unit_helpers, whatever the import mode


@pytest.fixture
def image_manifest() -> Manifest:
    return Manifest(
        name="cnn",
        framework="pytorch",
        task="image_classification",
        model_path=Path("model.pt2"),
        class_names=("a", "b", "c"),
        input=ImageInput(height=8, width=6),
        raw={},
    )


@pytest.fixture
def audio_manifest() -> Manifest:
    from inference_unit_helpers import audio_manifest_for

    return audio_manifest_for()
