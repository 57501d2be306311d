"""The contract between the two containers: what training writes, serving reads the same way.

The only tests allowed to import both packages (docs/architecture.md walls): decoding parity for WAV files and
images, and artifacts from real training runs loaded by the server's loader with equal predictions.
"""

import io

import numpy as np
import pytest
from inference.artifact import ImageInput, load_manifest
from inference.audio import decode_wav
from inference.decoding import FEATURES, IMAGE, WAVEFORM, image_bytes_to_input
from inference.models import load_predictor
from PIL import Image
from training.data.audio import load_waveform
from training.data.images import _load_image

from tests.helpers.opt_ml import make_opt_ml, train_in_process, train_sample_model
from tests.helpers.synthetic import (
    image,
    sample_pixels,
    sample_tones,
    tone,
    write_wav,
)


@pytest.mark.parametrize(
    "rate, dtype, channels, seconds",
    [
        (8000, "int16", 1, 0.6),
        (44100, "int16", 2, 1.3),
        (22050, "uint8", 1, 0.9),
        (16000, "float32", 2, 2.0),
        (11025, "int16", 1, 0.2),
    ],
)
def test_wav_files_decode_identically_on_both_sides(tmp_path, rate, dtype, channels, seconds):
    path = write_wav(
        tmp_path / "clip.wav", tone(700.0, np.random.default_rng(rate), rate, seconds), rate, dtype, channels
    )
    training_side = load_waveform(path, 8000, 8000)
    serving_side = decode_wav(path.read_bytes(), 8000, 8000)
    assert serving_side.dtype == training_side.dtype == np.float32
    np.testing.assert_array_equal(serving_side, training_side)


@pytest.mark.parametrize("size, mode, fmt", [(32, "RGB", "PNG"), (48, "L", "JPEG"), (20, "RGBA", "PNG")])
def test_images_decode_identically_on_both_sides(tmp_path, size, mode, fmt):
    pixels = image(1, np.random.default_rng(size), size)
    picture = Image.fromarray(pixels).convert(mode)
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt)
    path = tmp_path / f"x.{fmt.lower()}"
    path.write_bytes(buffer.getvalue())
    training_side = _load_image(path, 32).transpose(2, 0, 1).astype(np.float32) / 255.0
    serving_side = image_bytes_to_input(buffer.getvalue(), ImageInput(height=32, width=32))
    np.testing.assert_allclose(serving_side, training_side, atol=1e-7)


@pytest.mark.slow
def test_a_trained_cnn_artifact_serves_the_probabilities_training_measured(tmp_path, monkeypatch):
    from training.cnn_training import predict_with_artifact

    tree = train_sample_model(tmp_path, monkeypatch, "cnn", epochs=2)
    manifest = load_manifest(tree.model_dir)
    pixels = sample_pixels()
    served = load_predictor(manifest, threads=1)(IMAGE, pixels.astype(np.float32) / 255.0)
    np.testing.assert_allclose(served, predict_with_artifact(tree.model_dir / "model.pt2", pixels), atol=1e-5)


@pytest.mark.slow
def test_a_trained_mlp_artifact_serves_the_probabilities_training_measured(tmp_path, monkeypatch):
    from training.mlp_training import predict_with_artifact

    tree = train_sample_model(tmp_path, monkeypatch, "mlp", epochs=2)
    manifest = load_manifest(tree.model_dir)
    predictor = load_predictor(manifest, threads=1)
    waves = sample_tones()
    expected = predict_with_artifact(tree.model_dir / "saved_model", waves)
    np.testing.assert_allclose(predictor(WAVEFORM, waves), expected, atol=1e-5)


@pytest.mark.slow
def test_an_mlp_trained_on_npz_features_serves_features(tmp_path, monkeypatch):
    from training.mlp_training import predict_with_artifact

    tree = make_opt_ml(tmp_path, {"model": "mlp", "epochs": "2", "batch_size": "8"})
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 12)
    features = (rng.normal(size=(24, 40, 13)) + labels[:, None, None]).astype(np.float32)
    np.savez(tree.channel("train") / "mfcc.npz", features=features, labels=labels)
    train_in_process(tree, monkeypatch)
    manifest = load_manifest(tree.model_dir)
    assert manifest.input.waveform_signature is None and manifest.input.sample_rate is None
    served = load_predictor(manifest, threads=1)(FEATURES, features[:4])
    np.testing.assert_allclose(served, predict_with_artifact(tree.model_dir / "saved_model", features[:4]), atol=1e-5)
