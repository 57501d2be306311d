"""manifest.json is read and checked; a broken artifact gets a message that names the problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from inference.artifact import AudioInput, ImageInput, load_manifest
from inference.errors import ArtifactError

IMAGE = {
    "schema_version": 1,
    "name": "cnn",
    "framework": "pytorch",
    "task": "image_classification",
    "model_file": "model.pt2",
    "class_names": ["a", "b"],
    "input": {"kind": "image", "height": 32, "width": 32, "channels": 3},
}
AUDIO = {
    "schema_version": 1,
    "name": "mlp",
    "framework": "tensorflow",
    "task": "audio_classification",
    "model_file": "saved_model",
    "class_names": ["x", "y", "z"],
    "input": {
        "kind": "audio",
        "sample_rate": 8000,
        "num_samples": 8000,
        "features_in_model": True,
        "feature_shape": [61, 20],
        "signatures": {"waveform": "serve", "features": "serve_features"},
    },
}


def write(tmp_path: Path, manifest: dict) -> Path:
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "model.pt2").write_bytes(b"")
    (tmp_path / "saved_model").mkdir(exist_ok=True)
    return tmp_path


def test_image_and_audio_manifests(tmp_path):
    image = load_manifest(write(tmp_path, IMAGE))
    assert image.is_image and image.input == ImageInput(32, 32) and image.class_names == ("a", "b")
    audio = load_manifest(write(tmp_path, AUDIO))
    assert audio.input == AudioInput(8000, 8000, (61, 20), "serve", "serve_features")
    features_only = {
        **AUDIO,
        "input": {**AUDIO["input"], "features_in_model": False, "signatures": {"features": "serve_features"}},
    }
    assert load_manifest(write(tmp_path, features_only)).input.waveform_signature is None


@pytest.mark.parametrize(
    "change,words",
    [
        ({"schema_version": 2}, "schema_version 2"),
        ({"framework": "jax"}, "framework 'jax'"),
        ({"task": "detection"}, "task 'detection'"),
        ({"class_names": []}, "class_names"),
        ({"model_file": "missing.pt2"}, "missing.pt2"),
        ({"input": {"height": "32", "width": 32}}, "input.height"),
        ({"input": {"width": 32}}, "input.height is missing"),
    ],
)
def test_broken_manifests(tmp_path, change, words):
    with pytest.raises(ArtifactError, match=words):
        load_manifest(write(tmp_path, {**IMAGE, **change}))


def test_missing_or_unreadable_manifest(tmp_path):
    with pytest.raises(ArtifactError, match="not found"):
        load_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(ArtifactError, match="cannot be read"):
        load_manifest(tmp_path)
