"""Sample request bodies, and tiny model artifacts written as docs/contracts.md fixes them.

- `build_cnn_artifact`: a small torch CNN wrapped with normalisation and softmax, exported with
  `torch.export.export(..., dynamic_shapes=...)` and saved with `torch.export.save` as `model.pt2`.
- `build_mlp_artifact`: a small Keras 3 MLP on MFCC features; the SavedModel, written by
  `keras.export.ExportArchive`, has the endpoints `serve` (waveform, MFCC via tf.signal inside) and
  `serve_features`.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from training.artifact import audio_input, image_input

IMAGE_CLASSES = ["airplane", "bird", "cat", "dog"]
AUDIO_CLASSES = ["zero", "one", "two"]
IMAGE_SIZE = 32
SAMPLE_RATE = 8000
NUM_SAMPLES = 8000
MFCC = {
    "frame_length": 256,
    "frame_step": 128,
    "fft_length": 256,
    "num_mel_bins": 40,
    "lower_hz": 20.0,
    "upper_hz": 4000.0,
    "num_mfcc": 20,
}
FEATURE_SHAPE = [1 + (NUM_SAMPLES - MFCC["frame_length"]) // MFCC["frame_step"], MFCC["num_mfcc"]]


@dataclass(frozen=True)
class FrontEnd:
    """The fixtures' waveform front end, as `training.artifact.audio_input` reads one."""

    sample_rate: int = SAMPLE_RATE
    num_samples: int = NUM_SAMPLES

    def as_dict(self) -> dict[str, float]:
        return dict(MFCC)


def _write_manifest(model_dir: Path, **fields: object) -> None:
    manifest = {
        "schema_version": 1,
        "output": {"kind": "probabilities"},
        "metrics": {"accuracy": 0.5, "macro_f1": 0.5, "split": "validation"},
        "created_at": "2026-11-28T11:00:00Z",
        **fields,
    }
    (model_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))


def write_cnn_manifest(model_dir: Path, name: str, class_names: list[str], input: dict, **fields: object) -> None:
    """The manifest of a torch image classifier saved as `model.pt2`."""
    import torch

    _write_manifest(
        model_dir,
        name=name,
        framework="pytorch",
        framework_version=torch.__version__.split("+")[0],
        task="image_classification",
        model_file="model.pt2",
        class_names=class_names,
        input=input,
        **fields,
    )


def build_cnn_artifact(model_dir: Path, seed: int = 0) -> Path:
    import torch
    from torch import nn

    torch.manual_seed(seed)
    mean, std = [0.4914, 0.4822, 0.4465], [0.247, 0.2435, 0.2616]

    class Served(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
            self.features = nn.Sequential(
                nn.Conv2d(3, 8, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(8, 16, 3, padding=1),
                nn.ReLU(),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
            )
            self.head = nn.Linear(16, len(IMAGE_CLASSES))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            logits = self.head(self.features((x - self.mean) / self.std))
            return torch.softmax(logits * 4.0, dim=1)

    model = Served().eval()
    batch = torch.export.Dim("batch", min=1, max=1024)
    example = (torch.rand(2, 3, IMAGE_SIZE, IMAGE_SIZE),)
    program = torch.export.export(model, example, dynamic_shapes=({0: batch},))
    model_dir.mkdir(parents=True, exist_ok=True)
    torch.export.save(program, str(model_dir / "model.pt2"))
    write_cnn_manifest(
        model_dir,
        "cnn",
        IMAGE_CLASSES,
        image_input(IMAGE_SIZE, mean, std),
        hyperparameters={"model": "cnn", "epochs": 1},
    )
    return model_dir


def build_mlp_artifact(model_dir: Path, seed: int = 0, features_in_model: bool = True) -> Path:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input(shape=tuple(FEATURE_SHAPE)),
            keras.layers.Flatten(),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(len(AUDIO_CLASSES), activation="softmax"),
        ]
    )
    mel = tf.signal.linear_to_mel_weight_matrix(
        MFCC["num_mel_bins"], MFCC["fft_length"] // 2 + 1, SAMPLE_RATE, MFCC["lower_hz"], MFCC["upper_hz"]
    )

    def mfcc(waveform: tf.Tensor) -> tf.Tensor:
        stft = tf.signal.stft(waveform, MFCC["frame_length"], MFCC["frame_step"], MFCC["fft_length"])
        log_mel = tf.math.log(tf.tensordot(tf.abs(stft), mel, 1) + 1e-6)
        return tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[..., : MFCC["num_mfcc"]]

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serve_features",
        fn=lambda features: model(features, training=False),
        input_signature=[tf.TensorSpec((None, *FEATURE_SHAPE), tf.float32)],
    )
    signatures = {"features": "serve_features"}
    if features_in_model:
        archive.add_endpoint(
            name="serve",
            fn=lambda waveform: model(mfcc(waveform), training=False),
            input_signature=[tf.TensorSpec((None, NUM_SAMPLES), tf.float32)],
        )
        signatures["waveform"] = "serve"
    model_dir.mkdir(parents=True, exist_ok=True)
    archive.write_out(str(model_dir / "saved_model"), verbose=False)
    _write_manifest(
        model_dir,
        name="mlp",
        framework="tensorflow",
        framework_version=tf.__version__,
        task="audio_classification",
        model_file="saved_model",
        class_names=AUDIO_CLASSES,
        # A features-only model (trained on .npz MFCCs) has no waveform contract (docs/contracts.md).
        input=audio_input(FEATURE_SHAPE, signatures, FrontEnd() if features_in_model else None),
        hyperparameters={"model": "mlp", "epochs": 1},
    )
    return model_dir


# --- sample bodies ------------------------------------------------------------------------------


def png_bytes(pixels: np.ndarray, fmt: str = "PNG") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    from scipy.io import wavfile

    buffer = io.BytesIO()
    wavfile.write(buffer, rate, samples)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def random_pixels(seed: int, height: int = 32, width: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def tone(hz: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)
