"""Manifests for decoding tests (no model file needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from inference.artifact import ImageInput, Manifest


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
    from tests.helpers.inference_unit import audio_manifest_for

    return audio_manifest_for()
