"""Real-size model artifacts and real request bodies for the serving benchmark.

Run in a subprocess with `training/` on the path (the benchmark's own process imports no framework):

    python -m benchmarks.serve_artifacts OUT_DIR

writes `OUT_DIR/cnn` (an untrained `ImageClassifier` of the training default width and image size,
through `export_cnn`, with the training default `test_time_flip=True`), `OUT_DIR/mlp` (the default
`build_classifier` behind `build_waveform_model`, through `export_mlp`), each with a
docs/contracts.md manifest written by the training package's own `write_manifest`, and the bodies
`OUT_DIR/image.png` (32x32 RGB) and `OUT_DIR/audio.wav` (one second, 8 kHz, 16-bit mono).
Untrained weights cost the same per forward pass as trained ones.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
DIGITS = [str(d) for d in range(10)]


def png_bytes(size: int = 32, seed: int = 0) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    base = np.stack([x * 255 / size, y * 255 / size, (x + y) * 127 / size], axis=-1)
    pixels = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def wav_bytes(sample_rate: int = 8000, seconds: float = 1.0, seed: int = 0) -> bytes:
    from scipy.io import wavfile

    rng = np.random.default_rng(seed)
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    signal = 0.4 * np.sin(2 * np.pi * 440 * t) * np.exp(-2 * t) + 0.02 * rng.normal(size=t.shape)
    buffer = io.BytesIO()
    wavfile.write(buffer, sample_rate, (signal * 32767).astype(np.int16))
    return buffer.getvalue()


def build_cnn(model_dir: Path) -> Path:
    import torch
    from training.artifact import Manifest, image_input, write_manifest
    from training.hyperparameters import parse_hyperparameters
    from training.models.cnn import CNNConfig, ImageClassifier, export_cnn, export_explainer
    from training.recipe import with_default_recipe

    torch.manual_seed(0)
    recipe = with_default_recipe(parse_hyperparameters({"model": "cnn"}))  # the width trained without a budget
    config = CNNConfig(num_classes=10, image_size=recipe.image_size, width=recipe.width)
    model_dir.mkdir(parents=True, exist_ok=True)
    classifier = ImageClassifier(config).eval()
    export_cnn(classifier, model_dir / "model.pt2", test_time_flip=True)
    export_explainer(classifier, model_dir / "explain.pt2", test_time_flip=True)
    write_manifest(
        model_dir,
        Manifest(
            name="cnn",
            framework="pytorch",
            framework_version=torch.__version__.split("+")[0],
            task="image_classification",
            model_file="model.pt2",
            class_names=CIFAR_CLASSES,
            input=image_input(config.image_size, config.mean, config.std),
            metrics={"split": "none", "note": "untrained weights, for the serving benchmark"},
            hyperparameters={"model": "cnn", "width": 32, "image_size": 32, "test_time_flip": True},
            explanation={"model_file": "explain.pt2", "output": "logits"},
        ),
    )
    return model_dir


def build_mlp(
    model_dir: Path,
    *,
    seed: int = 0,
    hyperparameters: dict[str, str] | None = None,
    class_names: list[str] = DIGITS,
    name: str = "mlp",
) -> Path:
    """The MLP of the default hyperparameters (`hyperparameters` over them), untrained and seeded, behind
    its MFCC front end, exported by training's own `export_artifact`."""
    import keras
    import tensorflow as tf
    from training.artifact import Manifest, write_manifest
    from training.hyperparameters import parse_hyperparameters
    from training.mlp_training import MODEL_DIR_NAME, export_artifact
    from training.models.mlp import MFCCConfig, MLPConfig, build_classifier

    keras.utils.set_random_seed(seed)
    hp = parse_hyperparameters({"model": "mlp", **(hyperparameters or {})})  # the defaults' one home
    mfcc = MFCCConfig.from_hyperparameters(hp)
    config = MLPConfig.from_hyperparameters(hp, len(class_names), (mfcc.num_frames, mfcc.num_mfcc))
    model_dir.mkdir(parents=True, exist_ok=True)
    contract, explanation = export_artifact(
        build_classifier(config), config.feature_shape, mfcc, model_dir / MODEL_DIR_NAME
    )
    write_manifest(
        model_dir,
        Manifest(
            name=name,
            framework="tensorflow",
            framework_version=tf.__version__,
            task="audio_classification",
            model_file=MODEL_DIR_NAME,
            class_names=class_names,
            input=contract,
            metrics={"split": "none", "note": "untrained weights, for the serving benchmark"},
            hyperparameters={
                "model": "mlp",
                "hidden_units": config.hidden_units,
                "hidden_layers": config.hidden_layers,
            },
            explanation=explanation,
        ),
    )
    return model_dir


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "image.png").write_bytes(png_bytes())
    (out / "audio.wav").write_bytes(wav_bytes())
    build_cnn(out / "cnn")
    build_mlp(out / "mlp")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
