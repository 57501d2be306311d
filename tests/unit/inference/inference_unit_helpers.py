"""Sample bodies and manifests for the unit tests of the serving package."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
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


def encode_image(pixels: np.ndarray, fmt: str = "PNG") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    return buffer.getvalue()


def encode_npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def encode_wav(samples: np.ndarray, rate: int) -> bytes:
    from scipy.io import wavfile

    buffer = io.BytesIO()
    wavfile.write(buffer, rate, samples)
    return buffer.getvalue()
