"""Manifests for the unit tests of the serving package (sample bodies: inference_fixtures)."""

from __future__ import annotations

from pathlib import Path

from inference.artifact import AudioInput, Manifest


def audio_manifest_for(waveform: bool = True) -> Manifest:
    spec = AudioInput(
        sample_rate=8000,
        num_samples=800,
        feature_shape=(5, 4),
        waveform_signature="serve" if waveform else None,
        features_signature="serve_features",
    )
    return Manifest(
        name="mlp",
        framework="tensorflow",
        task="audio_classification",
        model_path=Path("saved_model"),
        class_names=("x", "y"),
        input=spec,
        raw={},
    )
